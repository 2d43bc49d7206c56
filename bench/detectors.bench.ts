/**
 * Detector benchmark: `npm run bench:detectors [-- --households 300000 --days 21 --backtest-households 3000]`.
 *
 * 1. Memory per household: the live engine (one Map, typed-array chunks) fed `--days` days of hourly buckets
 *    for `--households` households through `engine.apply`, so every household has a full learned history
 *    (21 days for the learned peak) and a full 24-hour ring. Measured as the growth of V8 heap + ArrayBuffer
 *    memory after a full GC, divided by the households. Target ≤ 1 KB.
 * 2. Backtest speed: household-buckets per second through the same `step`, from memory (one core), and end
 *    to end from a SQLite store (`runBacktest`: reading buckets, live alerts, pairing). Target ≥ 1,000,000/s.
 *
 * Rates are per second of this process's CPU time (one core: the detectors are single-threaded), so that a
 * busy machine does not distort them; wall-clock seconds are printed too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { runBacktest } from '../backtest/backtest.ts';
import { BacktestRequest } from '../core/backtest.ts';
import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { openStore } from '../core/store/store.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import { DetectorEngine } from '../detectors/detector-engine.ts';
import { createHouseholdState } from '../detectors/household-state.ts';
import { replayHousehold, type BucketRow } from '../detectors/replay.ts';
import { RuleBook } from '../detectors/rule-book.ts';
import { ruleNeeds } from '../detectors/validate-rules.ts';

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '300000' },
    days: { type: 'string', default: '21' },
    'backtest-households': { type: 'string', default: '3000' },
    'backtest-days': { type: 'string', default: '30' },
  },
});
const HOUSEHOLDS = Number(values.households);
const DAYS = Number(values.days);
const BT_HOUSEHOLDS = Number(values['backtest-households']);
const BT_DAYS = Number(values['backtest-days']);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const HOUR = 3_600_000;
/** 2026-01-05 00:00 Asia/Shanghai. */
const T0 = Date.UTC(2026, 0, 4, 16);
const localTime = new LocalTime('Asia/Shanghai', 60);

/** Typical liters per local hour; each household scales it, every hour varies, some hours are dry. */
const PATTERN = [0, 0, 0, 0, 0, 0.5, 8, 12, 6, 3, 2, 4, 6, 3, 2, 2, 4, 8, 12, 10, 6, 3, 1, 0.2];
function usage(household: number, hour: number): number | null {
  let x = (household * 2_654_435_761 + hour * 40_503) >>> 0;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  const r = (x >>> 0) / 4_294_967_296;
  if (r < 0.002) return null; // a gap now and then
  const leak = household % 100 === 0 ? 2 : 0; // one household in a hundred has a running cistern
  const scale = 0.5 + (household % 7) / 4;
  return Math.round((PATTERN[hour % 24]! * scale * (0.5 + r) + leak) * 1000) / 1000;
}

