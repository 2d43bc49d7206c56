import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * Secrets are stored as `scrypt$N$r$p$salt$hash` (base64url). Meters and workers' device secrets use a
 * lower work factor than people's passwords: device secrets should be long random strings, and a broker
 * must survive thousands of meters reconnecting at once.
 */
export const SCRYPT_COST = { device: 1 << 10, person: 1 << 14 } as const;
const KEY_LENGTH = 32;

function scryptAsync(secret: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashSecret(secret: string, N: number = SCRYPT_COST.device): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, N, 8, 1);
  return `scrypt$${N}$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  try {
    const key = await scryptAsync(secret, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p));
    return key.length === expected.length && timingSafeEqual(key, expected);
  } catch {
    return false; // a corrupt stored hash never authenticates
  }
}

/**
 * A stored-format hash of a random secret nobody knows: checking a password for an id that does not exist
 * against it costs the same scrypt as checking a real one, so refusal times do not tell which ids exist.
 */
export function dummyHash(N: number = SCRYPT_COST.device): string {
  const salt = randomBytes(16);
  const key = scryptSync(randomBytes(32).toString('base64url'), salt, KEY_LENGTH, {
    N,
    r: 8,
    p: 1,
    maxmem: 256 * N * 8 + 1024 * 1024,
  });
  return `scrypt$${N}$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}
