/**
 * Ingest throughput benchmark: `npm run bench:ingest -- [--households 300000] [--connections 1000]
 * [--readings 480] [--window 1] [--batch-size 4] [--synchronous FULL|NORMAL] [--phases single,batch]
 * [--writer-thread on|off]`.
 *
 * Registers `households` households (one meter each) straight into a fresh store, starts the embedded service
 * (system clock, default durability unless --synchronous) and drives it from a separate process (bench/
 * load-generator.ts) with `connections` raw MQTT connections, one meter each, at QoS 1 with `window`
 * unacknowledged PUBLISHes per connection, end to end: validation, inbox commit, normalizer, detectors.
 * Phase `single` sends one reading per PUBLISH, phase `batch` `{ readings: [...] }` of `batch-size` readings
 * (default 4: an hour of quarter-hour readings), each phase with its own meters. Latency is in-flight over
 * throughput (Little's law): the defaults keep 1,000 PUBLISHes in flight. Prints readings/s, PUBACK latency (measured by the load generator),
 * service CPU % (all its threads, and its main thread alone: the inbox writer thread takes the rest) and RSS.
 *
 * Benchmark shortcuts, stated plainly: every benchmark meter shares one secret, hashed once (scrypt for 300,000
 * meters would take minutes); the per-meter allowance is raised, since each meter sends its whole history as
 * fast as the window allows.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startCareflow } from '../app/start-careflow.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { benchMeterId, registerBenchMeters } from './bench-registry.ts';
import type { LoadPlan, LoadResult } from './load-generator.ts';

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '300000' },
    connections: { type: 'string', default: '1000' },
    readings: { type: 'string', default: '480' },
    window: { type: 'string', default: '1' },
    'batch-size': { type: 'string', default: '4' },
    synchronous: { type: 'string', default: 'FULL' },
    phases: { type: 'string', default: 'single,batch' },
    /** `on`: the inbox commits on the writer thread (ingest.writerThread), for an A/B. */
    'writer-thread': { type: 'string', default: 'off' },
  },
});
const households = Number(values.households);
const connections = Number(values.connections);
const readings = Number(values.readings);
const window = Number(values.window);
const batchSize = Number(values['batch-size']);
const synchronous = values.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL';
const phases = values.phases.split(',').filter((p) => p === 'single' || p === 'batch');
if (![households, connections, readings, window, batchSize].every((n) => Number.isInteger(n) && n > 0))
  throw new Error('--households, --connections, --readings, --window and --batch-size are positive integers');
if (connections * phases.length > households) throw new Error('more connections than households');
if (readings % batchSize !== 0) throw new Error('--readings must be a multiple of --batch-size');

const SECRET = 'benchmark-shared-secret';
const meterId = benchMeterId;
const dir = mkdtempSync(join(tmpdir(), 'careflow-bench-ingest-'));
const out = (line: string) => process.stdout.write(line + '\n');

