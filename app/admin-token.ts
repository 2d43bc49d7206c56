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
