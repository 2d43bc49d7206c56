/**
 * Cluster benchmark (issue 14): `npm run bench:cluster -- [--meters 500] [--rounds 10] [--partitions 6]
 * [--workers 1,2,3] [--no-failover]`.
 *
 * Starts a private PostgreSQL and RabbitMQ (the test harnesses: MQTT plugin, consistent-hash exchange, HTTP auth
 * backend behind its cache), a careflow serving RabbitMQ's auth backend from the registry (`--meters` meters, one
 * per household), and connects every meter over MQTT 3.1.1 to RabbitMQ with its own credentials. Then, for each
 * worker count in `--workers`, starts that many `careflow start --cluster` processes (the partitions split
 * between them) and:
 *
 * - every meter publishes `--rounds` readings at QoS 1, one after another (each waits for its PUBACK; all meters
 *   at once), and the phase ends when PostgreSQL's inbox holds all of them: readings/s end to end;
 * - CPU per reading from /proc/<pid>/stat of the workers, of RabbitMQ's node, of PostgreSQL (postmaster and its
 *   backends), of the auth-backend careflow, and of this load generator (process.cpuUsage) — separately;
 * - PUBACK latency p50/p99 (publish to PUBACK, as the meter sees it; with every meter publishing at once this is
 *   latency under saturation).
 *
 * Finally (with 3+ workers) failover: a steady load runs, one worker is killed with SIGKILL, and the time until
 * each of its partitions is consumed again by a survivor (the survivor's first delivery, from its /healthz) is
 * printed, with a check that every reading RabbitMQ acknowledged during it reached PostgreSQL.
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { startPostgres, type Postgres } from '../test/postgres.ts';
import { careflowAuthBackend, startRabbitMq, type RabbitMq } from '../test/rabbitmq.ts';
import { spawnClusterWorker, spawnService, type ServiceProcess } from '../test/service-process.ts';
import { benchMeterId, registerBenchMeters } from './bench-registry.ts';
import { processCpuMicros, processRssBytes } from './process-usage.ts';

const { values } = parseArgs({
  options: {
    meters: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '10' },
    partitions: { type: 'string', default: '6' },
    workers: { type: 'string', default: '1,2,3' },
    'no-failover': { type: 'boolean', default: false },
  },
});
const METERS = Number(values.meters);
const ROUNDS = Number(values.rounds);
const PARTITIONS = Number(values.partitions);
const WORKER_COUNTS = values.workers.split(',').map(Number);
const SECRET = 'bench-meter-secret-0123456789';
const HOOK_SECRET = 'bench-rabbitmq-hook-secret-0123456789abcdef';
const STEP = 15 * 60_000;
/** Readings are stamped in the past (a phase's own range), so none is "in the future" for the workers. */
const T_BASE = Date.now() - 400 * 24 * 3_600_000;
const out = (line: string) => process.stdout.write(line + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Worker {
  proc: ChildProcess;
  httpPort: number;
  exited: Promise<unknown>;
  dir: string;
}

interface Health {
  partitions: { partition: number; active: boolean; activeSince: number | null; subscribed: boolean }[];
  committedReadings: number;
}

/** `0-1`, `2-3`, `4-5` for 3 workers of 6 partitions. */
function preferOf(i: number, n: number): string {
  const from = Math.floor((i * PARTITIONS) / n);
  const to = Math.floor(((i + 1) * PARTITIONS) / n) - 1;
  return from === to ? String(from) : `${from}-${to}`;
}

async function spawnWorker(rabbit: RabbitMq, pgUrl: string, registryDb: string, prefer: string) {
  const dir = mkdtempSync(join(tmpdir(), 'careflow-bench-worker-'));
  copyFileSync(registryDb, join(dir, 'careflow.db'));
  const cluster = { amqpUrl: rabbit.amqpUrl, postgresUrl: pgUrl, partitions: PARTITIONS, prefer };
  return { ...(await spawnClusterWorker(dir, cluster, 120_000)), dir } satisfies Worker;
}

async function stopWorker(w: Worker, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  w.proc.kill(signal);
  await Promise.race([w.exited, sleep(15_000)]);
  w.proc.kill('SIGKILL');
  await w.exited;
  rmSync(w.dir, { recursive: true, force: true });
}

async function health(w: Worker): Promise<Health | null> {
  try {
    return (await (await fetch(`http://127.0.0.1:${w.httpPort}/healthz`)).json()) as Health;
  } catch {
    return null;
  }
}

/** This RabbitMQ node's Erlang VM (the one given this node's own epmd port) and its helper processes. */
function rabbitPids(rabbit: RabbitMq): number[] {
  const all = procs();
  const vm = all.find(
    (p) => /beam/.test(p.cmdline) && p.cmdline.includes(`-epmd_port ${rabbit.ports.epmd} `),
  );
  if (!vm) throw new Error(`RabbitMQ's Erlang VM (epmd port ${rabbit.ports.epmd}) not found in /proc`);
  return [vm.pid, ...all.filter((p) => p.ppid === vm.pid).map((p) => p.pid)];
}

/** PostgreSQL's postmaster (started on this data directory) and its children (backends, writer, WAL…). */
function postgresPids(server: Postgres): number[] {
  const all = procs();
  const master = all.find((p) => p.cmdline.includes(server.dir) && /postgres/.test(p.cmdline));
  if (!master) return [];
  return [master.pid, ...all.filter((p) => p.ppid === master.pid).map((p) => p.pid)];
}

function procs(): { pid: number; ppid: number; cmdline: string }[] {
  const list: { pid: number; ppid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      list.push({ pid: Number(name), ppid, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return list;
}

const cpuOf = (pids: number[]) =>
  pids.reduce((sum, pid) => {
    try {
      return sum + processCpuMicros(pid);
    } catch {
      return sum;
    }
  }, 0);
const selfCpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function connectMeters(rabbit: RabbitMq): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < METERS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, METERS - i) }, (_, k) => {
        const id = benchMeterId(i + k);
        return new Promise<MqttClient>((resolve, reject) => {
          const c = mqtt.connect(rabbit.mqttUrl, {
            username: id,
            password: SECRET,
            clientId: id,
            protocolVersion: 4,
            clean: true,
            reconnectPeriod: 0,
            connectTimeout: 60_000,
            keepalive: 300,
          });
          c.once('connect', () => resolve(c));
          c.once('error', (e) => reject(new Error(`${id}: ${e.message}`)));
        });
      }),
    );
    clients.push(...batch);
  }
  return clients;
}

