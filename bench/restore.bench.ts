/**
 * Start-up benchmark (issue 15): `npm run bench:restore -- [--households 1000000] [--days 21]`.
 *
 * 1. Writes a registry of `--households` households (one meter each) straight into a fresh store, and a
 *    checkpoint as the service writes it after `--days` days of quarter-hourly readings: for each household
 *    the normalizer's meter state and the detectors' household state. The states come from 64 template
 *    households run through the real normalizer and detector engine for those days (ring full, learned
 *    history full, arrival gaps known), each household getting one template's state.
 * 2. Starts the service as `npm start` runs it (a child process) on that data dir and on an empty one (the
 *    fixed base), and prints the time until it listens, its RSS once started and its peak RSS, and the RSS per
 *    household above the base. Targets: start-up ≤ 10 s, ≤ 1 KB per household. A large checkpoint is restored
 *    while the service already listens: it also prints when every household was back (`/healthz`), and the
 *    service's CPU until then; RSS is measured after that.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { loadConfig } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { openStore } from '../core/store/store.ts';
import { DetectorEngine } from '../detectors/detector-engine.ts';
import { ruleNeeds } from '../detectors/validate-rules.ts';
import { initialMeterState, normalize, type MeterState } from '../ingest/normalizer.ts';
import { spawnService } from '../test/service-process.ts';
import { benchMeterId, registerBenchMeters } from './bench-registry.ts';

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '21' },
    /** Keep the data in this directory and reuse it on the next run (writing a million households takes minutes). */
    dir: { type: 'string' },
    /** With --dir: write the checkpoint again (in the format this code writes), keeping the registry. */
    'rewrite-states': { type: 'boolean', default: false },
    /** Also measure RSS and CPU this many seconds after start-up (the first detector ticks have run by then). */
    settle: { type: 'string', default: '0' },
    /** Meters that send a reading every 200 ms from the moment the service listens until it has restored. */
    probe: { type: 'string', default: '0' },
  },
});
const HOUSEHOLDS = Number(values.households);
const DAYS = Number(values.days);
const TEMPLATES = 64;
const QUARTER = 900_000;
/** The states end now (a start-up finds every meter recently heard from, as after a restart). */
const T0 = Math.floor((Date.now() - Number(values.days) * 86_400_000) / 3_600_000) * 3_600_000;
const out = (line: string) => process.stdout.write(line + '\n');
const householdId = (n: number) => `h-${String(n + 1).padStart(6, '0')}`;

/** Liters per local hour of an ordinary household, varied per household and quarter. */
const PATTERN = [0, 0, 0, 0, 0, 0.5, 8, 12, 6, 3, 2, 4, 6, 3, 2, 2, 4, 8, 12, 10, 6, 3, 1, 0.2];
function quarterLiters(household: number, q: number): number {
  let x = (household * 2_654_435_761 + q * 40_503) >>> 0;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  const r = (x >>> 0) / 4_294_967_296;
  return (PATTERN[Math.floor(q / 4) % 24]! / 4) * (0.5 + (household % 7) / 4) * (0.5 + r);
}

