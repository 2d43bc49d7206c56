import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The bootstrap admin token: from config when set; otherwise generated once and kept in
 * `<dataDir>/admin-token` (mode 0600) so that `npm start` works with no configuration.
 */
export function resolveAdminToken(
  dataDir: string,
  configured: string | undefined,
): { token: string; file: string | null } {
  if (configured) return { token: configured, file: null };
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) return { token, file };
  }
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return { token, file };
}

/** The key that signs session tokens: generated once into `<dataDir>/session-key` (0600), so sessions survive restarts. */
export function resolveSessionKey(dataDir: string): Buffer {
  const file = join(dataDir, 'session-key');
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length >= 32) return key;
  }
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64url') + '\n', { mode: 0o600 });
  return key;
}

/**
 * The key of the broker's fast secret verifiers (docs/security.md): generated once into
 * `<dataDir>/verifier-key` (0600), never stored in the database. Deleting the file invalidates every verifier
 * (each device's next CONNECT is checked with scrypt again).
 */
export function resolveVerifierKey(dataDir: string): Buffer {
  const file = join(dataDir, 'verifier-key');
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length >= 32) return key;
  }
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64url') + '\n', { mode: 0o600 });
  return key;
}
