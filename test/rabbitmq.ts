import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * A private RabbitMQ node (Debian package `rabbitmq-server`, 3.10) for one test: its own node name, AMQP, MQTT,
 * distribution and epmd ports on 127.0.0.1, its own data, log, configuration and Erlang cookie in a temporary
 * directory, and the plugins careflow's cluster mode uses (MQTT, consistent-hash exchange, HTTP auth backend and
 * its cache).
 * When the test runs as root the node runs as the `rabbitmq` user, which owns that directory.
 */
export const RABBITMQ_DIR = process.env.RABBITMQ_SCRIPTS_DIR ?? '/usr/lib/rabbitmq/bin';
const SERVER = join(RABBITMQ_DIR, 'rabbitmq-server');
const CTL = join(RABBITMQ_DIR, 'rabbitmqctl');
export const SKIP_RABBITMQ = !existsSync(SERVER) && process.env.CI !== 'true';
if (SKIP_RABBITMQ)
  console.warn(
    `careflow: skipping the RabbitMQ tests: no RabbitMQ at ${SERVER} (apt-get install -y rabbitmq-server)`,
  );

export const RABBITMQ_PLUGINS = [
  'rabbitmq_mqtt',
  'rabbitmq_consistent_hash_exchange',
  'rabbitmq_auth_backend_http',
  // Caches the HTTP backend's answers, so a reconnect storm does not become a storm of calls to careflow.
  'rabbitmq_auth_backend_cache',
] as const;

export interface RabbitMqOptions {
  /** Lines appended to rabbitmq.conf (for example the HTTP auth backend's URLs). */
  config?: string[];
  /** Milliseconds to wait for the node to accept AMQP and MQTT connections (default 60 s). */
  startTimeoutMs?: number;
  /** Internal: the how-many-th try (a port taken meanwhile by another process makes the harness try again). */
  attempt?: number;
}

export interface RabbitMq {
  readonly nodeName: string;
  readonly ports: { amqp: number; mqtt: number; dist: number; epmd: number };
  /** `amqp://careflow:<password>@127.0.0.1:<port>` — careflow's own user in RabbitMQ's internal database. */
  readonly amqpUrl: string;
  readonly mqttUrl: string;
  readonly user: { username: string; password: string };
  /** Runs `rabbitmqctl` against this node (as its user, with its cookie) and returns its standard output. */
  ctl(...args: string[]): string;
  /** The node's log so far (for a failing test's message). */
  log(): string;
  /** Stops the node (orderly, then by force after 20 s), its epmd, and removes its directory. Idempotent. */
  dispose(): Promise<void>;
}