/** CPU seconds of this process since `from` (user + system). */
function cpuSeconds(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

function memory(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function memoryPerHousehold() {
  const before = memory();
  const ids = Array.from({ length: HOUSEHOLDS }, (_, i) => `h-${String(i).padStart(6, '0')}`);
  const engine = new DetectorEngine(localTime, () => DEFAULT_RULES, ruleNeeds(DEFAULT_RULES));
  const bucket = { householdId: '', start: 0, end: 0, liters: null as number | null };
  const input: DetectorInput = { kind: 'bucket', bucket };
  const started = process.cpuUsage();
  const wall = performance.now();
  let detections = 0;
  const hours = DAYS * 24;
  for (let h = 0; h < hours; h++) {
    bucket.start = T0 + h * HOUR;
    bucket.end = bucket.start + HOUR;
    for (let i = 0; i < HOUSEHOLDS; i++) {
      bucket.householdId = ids[i]!;
      bucket.liters = usage(i, h);
      detections += engine.apply(input).length;
    }
    if (h % 24 === 23) process.stderr.write(`\rlive engine: day ${(h + 1) / 24}/${DAYS}`);
  }
  process.stderr.write('\n');
  const seconds = cpuSeconds(started);
  const wallSeconds = (performance.now() - wall) / 1000;
  const after = memory();
  const perHousehold = (after - before) / HOUSEHOLDS;
  const caps = engine.capacities();
  // Keep the engine alive until measured.
  if (engine.householdCount() !== HOUSEHOLDS) throw new Error('engine lost households');
  return { perHousehold, liveRate: (HOUSEHOLDS * hours) / seconds, wallSeconds, detections, caps };
}

function backtestFromMemory() {
  const hours = BT_DAYS * 24;
  const rows: BucketRow[][] = Array.from({ length: BT_HOUSEHOLDS }, (_, i) =>
    Array.from({ length: hours }, (_, h): BucketRow => [T0 + h * HOUR, T0 + (h + 1) * HOUR, usage(i, h)]),
  );
  const needs = ruleNeeds(DEFAULT_RULES);
  const state = createHouseholdState(24, needs.historyDays);
  const ctx = { localTime, rulesVersion: 1 };
  const out: Detection[] = [];
  const run = () => {
    const started = process.cpuUsage();
    let buckets = 0;
    for (let i = 0; i < BT_HOUSEHOLDS; i++) {
      buckets += replayHousehold(`h-${i}`, state, rows[i]!, DEFAULT_RULES, ctx, T0, T0 + hours * HOUR, out);
      out.length = 0;
    }
    return buckets / cpuSeconds(started);
  };
  run(); // warm up the JIT
  return Math.max(run(), run());
}

async function backtestFromStore() {
  const dir = mkdtempSync(join(tmpdir(), 'careflow-bench-detectors-'));
  const store = openStore({ path: join(dir, 'careflow.db'), synchronous: 'NORMAL' });
  try {
    const households = Math.min(BT_HOUSEHOLDS, 2000);
    const hours = BT_DAYS * 24;
    store.transaction(() => {
      store.registry.upsertStreet('s1', 'Street');
      store.registry.upsertCommunity('c1', 's1', 'Community');
      store.registry.upsertGrid('g1', 'c1', 'Grid');
      for (let i = 0; i < households; i++) {
        const id = `h-${String(i).padStart(6, '0')}`;
        store.registry.upsertHousehold({
          id,
          gridCode: 'g1',
          address: id,
          livesAlone: false,
          elderly: false,
          awayUntil: null,
          notes: null,
        });
        for (let h = 0; h < hours; h++)
          store.usage.upsert({
            householdId: id,
            start: T0 + h * HOUR,
            end: T0 + (h + 1) * HOUR,
            liters: usage(i, h),
          });
      }
    });
    const book = new RuleBook(store, DEFAULT_RULES, {}, 60);
    const to = T0 + hours * HOUR;
    const request = BacktestRequest.parse({ scope: 'global', from: to - 7 * 24 * HOUR, to });
    const started = process.cpuUsage();
    const report = await runBacktest({ store, book, localTime }, request);
    const seconds = cpuSeconds(started);
    return { rate: report.buckets / seconds, buckets: report.buckets, seconds, summary: report.summary };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const mem = memoryPerHousehold();
const fromMemory = backtestFromMemory();
const fromStore = await backtestFromStore();
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const rows: [string, string, string][] = [
  ['households (live engine)', n(HOUSEHOLDS), ''],
  [
    'days of history fed',
    String(DAYS),
    `ring ${mem.caps.ringCapacity} buckets, history ${mem.caps.historyDays} days`,
  ],
  [
    'memory per household',
    `${n(mem.perHousehold)} B`,
    `target ≤ 1,024 B: ${mem.perHousehold <= 1024 ? 'met' : 'MISSED'}`,
  ],
  [
    'live engine.apply rate',
    `${n(mem.liveRate)} buckets/s`,
    `${n(mem.detections)} detections, ${mem.wallSeconds.toFixed(0)} s wall`,
  ],
  [
    'backtest from memory',
    `${n(fromMemory)} household-buckets/s`,
    `target ≥ 1,000,000: ${fromMemory >= 1e6 ? 'met' : 'MISSED'}`,
  ],
  [
    'backtest from SQLite',
    `${n(fromStore.rate)} household-buckets/s`,
    `${n(fromStore.buckets)} buckets in ${fromStore.seconds.toFixed(2)} CPU s (reads included)`,
  ],
];
for (const [name, value, note] of rows) console.log(`${name.padEnd(28)}${value.padEnd(34)}${note}`);
