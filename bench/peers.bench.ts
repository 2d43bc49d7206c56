/**
 * Peer benchmark: `npm run bench:peers -- [--meters 2000] [--readings 192] [--window 2] [--batch-size 24]
 * [--clients 2] [--repeats 3] [--systems careflow,mosquitto,aedes] [--phases single,batch,half]
 * [--half-readings 72] [--half-rate R] [--warmup-seconds 3] [--writer-thread on|off]`.
 *
 * The same client load against three systems, interleaved, repeated:
 * - careflow as `npm start` runs it (its own process, default durability: a PUBACK only after the reading is
 *   committed to SQLite, normalised and on its way to the detectors);
 * - Mosquitto from Debian with a minimal Node subscriber (bench/peer-subscriber.ts) that parses each reading and
 *   commits it to SQLite (WAL, same `synchronous`) in batches — the obvious alternative; Mosquitto acknowledges
 *   a reading as soon as it has it, before the subscriber stores it;
 * - plain Aedes with its in-memory defaults (bench/plain-aedes.ts), storing nothing: the embedded broker's floor.
 *
 * The load is `--clients` processes (bench/load-generator.ts) sharing `--meters` raw MQTT connections, one
 * meter each, QoS 1, `--window` unacknowledged PUBLISHes per connection; phase `single` sends one reading per
 * PUBLISH, phase `batch` `{ readings: [...] }` of `--batch-size`, phase `half` one reading per PUBLISH paced at
 * half of careflow's peak (its `single` rate in the same repeat, or `--half-rate`) with `--half-readings` per
 * meter, its latency counted from when each PUBLISH was due. Prints per system and phase: readings/s,
 * PUBACK p50/p99 (the worse of the client processes), CPU µs per reading of the system's processes, their peak
 * RSS, and the ratios against the peer. Every system must have stored (or, for plain Aedes, received) every
 * reading it acknowledged, or the benchmark fails.
 *
 * Benchmark settings, stated plainly: all meters share one secret (hashed once); careflow's per-meter allowance
 * is raised (each meter sends a day of readings as fast as the window allows); Mosquitto allows anonymous
 * clients and unlimited queues so that it never drops the subscriber's messages.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { benchMeterId, registerBenchMeters } from './bench-registry.ts';
import type { LoadPlan, LoadResult } from './load-generator.ts';
import { processCpuMicros, processRssBytes } from './process-usage.ts';

type SystemName = 'careflow' | 'mosquitto' | 'aedes';
type Phase = 'single' | 'batch' | 'half';
const SYSTEM_NAMES: SystemName[] = ['careflow', 'mosquitto', 'aedes'];

const { values } = parseArgs({
  options: {
    meters: { type: 'string', default: '2000' },
    readings: { type: 'string', default: '192' },
    window: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '24' },
    clients: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '3' },
    systems: { type: 'string', default: 'careflow,mosquitto,aedes' },
    phases: { type: 'string', default: 'single,batch,half' },
    /** Readings per meter in the paced phase (it runs at half the peak rate, so it takes longer per reading). */
    'half-readings': { type: 'string', default: '72' },
    /**
     * Paced phase: the first seconds of the schedule are sent and acknowledged like the rest, but their latency
     * is reported apart (fresh client processes, the meters' first readings): the p99 is the steady state's.
     */
    'warmup-seconds': { type: 'string', default: '3' },
    /** The paced phase's rate in readings/s (default: half of careflow's single-reading rate in the same repeat). */
    'half-rate': { type: 'string' },
    mosquitto: { type: 'string', default: '/usr/sbin/mosquitto' },
    /** careflow's `ingest.writerThread` (on|off; default: its configured default), for an A/B. */
    'writer-thread': { type: 'string' },
  },
});
const meters = Number(values.meters);
const readings = Number(values.readings);
const window = Number(values.window);
const batchSize = Number(values['batch-size']);
const clients = Number(values.clients);
const repeats = Number(values.repeats);
const systems = values.systems
  .split(',')
  .filter((s): s is SystemName => SYSTEM_NAMES.includes(s as SystemName));
const phases = values.phases
  .split(',')
  .filter((p): p is Phase => p === 'single' || p === 'batch' || p === 'half');
const halfReadings = Number(values['half-readings']);
const halfRate = values['half-rate'] === undefined ? undefined : Number(values['half-rate']);
const warmupSeconds = Number(values['warmup-seconds']);

function fail(message: string): never {
  process.stderr.write(`bench:peers: ${message}\n`);
  process.exit(2);
}
if (
  ![meters, readings, window, batchSize, clients, repeats, halfReadings].every(
    (n) => Number.isInteger(n) && n > 0,
  )
)
  fail(
    '--meters, --readings, --window, --batch-size, --clients, --repeats and --half-readings are positive integers',
  );
