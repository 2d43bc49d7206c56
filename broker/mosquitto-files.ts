import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Mosquitto 2's password and ACL files from careflow's registry, for the attached-broker mode. careflow keeps
 * only scrypt hashes of device secrets, so passwords are written when they are known: at `careflow import` (the
 * registry file holds them). The ACL is rewritten from the whole registry each time. Mosquitto reads both at start
 * and on SIGHUP.
 */

/** Mosquitto's `$7$` password hash: PBKDF2-SHA512, 101 iterations, a 12-byte salt, as `mosquitto_passwd` writes. */
export function mosquittoPasswordHash(password: string, salt: Buffer = randomBytes(12)): string {
  const hash = pbkdf2Sync(password, salt, 101, 64, 'sha512');
  return `$7$101$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export interface MosquittoDevices {
  /** Active meters: each may write its own readings and read its own errors. */
  meters: string[];
  /** Grid workers' apps: each may read its own alerts and errors and write acknowledgements under its own id. */
  workers: string[];
}

export interface MosquittoFilesInput {
  devices: MosquittoDevices;
  /** Plaintext secrets known now (from the registry file being imported), by device id. */
  secrets: Map<string, string>;
  /** careflow's own login at the broker (`mqtt.username`, `mqtt.password`). */
  careflow?: { username: string; password: string };
}

/** The ACL text: careflow's user, then one block per device. */
export function mosquittoAcl(devices: MosquittoDevices, careflowUser?: string): string {
  const lines = ['# Written by careflow import from the registry: do not edit, it is rewritten.', ''];
  if (careflowUser) {
    lines.push(`user ${careflowUser}`, 'topic read meters/+/readings', 'topic write meters/+/errors');
    lines.push(
      'topic write workers/+/alerts',
      'topic write workers/+/errors',
      'topic read workers/+/alerts/+/ack',
      'topic read workers/+/received',
      '',
    );
  }
  for (const id of devices.meters) {
    lines.push(`user ${id}`, `topic write meters/${id}/readings`, `topic read meters/${id}/errors`, '');
  }
  for (const id of devices.workers) {
    lines.push(
      `user ${id}`,
      `topic read workers/${id}/alerts`,
      `topic read workers/${id}/errors`,
      `topic write workers/${id}/alerts/+/ack`,
      `topic write workers/${id}/received`,
      '',
    );
  }
  return lines.join('\n');
}

/**
 * Writes `passwords` and `acl` into `dir`: passwords of the devices whose secret is known now are (re)hashed,
 * those already in the file for current devices are kept, devices no longer registered (a retired meter) are
 * dropped. Returns how many entries each file has.
 */
export function writeMosquittoFiles(
  dir: string,
  input: MosquittoFilesInput,
): { users: number; aclUsers: number } {
  mkdirSync(dir, { recursive: true });
  const passwordFile = join(dir, 'passwords');
  const current = new Set([...input.devices.meters, ...input.devices.workers]);
  if (input.careflow) current.add(input.careflow.username);
  const entries = new Map<string, string>();
  if (existsSync(passwordFile)) {
    for (const line of readFileSync(passwordFile, 'utf8').split('\n')) {
      const at = line.indexOf(':');
      if (at > 0) entries.set(line.slice(0, at), line.slice(at + 1));
    }
  }
  for (const [id, secret] of input.secrets) entries.set(id, mosquittoPasswordHash(secret));
  if (input.careflow) entries.set(input.careflow.username, mosquittoPasswordHash(input.careflow.password));
  const users = [...entries].filter(([id]) => current.has(id) && !/[:\s]/.test(id));
  replace(passwordFile, users.map(([id, hash]) => `${id}:${hash}\n`).join(''));
  replace(join(dir, 'acl'), mosquittoAcl(input.devices, input.careflow?.username));
  return { users: users.length, aclUsers: current.size };
}

/** Written beside, then renamed: Mosquitto never reads half a file. Owner-only: the hashes are secrets too. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