/** Meter and household states of `TEMPLATES` households after `DAYS` days, through the real code. */
function templates(): { meters: MeterState[]; households: unknown[] } {
  const config = loadConfig({});
  const localTime = new LocalTime(config.timezone, config.bucketMinutes);
  const params = {
    localTime,
    maxGapMs: config.ingest.maxGapMinutes * 60_000,
    maxFlowLitersPerHour: config.ingest.maxFlowLitersPerHour,
    resetNearZeroLiters: config.ingest.resetNearZeroLiters,
    rolloverLiters: config.ingest.rolloverLiters,
  };
  const engine = new DetectorEngine(localTime, () => DEFAULT_RULES, ruleNeeds(DEFAULT_RULES));
  const meters: MeterState[] = [];
  for (let t = 0; t < TEMPLATES; t++) {
    let state = initialMeterState();
    let total = 1000 + t * 37;
    for (let q = 0; q < DAYS * 96; q++) {
      // Now and then a meter misses a few quarters (a gap the state remembers).
      if ((q * 7 + t) % 997 < 3) continue;
      total += quarterLiters(t, q);
      const ts = T0 + q * QUARTER;
      const r = normalize(state, { ts, totalLiters: Math.round(total * 1000) / 1000 }, params);
      state = r.state;
      for (const b of r.buckets) engine.apply({ kind: 'bucket', bucket: { householdId: `t-${t}`, ...b } });
      engine.apply({
        kind: 'reading',
        householdId: `t-${t}`,
        meterId: benchMeterId(t),
        ts,
        receivedAt: ts + 2_000,
      });
    }
    meters.push(state);
  }
  const households: unknown[] = [];
  engine.drainDirty((_, s) => households.push(s));
  return { meters, households };
}