if (!(warmupSeconds >= 0)) fail('--warmup-seconds is a number of seconds (0: none)');
if (halfRate !== undefined && !(halfRate > 0))
  fail('--half-rate is a positive number of readings per second');
if (readings % batchSize !== 0) fail('--readings must be a multiple of --batch-size');
if (systems.length === 0 || phases.length === 0) fail('no system or phase to run');
if (systems.includes('mosquitto') && !existsSync(values.mosquitto))
  fail(`Mosquitto not found at ${values.mosquitto} (Debian: apt-get install mosquitto, or --mosquitto PATH)`);

const SECRET = 'benchmark-shared-secret';
const SYNCHRONOUS = 'FULL'; // careflow's default durability, used by the peer subscriber too
const root = fileURLToPath(new URL('..', import.meta.url));
const runTs = join(root, 'bin/run-ts.js');
const out = (line: string) => process.stdout.write(line + '\n');

interface RunningSystem {
  port: number;
  pids(): number[];
  /** Readings the system has stored (careflow, peer) or received (plain Aedes). */
  stored(): Promise<number>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function ask<T>(child: ChildProcess, message: string | object, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>) => {
      if (m.error) reject(new Error(String(m.error)));
      else if (key in m) {
        child.off('message', onMessage);
        resolve(m[key] as T);
      }
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

function forkTs(file: string): Promise<ChildProcess> {
  const child = fork(runTs, [join(root, file)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** careflow exactly as `npm start` runs it: the package's start script, in its own process. */
async function startCareflowProcess(dir: string): Promise<RunningSystem> {
  await registerBenchMeters(join(dir, 'careflow.db'), meters * phases.length, SECRET);
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      dataDir: dir,
      logLevel: 'warn',
      mqtt: { host: '127.0.0.1', port: mqttPort },
      http: { host: '127.0.0.1', port: httpPort },
      ingest: {
        maxReadingsPerMeterPerMinute: 1_000_000,
        ...(values['writer-thread'] ? { writerThread: values['writer-thread'] === 'on' } : {}),
      },
    }),
  );
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const logFile = join(dir, 'careflow.log');
  const logFd = openSync(logFile, 'w');
  const child = spawn('sh', ['-c', `exec ${pkg.scripts.start}`], {
    cwd: root,
    env: { ...process.env, CAREFLOW_CONFIG: configFile },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`careflow exited with ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('careflow did not answer /healthz within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const db = new Database(join(dir, 'careflow.db'), { readonly: true });
  const count = db.prepare('SELECT count(*) FROM inbox').pluck();
  return {
    port: mqttPort,
    pids: () => [child.pid!],
    stored: async () => count.get() as number,
    async stop() {
      db.close();
      await stopProcess(child);
    },
  };
}

async function startMosquittoPeer(dir: string): Promise<RunningSystem> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'max_inflight_messages 0',
      'log_type error',
      '',
    ].join('\n'),
  );
  const broker = spawn(values.mosquitto, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (broker.exitCode !== null) throw new Error(`mosquitto exited with ${broker.exitCode}`);
    if (Date.now() > deadline) throw new Error('mosquitto did not listen within 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const subscriber = await forkTs('bench/peer-subscriber.ts');
  await ask(
    subscriber,
    { url: `mqtt://127.0.0.1:${port}`, dbPath: join(dir, 'peer.db'), synchronous: SYNCHRONOUS },
    'subscribed',
  );
  return {
    port,
    pids: () => [broker.pid!, subscriber.pid!],
    stored: () => ask<number>(subscriber, 'count', 'stored'),
    async stop() {
      subscriber.send('stop');
      await stopProcess(subscriber);
      await stopProcess(broker);
    },
  };
}

async function startPlainAedes(batch: () => number): Promise<RunningSystem> {
  const child = await forkTs('bench/plain-aedes.ts');
  const port = await ask<number>(child, {}, 'port');
  return {
    port,
    pids: () => [child.pid!],
    stored: async () => (await ask<number>(child, 'count', 'received')) * batch(),
    async stop() {
      child.send('stop');
      await stopProcess(child);
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

interface PhaseResult {
  system: SystemName;
  phase: Phase;
  repeat: number;
  readings: number;
  stored: number;
  perSecond: number;
  p50: number;
  p99: number;
  cpuMicrosPerReading: number;
  peakRssMb: number;
  /** Paced phase: p99 of how late the clients wrote a PUBLISH after it fell due (their own queueing). */
  sendLagP99: number;
  /** The clients' longest event-loop delay while publishing. */
  clientLoopMaxMs: number;
  /** Paced phase: PUBACK p99 of the messages due during the warm-up (not in p50/p99). */
  warmupP99: number;
}

/** Runs one phase: the client processes connect, then publish together; the system's processes are watched. */
async function runPhase(
  system: RunningSystem,
  phase: Phase,
  firstMeter: number,
  /** The paced phase's rate, readings/s over all client processes. */
  pacedRate?: number,
): Promise<Omit<PhaseResult, 'system' | 'repeat'>> {
  const size = phase === 'batch' ? batchSize : 1;
  const perMeter = phase === 'half' ? halfReadings : readings;
  const ids = Array.from({ length: meters }, (_, i) => benchMeterId(firstMeter + i));
  const firstTs = Math.floor((Date.now() - (perMeter + 8) * 15 * 60_000) / 3_600_000) * 3_600_000;
  const storedBefore = await system.stored();
  const generators = Array.from({ length: clients }, () =>
    fork(runTs, [join(root, 'bench/load-generator.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  let connected = 0;
  let cpu0 = 0;
  let peakRss = 0;
  let rssTimer: NodeJS.Timeout | undefined;
  const sample = () => {
    peakRss = Math.max(
      peakRss,
      system.pids().reduce((sum, pid) => sum + processRssBytes(pid), 0),
    );
  };
  const results = await Promise.all(
    generators.map(
      (child, c) =>
        new Promise<LoadResult>((resolve, reject) => {
          const plan: LoadPlan = {
            host: '127.0.0.1',
            port: system.port,
            meters: ids.filter((_, i) => i % clients === c),
            secret: SECRET,
            readingsPerMeter: perMeter,
            batchSize: size,
            window,
            firstTs,
            connectConcurrency: 50,
            ...(pacedRate
              ? { messagesPerSecond: pacedRate / size / clients, warmupMs: warmupSeconds * 1000 }
              : {}),
          };
          child.on(
            'message',
            (m: {
              ready?: boolean;
              connected?: boolean;
              ok?: boolean;
              result?: LoadResult;
              error?: string;
            }) => {
              if (m.ready) child.send(plan);
              else if (m.connected) {
                if (++connected === clients) {
                  cpu0 = system.pids().reduce((sum, pid) => sum + processCpuMicros(pid), 0);
                  rssTimer = setInterval(sample, 200);
                  for (const g of generators) g.send('go');
                }
              } else if (m.ok) resolve(m.result!);
              else reject(new Error(`load generator failed: ${m.error}`));
            },
          );
          child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited with ${code}`)));
        }),
    ),
  );
  const cpu = system.pids().reduce((sum, pid) => sum + processCpuMicros(pid), 0) - cpu0;
  clearInterval(rssTimer);
  sample();
  const acknowledged = results.reduce((sum, r) => sum + r.readings, 0);
  const durationMs = Math.max(...results.map((r) => r.durationMs));
  const errors = results.flatMap((r) => r.errors);
  if (errors.length) throw new Error(`client errors: ${errors.slice(0, 5).join('; ')}`);
  // The peer acknowledges before it stores: give its subscriber time to catch up before counting.
  const deadline = Date.now() + 60_000;
  let stored = (await system.stored()) - storedBefore;
  while (stored < acknowledged && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    stored = (await system.stored()) - storedBefore;
  }
  return {
    phase,
    readings: acknowledged,
    stored,
    perSecond: (acknowledged * 1000) / durationMs,
    p50: Math.max(...results.map((r) => r.latencyMs.p50)),
    p99: Math.max(...results.map((r) => r.latencyMs.p99)),
    cpuMicrosPerReading: cpu / acknowledged,
    peakRssMb: peakRss / 1024 / 1024,
    sendLagP99: Math.max(...results.map((r) => r.sendLagMs.p99)),
    clientLoopMaxMs: Math.max(...results.map((r) => r.loopDelayMs.max)),
    warmupP99: Math.max(...results.map((r) => r.warmupLatencyMs.p99)),
  };
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const all: PhaseResult[] = [];
out(
  `peers: ${meters} meters over ${clients} client processes, window ${window}, ${readings} readings per meter, ` +
    `batches of ${batchSize}; systems ${systems.join(', ')}; ${repeats} interleaved repeat(s)`,
);
for (let repeat = 1; repeat <= repeats; repeat++) {
  for (const name of systems) {
    const dir = mkdtempSync(join(tmpdir(), `careflow-bench-peers-${name}-`));
    let currentPhase: Phase = 'single';
    const system =
      name === 'careflow'
        ? await startCareflowProcess(dir)
        : name === 'mosquitto'
          ? await startMosquittoPeer(dir)
          : await startPlainAedes(() => (currentPhase === 'batch' ? batchSize : 1));
    try {
      for (const [p, phase] of phases.entries()) {
        currentPhase = phase;
        let paced: number | undefined;
        if (phase === 'half') {
          const peak = all.find(
            (r) => r.system === 'careflow' && r.phase === 'single' && r.repeat === repeat,
          );
          paced = halfRate ?? (peak ? peak.perSecond / 2 : undefined);
          if (paced === undefined) {
            out(
              `  repeat ${repeat} ${name.padEnd(9)} half   skipped: no careflow single rate (give --half-rate)`,
            );
            continue;
          }
        }
        const r = await runPhase(system, phase, p * meters, paced);
        all.push({ system: name, repeat, ...r });
        out(
          `  repeat ${repeat} ${name.padEnd(9)} ${phase.padEnd(6)} ${Math.round(r.perSecond).toString().padStart(7)} readings/s` +
            `  PUBACK p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms  ${r.cpuMicrosPerReading.toFixed(1)} µs CPU/reading` +
            `  RSS ${r.peakRssMb.toFixed(0)} MB  acknowledged ${r.readings} stored ${r.stored}` +
            (phase === 'half'
              ? `  client send lag p99 ${r.sendLagP99.toFixed(1)} ms  warm-up (${warmupSeconds} s) p99 ${r.warmupP99.toFixed(1)} ms`
              : '') +
            `  client loop delay max ${r.clientLoopMaxMs.toFixed(0)} ms`,
        );
        if (r.stored !== r.readings)
          throw new Error(`${name} ${phase}: acknowledged ${r.readings} readings but stored ${r.stored}`);
      }
    } finally {
      await system.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

out('');
out('medians over the repeats');
out(
  '  system     phase   readings/s  PUBACK p50 ms  PUBACK p99 ms  CPU µs/reading  peak RSS MB  vs mosquitto (readings/s)',
);
for (const phase of phases) {
  const peer = median(
    all.filter((r) => r.system === 'mosquitto' && r.phase === phase).map((r) => r.perSecond),
  );
  for (const name of systems) {
    const rows = all.filter((r) => r.system === name && r.phase === phase);
    const rate = median(rows.map((r) => r.perSecond));
    out(
      `  ${name.padEnd(10)} ${phase.padEnd(7)} ${Math.round(rate).toString().padStart(10)}  ` +
        `${median(rows.map((r) => r.p50))
          .toFixed(1)
          .padStart(13)}  ${median(rows.map((r) => r.p99))
          .toFixed(1)
          .padStart(13)}  ` +
        `${median(rows.map((r) => r.cpuMicrosPerReading))
          .toFixed(1)
          .padStart(14)}  ${median(rows.map((r) => r.peakRssMb))
          .toFixed(0)
          .padStart(11)}  ` +
        (Number.isFinite(peer) && peer > 0 ? `${(rate / peer).toFixed(2)}×` : '-'),
    );
  }
}

/** The medians of one system and phase (NaN where it did not run). */
const medianOf = (name: SystemName, phase: Phase, pick: (r: PhaseResult) => number) =>
  median(all.filter((r) => r.system === name && r.phase === phase).map(pick));
out('');
out(
  'careflow / Mosquitto + subscriber (medians; readings/s higher is better, CPU per reading lower is better)',
);
for (const phase of phases.filter((p) => p !== 'half')) {
  const label = phase === 'single' ? 'single readings' : `batches of ${batchSize}`;
  const rate =
    medianOf('careflow', phase, (r) => r.perSecond) / medianOf('mosquitto', phase, (r) => r.perSecond);
  const cpu =
    medianOf('careflow', phase, (r) => r.cpuMicrosPerReading) /
    medianOf('mosquitto', phase, (r) => r.cpuMicrosPerReading);
  out(
    `  ${label.padEnd(17)} readings/s ${Number.isFinite(rate) ? `${rate.toFixed(2)}×` : '-'}` +
      `  CPU per reading ${Number.isFinite(cpu) ? `${cpu.toFixed(2)}×` : '-'}`,
  );
}
if (phases.includes('half')) {
  const rate = medianOf('careflow', 'half', (r) => r.perSecond);
  const line = systems
    .map((name) => `${name} ${medianOf(name, 'half', (r) => r.p99).toFixed(1)} ms`)
    .join(', ');
  out(
    `PUBACK p99 at half of careflow's peak (paced, ${Number.isFinite(rate) ? Math.round(rate) : '-'} readings/s ` +
      `reached): ${line} (target for careflow ≤ 100 ms)`,
  );
}