/** Each meter publishes `rounds` readings one after another (waiting for each PUBACK); all meters at once. */
async function publishRounds(
  meters: MqttClient[],
  firstStep: number,
  rounds: number,
  latencies: number[] | null,
  acked?: Set<string>,
  stop?: () => boolean,
): Promise<void> {
  await Promise.all(
    meters.map(async (m, i) => {
      const id = benchMeterId(i);
      for (let r = 0; r < rounds && !stop?.(); r++) {
        const ts = T_BASE + (firstStep + r) * STEP;
        const started = performance.now();
        await m.publishAsync(
          `meters/${id}/readings`,
          JSON.stringify({ ts, totalLiters: 1000 + (firstStep + r) * 3 + (i % 7) }),
          {
            qos: 1,
          },
        );
        latencies?.push(performance.now() - started);
        acked?.add(`${id}@${ts}`);
      }
    }),
  );
}

/** Waits until PostgreSQL's inbox holds every reading stamped in [from, to) — `want` of them, duplicates aside. */
async function committed(db: pg.Pool, fromStep: number, toStep: number, want: number): Promise<number> {
  const end = Date.now() + 300_000;
  for (;;) {
    const { rows } = await db.query<{ n: string }>(
      'SELECT count(DISTINCT (meter_id, ts)) AS n FROM inbox WHERE ts >= $1 AND ts < $2',
      [T_BASE + fromStep * STEP, T_BASE + toStep * STEP],
    );
    const n = Number(rows[0]!.n);
    if (n >= want) return performance.now();
    if (Date.now() > end)
      throw new Error(`only ${n} of ${want} readings reached PostgreSQL within 5 minutes`);
    await sleep(50);
  }
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

async function main(): Promise<void> {
  out(
    `bench:cluster: ${METERS} meters, ${ROUNDS} readings each per phase, ${PARTITIONS} partitions, workers ${WORKER_COUNTS.join(', ')}`,
  );
  const setupStarted = performance.now();
  const pgServer = await startPostgres();
  const db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  const authDir = mkdtempSync(join(tmpdir(), 'careflow-bench-cluster-'));
  const registryDb = join(authDir, 'careflow.db');
  let rabbit: RabbitMq | undefined;
  let auth: ServiceProcess | undefined;
  let meters: MqttClient[] = [];
  const workers: Worker[] = [];
  try {
    await registerBenchMeters(registryDb, METERS, SECRET);
    auth = await spawnService(
      authDir,
      { CAREFLOW_FROM_SOURCE: '1', CAREFLOW_RABBITMQ_HOOK_SECRET: HOOK_SECRET },
      60_000,
    );
    rabbit = await startRabbitMq({
      config: careflowAuthBackend(`http://127.0.0.1:${auth.httpPort}`, HOOK_SECRET, 600_000),
    });
    const rabbitRss = () => rabbitPids(rabbit!).reduce((sum, pid) => sum + processRssBytes(pid), 0);
    const rssBefore = rabbitRss();
    const authBefore = cpuOf([auth.proc.pid!]);
    const connectStarted = performance.now();
    meters = await connectMeters(rabbit);
    const rssAfter = rabbitRss();
    const authPerConnect = (cpuOf([auth.proc.pid!]) - authBefore) / METERS;
    out(
      `setup: PostgreSQL, RabbitMQ, auth backend up; ${METERS} meters connected over MQTT in ` +
        `${((performance.now() - connectStarted) / 1000).toFixed(1)} s (setup ${((performance.now() - setupStarted) / 1000).toFixed(0)} s); ` +
        `RabbitMQ RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB ` +
        `(${((rssAfter - rssBefore) / METERS / 1024).toFixed(0)} KiB per MQTT connection); auth backend CPU ` +
        `${authPerConnect.toFixed(0)} µs per first login (a scrypt check each)`,
    );

    let step = 0;
    for (const n of WORKER_COUNTS) {
      while (workers.length) await stopWorker(workers.pop()!);
      workers.push(
        ...(await Promise.all(
          Array.from({ length: n }, (_, i) => spawnWorker(rabbit!, pgServer.url, registryDb, preferOf(i, n))),
        )),
      );
      // Warm-up (also the topic check of each meter's first publish): one reading each, committed.
      await publishRounds(meters, step, 1, null);
      await committed(db, step, step + 1, METERS);
      step += 1;

      const workerPids = workers.map((w) => w.proc.pid!);
      const rabbitP = rabbitPids(rabbit);
      const pgP = postgresPids(pgServer);
      const before = {
        workers: cpuOf(workerPids),
        rabbit: cpuOf(rabbitP),
        pg: cpuOf(pgP),
        auth: cpuOf([auth.proc.pid!]),
        self: selfCpu(),
      };
      const latencies: number[] = [];
      const t0 = performance.now();
      await publishRounds(meters, step, ROUNDS, latencies);
      const published = performance.now();
      const done = await committed(db, step, step + ROUNDS, METERS * ROUNDS);
      step += ROUNDS;
      const used = {
        workers: cpuOf(workerPids) - before.workers,
        rabbit: cpuOf(rabbitP) - before.rabbit,
        pg: cpuOf(pgP) - before.pg,
        auth: cpuOf([auth.proc.pid!]) - before.auth,
        self: selfCpu() - before.self,
      };
      const readings = METERS * ROUNDS;
      const per = (us: number) => `${(us / readings).toFixed(0)} µs`;
      const sorted = latencies.sort((a, b) => a - b);
      const seconds = (done - t0) / 1000;
      const rss = workerPids.map((p) => (processRssBytes(p) / 2 ** 20).toFixed(0));
      out(
        `${n} worker${n > 1 ? 's' : ''}: ${readings} readings in ${seconds.toFixed(1)} s = ${(readings / seconds).toFixed(0)} readings/s ` +
          `end to end (PUBACKs done after ${((published - t0) / 1000).toFixed(1)} s); PUBACK p50 ${pct(sorted, 50).toFixed(1)} ms, ` +
          `p99 ${pct(sorted, 99).toFixed(1)} ms; CPU per reading: workers ${per(used.workers)}, RabbitMQ ${per(used.rabbit)}, ` +
          `PostgreSQL ${per(used.pg)}, auth backend ${per(used.auth)}, load generator ${per(used.self)}; worker RSS ${rss.join('/')} MiB`,
      );
    }

    if (!values['no-failover'] && workers.length >= 2) {
      // Every worker stands by for every partition (cluster.standbyDelayMs after start).
      const until = Date.now() + 60_000;
      for (;;) {
        const hs = await Promise.all(workers.map(health));
        if (hs.every((h) => h?.partitions.every((p) => p.subscribed))) break;
        if (Date.now() > until) throw new Error('the workers did not subscribe to every partition');
        await sleep(200);
      }
      const victim = workers[0]!;
      const survivors = workers.slice(1);
      const acked = new Set<string>();
      let stopLoad = false;
      const first = step;
      // Steady load: every meter one reading a round, rounds 1 s apart, until told to stop.
      const load = (async () => {
        while (!stopLoad) {
          const started = Date.now();
          await publishRounds(meters, step, 1, null, acked, () => stopLoad);
          step += 1;
          await sleep(Math.max(0, 1000 - (Date.now() - started)));
        }
      })();
      await sleep(4000);
      const owned = (await health(victim))?.partitions.filter((p) => p.active).map((p) => p.partition) ?? [];
      victim.proc.kill('SIGKILL');
      const killedAt = Date.now();
      const takeover = new Map<number, number>();
      while (takeover.size < owned.length && Date.now() - killedAt < 60_000) {
        for (const h of await Promise.all(survivors.map(health)))
          for (const p of h?.partitions ?? [])
            if (owned.includes(p.partition) && p.activeSince !== null && p.activeSince >= killedAt)
              takeover.set(p.partition, Math.min(takeover.get(p.partition) ?? Infinity, p.activeSince));
        await sleep(100);
      }
      await sleep(3000);
      stopLoad = true;
      await load;
      await victim.exited;
      workers.shift();
      rmSync(victim.dir, { recursive: true, force: true });
      await committed(db, first, step, acked.size);
      const times = owned.map((p) =>
        takeover.has(p) ? `${takeover.get(p)! - killedAt} ms` : 'not taken over',
      );
      out(
        `failover: SIGKILL of a worker owning partitions ${owned.join(', ')}: consumed again after ${times.join(', ')} ` +
          `(its survivors' first delivery); ${acked.size} readings acknowledged during the failover phase, all in PostgreSQL`,
      );
    }
    const size = await db.query<{ rows: string; bytes: string }>(
      "SELECT count(*) AS rows, pg_total_relation_size('inbox') AS bytes FROM inbox",
    );
    const { rows, bytes } = size.rows[0]!;
    out(
      `PostgreSQL: inbox ${rows} rows, ${(Number(bytes) / 2 ** 20).toFixed(1)} MiB with its indexes = ` +
        `${(Number(bytes) / Number(rows)).toFixed(0)} B per reading`,
    );
    out(
      '(every process shares this machine: wall times depend on what else runs on it; CPU per reading is the ' +
        'comparable figure)',
    );
  } finally {
    await Promise.all(meters.map((m) => m.endAsync(true).catch(() => {})));
    while (workers.length) await stopWorker(workers.pop()!);
    await rabbit?.dispose();
    await auth?.stop();
    await db.end();
    await pgServer.dispose();
    rmSync(authDir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:cluster failed: ${err.message}\n`);
  process.exitCode = 1;
});