function writeCheckpoint(dbPath: string, t: ReturnType<typeof templates>): void {
  const store = openStore({ path: dbPath, synchronous: 'NORMAL' });
  try {
    for (let from = 0; from < HOUSEHOLDS; from += 10_000) {
      store.transaction(() => {
        for (let n = from; n < Math.min(HOUSEHOLDS, from + 10_000); n++) {
          store.checkpoints.saveMeterState(benchMeterId(n), t.meters[n % TEMPLATES]);
          store.checkpoints.saveHouseholdState(householdId(n), t.households[n % TEMPLATES]!);
        }
      });
    }
  } finally {
    store.close();
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function status(pid: number | undefined): { rss: number; peak: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN);
  return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

interface StartFigures {
  seconds: number;
  cpu: number;
  rss: number;
  peak: number;
  /** When every household's state was restored (the service listens before, with a large checkpoint). */
  restored: { seconds: number; cpu: number };
  settled?: { cpu: number; rss: number; peak: number };
}

async function start(dir: string, settleSeconds = 0, probeMeters = 0): Promise<StartFigures> {
  const started = performance.now();
  const svc = await spawnService(dir, {}, 600_000);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(svc.proc.pid);
  try {
    // A large checkpoint is restored while the service already listens: until every household is back.
    const probe = await startProbe(svc.mqttPort, probeMeters);
    let restored: StartFigures['restored'];
    for (;;) {
      const health = (await fetch(`http://127.0.0.1:${svc.httpPort}/healthz`).then((r) => r.json())) as {
        checks: { householdStates?: string };
      };
      const state = health.checks.householdStates;
      if (state !== 'restoring') {
        if (state === 'failed') throw new Error('restoring the household states failed');
        restored = { seconds: (performance.now() - started) / 1000, cpu: cpuSeconds(svc.proc.pid) };
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (probe) {
      out(`${await probe.stop()} while restoring`);
      // The same meters for 10 s once restored: the latency the service has anyway at this load.
      const after = (await startProbe(svc.mqttPort, probeMeters))!;
      await new Promise((r) => setTimeout(r, 10_000));
      out(`${await after.stop()} once restored`);
    }
    // Let start-up work that follows the listening line (first checkpoint, timers) settle.
    await new Promise((r) => setTimeout(r, 2_000));
    const figures: StartFigures = { seconds, cpu, restored, ...status(svc.proc.pid) };
    if (settleSeconds > 0) {
      await new Promise((r) => setTimeout(r, settleSeconds * 1000));
      figures.settled = { cpu: cpuSeconds(svc.proc.pid), ...status(svc.proc.pid) };
    }
    return figures;
  } finally {
    await svc.stop();
  }
}

/**
 * `meters` meters spread over the households, each sending a reading every 200 ms: the PUBACK latencies while
 * the service restores (the first CONNECT of each checks its secret with scrypt).
 */
async function startProbe(port: number, meters: number) {
  if (meters <= 0 || HOUSEHOLDS < meters) return undefined;
  const latencies: number[] = [];
  const clients = await Promise.all(
    Array.from({ length: meters }, async (_, k) => {
      const id = benchMeterId(Math.floor((k * HOUSEHOLDS) / meters) + 7);
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        clientId: id,
        username: id,
        password: 'bench-restore-secret-0123456789',
        reconnectPeriod: 0,
      });
      return { id, client };
    }),
  );
  let total = 10_000_000;
  const timer = setInterval(() => {
    for (const { id, client } of clients) {
      const sent = performance.now();
      const payload = JSON.stringify({ ts: Date.now(), totalLiters: (total += 0.5) });
      client.publish(`meters/${id}/readings`, payload, { qos: 1 }, (err) => {
        if (!err) latencies.push(performance.now() - sent);
      });
    }
  }, 200);
  return {
    async stop(): Promise<string> {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 500));
      await Promise.all(clients.map(({ client }) => client.endAsync()));
      const sorted = latencies.sort((a, b) => a - b);
      const at = (q: number) =>
        (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(0);
      return (
        `  probe: ${sorted.length} readings from ${meters} meters acknowledged; PUBACK p50 ${at(0.5)} ms, ` +
        `p99 ${at(0.99)} ms, max ${at(1)} ms`
      );
    },
  };
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

async function main(): Promise<void> {
  out(`bench:restore — ${HOUSEHOLDS} households, ${DAYS} days of state`);
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'careflow-bench-restore-'));
  const empty = mkdtempSync(join(tmpdir(), 'careflow-bench-restore-base-'));
  try {
    const dbPath = join(dir, 'careflow.db');
    const reuse = values.dir !== undefined && existsSync(dbPath);
    if (!reuse) {
      const ms = await registerBenchMeters(dbPath, HOUSEHOLDS, 'bench-restore-secret-0123456789');
      out(`registry: ${HOUSEHOLDS} households written in ${(ms / 1000).toFixed(1)} s`);
    }
    if (!reuse || values['rewrite-states']) {
      let t0 = performance.now();
      const t = templates();
      out(
        `templates: ${TEMPLATES} households × ${DAYS} days in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      t0 = performance.now();
      writeCheckpoint(dbPath, t);
      out(
        `checkpoint: ${HOUSEHOLDS} meter and household states in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
          `database ${mb(statSync(dbPath).size)}`,
      );
    } else out(`reusing ${dir}: database ${mb(statSync(dbPath).size)}`);

    const base = await start(empty);
    out(
      `base (empty store): up in ${base.seconds.toFixed(1)} s (CPU ${base.cpu.toFixed(1)} s), RSS ${mb(base.rss)}, peak ${mb(base.peak)}`,
    );
    const full = await start(dir, Number(values.settle), Number(values.probe));
    const per = (bytes: number) => ((bytes - base.rss) / Math.max(1, HOUSEHOLDS)).toFixed(0);
    out(
      `${HOUSEHOLDS} households: up in ${full.seconds.toFixed(1)} s (target ≤ 10 s; CPU ${full.cpu.toFixed(1)} s); ` +
        `RSS ${mb(full.rss)} = ${per(full.rss)} B per household above the base (target ≤ 1,024); ` +
        `peak ${mb(full.peak)} = ${per(full.peak)} B per household`,
    );
    out(
      `  every household restored ${full.restored.seconds.toFixed(1)} s after the start (CPU ${full.restored.cpu.toFixed(1)} s); ` +
        'before that the service takes input, restoring a household when first touched',
    );
    if (full.settled)
      out(
        `  ${values.settle} s later: CPU ${full.settled.cpu.toFixed(1)} s in all; RSS ${mb(full.settled.rss)} = ` +
          `${per(full.settled.rss)} B per household; peak ${mb(full.settled.peak)} = ${per(full.settled.peak)} B`,
      );
  } finally {
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:restore failed: ${err.message}\n`);
  process.exitCode = 1;
});
