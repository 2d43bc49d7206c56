import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private PostgreSQL (Debian package `postgresql`) for one test: its own data directory in a fresh temp dir,
 * listening only on 127.0.0.1 on a free port, its unix socket in that dir, stopped and removed by `dispose()`.
 */
export const PG_BIN_DIR = process.env.PG_BIN_DIR ?? findPgBinDir();
export const SKIP_POSTGRES = !PG_BIN_DIR && process.env.CI !== 'true';
if (SKIP_POSTGRES)
  console.warn(
    'careflow: skipping the PostgreSQL tests: no PostgreSQL server found (apt-get install -y postgresql)',
  );

export interface Postgres {
  /** postgres://careflow@127.0.0.1:port/database — no password: the server trusts loopback connections. */
  readonly url: string;
  readonly port: number;
  readonly database: string;
  /** The temp dir holding the data directory, the unix socket and the server log. */
  readonly dir: string;
  /** Makes another empty database on the same server and returns its URL (one server, many isolated tests). */
  createDatabase(name: string): Promise<string>;
  dispose(): Promise<void>;
}

function findPgBinDir(): string | undefined {
  for (const version of ['17', '16', '15', '14', '13']) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb'))) return dir;
  }
  return undefined;
}

const USER = 'careflow';

/** Starts a private PostgreSQL with one empty database `database` owned by the `careflow` role. */
export async function startPostgres(database = 'careflow'): Promise<Postgres> {
  if (!PG_BIN_DIR)
    throw new Error(
      'PostgreSQL is not installed: no initdb/postgres under /usr/lib/postgresql/*/bin ' +
        '(apt-get install -y postgresql, or set PG_BIN_DIR)',
    );
  const bin = (name: string) => join(PG_BIN_DIR!, name);
  const root = mkdtempSync(join(tmpdir(), 'careflow-pg-'));
  const data = join(root, 'data');
  // initdb and postgres refuse to run as root: as root they run as the `postgres` system user, who owns the dir.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? pgSystemUser() : undefined;
  if (owner) chownSync(root, owner.uid, owner.gid);
  chmodSync(root, 0o700);
  // The temp dir is the working directory: the `postgres` user may not be able to read the caller's.
  const run = (file: string, args: string[]) =>
    owner ? exec('runuser', ['-u', 'postgres', '--', file, ...args], root) : exec(file, args, root);

  try {
    await run(bin('initdb'), [
      '-D',
      data,
      '-U',
      USER,
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(e as Error).message}`, { cause: e });
  }
  const port = await freePort();
  const conf = [
    `listen_addresses = '127.0.0.1'`,
    `port = ${port}`,
    `unix_socket_directories = '${root}'`,
    // A test database: durability across a machine crash is not what the tests measure.
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
    'max_connections = 100',
    'shared_buffers = 32MB',
    `log_destination = 'stderr'`,
    'logging_collector = off',
    '',
  ].join('\n');
  writeFileSync(join(data, 'postgresql.auto.conf'), conf);
  if (owner) chownSync(join(data, 'postgresql.auto.conf'), owner.uid, owner.gid);
  const log = join(root, 'server.log');
  const stop = () => run(bin('pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w']).catch(() => undefined);
  try {
    await run(bin('pg_ctl'), ['start', '-D', data, '-l', log, '-w', '-t', '30']);
    await run(bin('createdb'), ['-h', root, '-p', String(port), '-U', USER, database]);
  } catch (e) {
    await stop();
    rmSync(root, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start: ${(e as Error).message}`, { cause: e });
  }
  const urlOf = (db: string) => `postgres://${USER}@127.0.0.1:${port}/${db}`;
  let disposed = false;
  return {
    url: urlOf(database),
    port,
    database,
    dir: root,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a simple database name: ${name}`);
      await run(bin('createdb'), ['-h', root, '-p', String(port), '-U', USER, name]);
      return urlOf(name);
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function pgSystemUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execSync('id', ['-u', 'postgres']));
    const gid = Number(execSync('id', ['-g', 'postgres']));
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
  } catch {
    /* fall through */
  }
  throw new Error(
    'running as root, PostgreSQL needs the `postgres` system user (installed with the postgresql package)',
  );
}

function execSync(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8' }).trim();
}

function exec(file: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: 60_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${String(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
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
