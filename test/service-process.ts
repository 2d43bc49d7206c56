import { rmSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));

export interface ServiceProcess {
  proc: ChildProcess;
  mqttPort: number;
  httpPort: number;
  /** SIGKILL: no shutdown code runs. */
  kill(): Promise<void>;
  /** SIGTERM: orderly stop; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Runs `careflow <args>` as its own process with the test environment and `env`, and waits until its standard
 * error matches `ready` (the service's "running" line): the match, or an error naming what it wrote.
 */
async function spawnUntil(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  startTimeoutMs: number,
): Promise<{ proc: ChildProcess; match: RegExpExecArray; exited: Promise<number | null> }> {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: {
      ...process.env,
      CAREFLOW_HTTP_HOST: '127.0.0.1',
      CAREFLOW_HTTP_PORT: '0',
      CAREFLOW_ADMIN_TOKEN: 'process-admin-token-0123456789',
      CAREFLOW_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let stderr = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`careflow did not start: ${stderr}`)), startTimeoutMs);
    proc.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8000);
      const m = ready.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`careflow exited with ${code}: ${stderr}`));
    });
  });
  return { proc, match, exited };
}

/** Runs `careflow start` as its own process (system clock) on ephemeral loopback ports. */
export async function spawnService(
  dataDir: string,
  env: Record<string, string> = {},
  startTimeoutMs = 20_000,
): Promise<ServiceProcess> {
  // Embedded broker: its port; attached to an external broker (mqtt.url): 0.
  const { proc, match, exited } = await spawnUntil(
    ['start'],
    { CAREFLOW_DATA_DIR: dataDir, CAREFLOW_MQTT_HOST: '127.0.0.1', CAREFLOW_MQTT_PORT: '0', ...env },
    /MQTT (?:on port (\d+)|attached to [^,]+), HTTP on port (\d+)/,
    startTimeoutMs,
  );
  return {
    proc,
    mqttPort: Number(match[1] ?? 0),
    httpPort: Number(match[2]),
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** A cluster worker (`careflow start --cluster`) as its own process. */
export interface ClusterWorkerProcess {
  proc: ChildProcess;
  httpPort: number;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

/**
 * Runs `careflow start --cluster` on `dataDir` with the cluster's RabbitMQ and PostgreSQL URLs, its partition
 * count and (optionally) the partitions it prefers, and waits until it is running.
 */
export async function spawnClusterWorker(
  dataDir: string,
  cluster: {
    amqpUrl: string;
    postgresUrl: string;
    partitions: number;
    prefer?: string;
    registryPollMs?: number;
  },
  startTimeoutMs = 60_000,
  /** More settings by environment (the archive's, for example). */
  env: Record<string, string> = {},
): Promise<ClusterWorkerProcess> {
  const { proc, match, exited } = await spawnUntil(
    ['start', '--cluster'],
    {
      // The sources as they are (dist/ may be older); tsx compiles them once at start.
      CAREFLOW_FROM_SOURCE: '1',
      CAREFLOW_DATA_DIR: dataDir,
      CAREFLOW_AMQP_URL: cluster.amqpUrl,
      CAREFLOW_POSTGRES_URL: cluster.postgresUrl,
      CAREFLOW_CLUSTER_PARTITIONS: String(cluster.partitions),
      ...(cluster.prefer === undefined ? {} : { CAREFLOW_CLUSTER_PREFER: cluster.prefer }),
      ...(cluster.registryPollMs === undefined
        ? {}
        : { CAREFLOW_CLUSTER_REGISTRY_POLL_MS: String(cluster.registryPollMs) }),
      ...env,
    },
    /cluster worker is running: .*HTTP on port (\d+)/,
    startTimeoutMs,
  );
  return { proc, httpPort: Number(match[1]), exited };
}

/**
 * Stops a worker process a test started: SIGTERM, SIGKILL if it has not ended within 10 s; then removes its data
 * directory.
 */
export async function stopWorkerProcess(w: { proc: ChildProcess; exited: Promise<unknown>; dir: string }) {
  w.proc.kill('SIGTERM');
  await Promise.race([w.exited, new Promise((r) => setTimeout(r, 10_000))]);
  w.proc.kill('SIGKILL');
  await w.exited;
  rmSync(w.dir, { recursive: true, force: true });
}