/** Runs the load generator; `onConnected` runs once every connection is up, just before publishing starts. */
function runGenerator(plan: LoadPlan, onConnected: () => void): Promise<LoadResult> {
  const child = fork(fileURLToPath(new URL('../bin/run-ts.js', import.meta.url)), [
    fileURLToPath(new URL('./load-generator.ts', import.meta.url)),
  ]);
  return new Promise((resolve, reject) => {
    type Message = {
      ready?: boolean;
      connected?: boolean;
      ok?: boolean;
      result?: LoadResult;
      error?: string;
    };
    child.on('message', (m: Message) => {
      if (m.ready) child.send(plan);
      else if (m.connected) {
        onConnected();
        child.send('go');
      } else if (m.ok) resolve(m.result!);
      else reject(new Error(`load generator failed: ${m.error}`));
    });
    child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited with ${code}`)));
  });
}

try {
  const dbPath = join(dir, 'careflow.db');
  const registerMs = await registerBenchMeters(dbPath, households, SECRET);
  out(`registered ${households} households and meters in ${(registerMs / 1000).toFixed(1)} s`);

  const config = loadConfig(
    {},
    {
      dataDir: dir,
      logLevel: 'warn',
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      store: { synchronous },
      ingest: { maxReadingsPerMeterPerMinute: 1_000_000, writerThread: values['writer-thread'] === 'on' },
    },
  );
  const cf = await startCareflow(config, { logger: createLogger('warn', process.stderr) });
  try {
    const firstTs = Math.floor((Date.now() - (readings + 8) * 15 * 60_000) / 3_600_000) * 3_600_000;
    for (const [p, phase] of phases.entries()) {
      const size = phase === 'batch' ? batchSize : 1;
      const meters = Array.from({ length: connections }, (_, i) => meterId(p * connections + i));
      const inboxBefore = cf.store.inbox.maxSeq();
      let peakRss = process.memoryUsage().rss;
      const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
      let cpu0 = process.cpuUsage();
      let mainCpu0 = process.threadCpuUsage();
      let wall0 = performance.now();
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      const result = await runGenerator(
        {
          host: '127.0.0.1',
          port: cf.mqttPort,
          meters,
          secret: SECRET,
          readingsPerMeter: readings,
          batchSize: size,
          window,
          firstTs,
          connectConcurrency: 100,
        },
        () => {
          cpu0 = process.cpuUsage();
          mainCpu0 = process.threadCpuUsage();
          wall0 = performance.now();
          loopDelay.enable();
        },
      );
      const cpu = process.cpuUsage(cpu0);
      const mainCpu = process.threadCpuUsage(mainCpu0);
      const wallMs = performance.now() - wall0;
      loopDelay.disable();
      clearInterval(rssTimer);
      const stored = cf.store.inbox.maxSeq() - inboxBefore;
      const steady = result.perSecond.slice(1, -1);
      const rate = (result.readings * 1000) / result.durationMs;
      out('');
      out(`phase ${phase}: ${connections} connections, ${size} reading(s) per PUBLISH, window ${window}`);
      const rows: [string, string][] = [
        ['readings acknowledged / stored', `${result.readings} / ${stored}`],
        ['readings/s (whole run)', Math.round(rate).toString()],
        [
          'readings/s (per second, min..max)',
          steady.length ? `${Math.min(...steady)}..${Math.max(...steady)}` : '-',
        ],
        ['PUBLISH messages/s', Math.round((result.messages * 1000) / result.durationMs).toString()],
        [
          'PUBACK latency ms p50 / p90 / p99 / max',
          [result.latencyMs.p50, result.latencyMs.p90, result.latencyMs.p99, result.latencyMs.max]
            .map((v) => v.toFixed(1))
            .join(' / '),
        ],
        ['connect all (ms)', Math.round(result.connectMs).toString()],
        ['service CPU % (of one core)', ((100 * (cpu.user + cpu.system)) / 1000 / wallMs).toFixed(0)],
        ['service CPU µs per reading', ((cpu.user + cpu.system) / result.readings).toFixed(1)],
        ['  of which its main thread', ((mainCpu.user + mainCpu.system) / result.readings).toFixed(1)],
        [
          'service event-loop stall ms p99 / max',
          `${(loopDelay.percentile(99) / 1e6).toFixed(1)} / ${(loopDelay.max / 1e6).toFixed(1)}`,
        ],
        ['service peak RSS MB', (peakRss / 1024 / 1024).toFixed(0)],
        ['load generator CPU % (of one core)', String(result.cpuPercent)],
        ['errors', result.errors.length ? result.errors.join('; ') : 'none'],
      ];
      for (const [k, v] of rows) out(`  ${k.padEnd(42)}${v}`);
      if (stored !== result.readings)
        throw new Error(`stored ${stored} readings, acknowledged ${result.readings}`);
    }
    const stats = cf.ingest.stats();
    out('');
    out(
      `synchronous=${synchronous}; writer thread ${values['writer-thread'] === 'on' ? 'on' : 'off'}; ${stats.commits} commits; normalizer ${JSON.stringify(stats.normalizer)}`,
    );
  } finally {
    await cf.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