export async function startRabbitMq(options: RabbitMqOptions = {}): Promise<RabbitMq> {
  if (!existsSync(SERVER))
    throw new Error(
      `RabbitMQ is not installed: ${SERVER} is missing (apt-get install -y rabbitmq-server, or set RABBITMQ_SCRIPTS_DIR)`,
    );
  const ports = {
    amqp: await freePort(),
    mqtt: await freePort(),
    dist: await freePort(),
    epmd: await freePort(),
  };
  const nodeName = `careflow-test-${ports.amqp}@localhost`;
  const user = { username: 'careflow', password: randomBytes(18).toString('base64url') };
  const dir = mkdtempSync(join(tmpdir(), 'careflow-rabbitmq-'));
  const owner = process.getuid?.() === 0 ? systemUser('rabbitmq') : null;
  for (const sub of ['mnesia', 'log']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'enabled_plugins'), `[${RABBITMQ_PLUGINS.join(',')}].\n`);
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '# this test node reads its settings from the environment\n');
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${ports.amqp}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${ports.mqtt}`,
      'mqtt.allow_anonymous = false',
      `default_user = ${user.username}`,
      `default_pass = ${user.password}`,
      'loopback_users = none',
      'log.console = false',
      'log.file.level = info',
      ...(options.config ?? []),
      '',
    ].join('\n'),
  );
  const cookie = join(dir, '.erlang.cookie');
  writeFileSync(cookie, randomBytes(24).toString('hex'));
  chmodSync(cookie, 0o400);
  if (owner) chownTree(dir, owner);

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: dir,
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_USE_LONGNAME: 'false',
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(ports.amqp),
    RABBITMQ_DIST_PORT: String(ports.dist),
    ERL_EPMD_PORT: String(ports.epmd),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: join(dir, 'plugins-expand'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const ids = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const proc: ChildProcess = spawn(SERVER, [], {
    env,
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...ids,
  });
  let output = '';
  const keep = (c: Buffer) => (output = (output + c.toString()).slice(-8000));
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const logFile = join(dir, 'log', `${nodeName}.log`);
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  let disposed = false;
  async function dispose(): Promise<void> {
    if (disposed) return;
    disposed = true;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
      if (!stopped) {
        killGroup(proc.pid, 'SIGKILL');
        await exited;
      }
    }
    // The node's own processes (erl_child_setup, inet_gethost) leave with it; epmd is a daemon of its own.
    spawnSync('epmd', ['-kill'], { env: { PATH: process.env.PATH, ERL_EPMD_PORT: String(ports.epmd) } });
    rmSync(dir, { recursive: true, force: true });
  }

  // Ready when its log says so (a port that merely answers might be another process's: the ports were free
  // when chosen, but the node takes many seconds to open them).
  const until = Date.now() + (options.startTimeoutMs ?? 60_000);
  const started = () => {
    const text = log();
    return (
      text.includes('Server startup complete') &&
      text.includes(`started TCP listener on 127.0.0.1:${ports.amqp}`) &&
      text.includes(`started MQTT TCP listener on 127.0.0.1:${ports.mqtt}`)
    );
  };
  while (!started()) {
    const died = proc.exitCode !== null || proc.signalCode !== null || /eaddrinuse/.test(log());
    if (died || Date.now() > until) {
      const why = `${output}\n${log().slice(-4000)}`;
      await dispose();
      if (/eaddrinuse/.test(why) && (options.attempt ?? 1) < 3)
        return startRabbitMq({ ...options, attempt: (options.attempt ?? 1) + 1 });
      throw new Error(`RabbitMQ node ${nodeName} did not start:\n${why}`);
    }
    await sleep(100);
  }

  return {
    nodeName,
    ports,
    user,
    amqpUrl: `amqp://${user.username}:${encodeURIComponent(user.password)}@127.0.0.1:${ports.amqp}`,
    mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
    ctl(...args: string[]): string {
      const r = spawnSync(CTL, ['-n', nodeName, ...args], { env, cwd: dir, encoding: 'utf8', ...ids });
      if (r.status !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
      return r.stdout;
    },
    log,
    dispose,
  };
}

function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line)
    throw new Error(`RabbitMQ runs as the '${name}' user when started by root, but there is no such user`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function chownTree(dir: string, owner: { uid: number; gid: number }): void {
  const r = spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
  if (r.status !== 0) chownSync(dir, owner.uid, owner.gid);
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * rabbitmq.conf lines that make RabbitMQ check MQTT clients against careflow's HTTP auth backend routes at
 * `base` (careflow's own user stays in the internal database), with answers cached for `cacheMs`.
 */
export function careflowAuthBackend(base: string, secret: string, cacheMs = 60_000): string[] {
  const { protocol, host } = new URL(base);
  const at = (route: string) =>
    `${protocol}//rabbitmq:${encodeURIComponent(secret)}@${host}/hooks/rabbitmq/${route}`;
  return [
    'auth_backends.1 = internal',
    'auth_backends.2 = cache',
    'auth_cache.cached_backend = http',
    `auth_cache.cache_ttl = ${cacheMs}`,
    'auth_http.http_method = post',
    `auth_http.user_path = ${at('user')}`,
    `auth_http.vhost_path = ${at('vhost')}`,
    `auth_http.resource_path = ${at('resource')}`,
    `auth_http.topic_path = ${at('topic')}`,
  ];
}
