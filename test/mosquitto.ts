import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real Mosquitto 2 (Debian package `mosquitto`) on a free loopback port, with careflow's password and ACL files. */
export const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';
export const SKIP_MOSQUITTO = !existsSync(MOSQUITTO_BIN) && process.env.CI !== 'true';
if (SKIP_MOSQUITTO)
  console.warn(
    `careflow: skipping the attached-broker tests: no Mosquitto at ${MOSQUITTO_BIN} (apt-get install -y mosquitto)`,
  );

export interface Mosquitto {
  readonly url: string;
  readonly port: number;
  /** Makes Mosquitto read its password and ACL files again. */
  reload(): void;
  dispose(): Promise<void>;
}

/**
 * Starts Mosquitto with `dir/passwords` and `dir/acl` (written by `careflow import --mosquitto-dir dir`), or with
 * the configuration `configure(port, workDir)` returns.
 */
export async function startMosquitto(
  dir: string,
  configure?: (port: number, work: string) => string,
): Promise<Mosquitto> {
  const port = await freePort();
  const work = mkdtempSync(join(tmpdir(), 'careflow-mosquitto-'));
  const conf = join(work, 'mosquitto.conf');
  writeFileSync(
    conf,
    configure?.(port, work) ??
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous false',
        `password_file ${join(dir, 'passwords')}`,
        `acl_file ${join(dir, 'acl')}`,
        'persistence false',
        'max_queued_messages 100000',
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        'log_dest stderr',
        'log_type error',
        '',
      ].join('\n'),
  );
  const proc: ChildProcess = spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const until = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (proc.exitCode !== null || Date.now() > until) throw new Error(`mosquitto did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    reload: () => proc.kill('SIGHUP'),
    async dispose() {
      proc.kill('SIGTERM');
      await exited;
      rmSync(work, { recursive: true, force: true });
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
