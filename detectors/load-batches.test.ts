import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { loadConfig } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import { silentLogger } from '../core/logger.ts';
import { READER_THREAD_FROM } from '../core/store/checkpoint-reader.ts';
import { openStore } from '../core/store/store.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { DetectorEngine } from './detector-engine.ts';
import { encodeHouseholdState } from './household-checkpoint.ts';
import { SqliteDetectorStateRepository } from './sqlite-repository.ts';
import { startDetectors } from './start-detectors.ts';
import { ruleNeeds } from './validate-rules.ts';

const H = 3_600_000;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('restoring households in batches', () => {
  it('skips clock ticks while batches are still coming, and judges silences once all are restored', async () => {
    const config = loadConfig({});
    const clock = new ManualClock();
    const localTime = new LocalTime(config.timezone, config.bucketMinutes);
    // A household last heard from at the start: meter-silent falls due six hours later.
    const before = new DetectorEngine(localTime, () => DEFAULT_RULES, ruleNeeds(DEFAULT_RULES));
    const t0 = clock.now();
    for (let k = 0; k < 4; k++)
      before.apply({
        kind: 'reading',
        householdId: 'h-1',
        meterId: 'm-1',
        ts: t0 - k * H,
        receivedAt: t0 - k * H,
      });
    const saved: [string, unknown][] = [];
    before.drainDirty((hid, s) => saved.push([hid, s]));

    const inputs = new Subject<DetectorInput>();
    const detectors = startDetectors(config, { inputs, clock, localTime, logger: silentLogger });
    const seen: Detection[] = [];
    detectors.detections.subscribe((d) => seen.push(d));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* batches() {
      yield saved;
      await gate;
      yield [] as [string, unknown][];
    }
    const loading = detectors.loadBatches(batches());
    // Past the silence while batches are still coming (this household's came first): ticks judge nothing yet.
    while (detectors.engine.householdCount() === 0) await new Promise((r) => setImmediate(r));
    clock.advance(12 * H);
    expect(seen).toEqual([]);
    release();
    await loading;
    expect(detectors.engine.householdCount()).toBe(1);
    // The next tick judges the restored household.
    clock.advance(config.detectors.tickIntervalMs);
    expect(seen.map((d) => [d.householdId, d.ruleId, d.kind])).toContainEqual([
      'h-1',
      'meter-silent',
      'opened',
    ]);
    detectors.stop();
  });

  it('takes input while a large checkpoint is read by the second thread: a household touched first is restored, then changed, and its batch row does not overwrite it', async () => {
    const config = loadConfig({});
    const clock = new ManualClock();
    const localTime = new LocalTime(config.timezone, config.bucketMinutes);
    const t0 = clock.now();
    // Four template households with a few days of buckets and readings.
    const templates = new DetectorEngine(localTime, () => DEFAULT_RULES, ruleNeeds(DEFAULT_RULES));
    for (let h = 0; h < 72; h++)
      for (let t = 0; t < 4; t++) {
        const start = t0 - (72 - h) * H;
        templates.apply({
          kind: 'bucket',
          bucket: { householdId: `t-${t}`, start, end: start + H, liters: ((h * 7 + t) % 13) / 2 },
        });
        templates.apply({
          kind: 'reading',
          householdId: `t-${t}`,
          meterId: `m-${t}`,
          ts: start + H,
          receivedAt: start + H + 1_000,
        });
      }
    const states: Uint8Array[] = [];
    templates.drainDirty((_, s) => states.push(s));
    const dir = mkdtempSync(join(tmpdir(), 'careflow-restore-'));
    dirs.push(dir);
    const store = openStore({ path: join(dir, 'careflow.db'), synchronous: 'NORMAL' });
    const n = READER_THREAD_FROM + 500;
    store.transaction(() => {
      for (let k = 0; k < n; k++) store.checkpoints.saveHouseholdState(`h-${k}`, states[k % 4]!);
    });
    const repo = new SqliteDetectorStateRepository(store);
    expect(repo.many()).toBe(true);
    // The newest hour of one household of the last batch, arriving before any batch is restored.
    const next: DetectorInput[] = [
      { kind: 'bucket', bucket: { householdId: `h-${n - 2}`, start: t0, end: t0 + H, liters: 42 } },
      { kind: 'reading', householdId: `h-${n - 2}`, meterId: 'm-x', ts: t0 + H, receivedAt: t0 + H },
    ];

    const run = async (whileRestoring: boolean) => {
      const inputs = new Subject<DetectorInput>();
      const detectors = startDetectors(config, { inputs, clock, localTime, logger: silentLogger, store });
      if (whileRestoring) {
        const loading = detectors.loadBatches(repo.stateBatches(), (hid) => repo.state(hid));
        for (const i of next) inputs.next(i);
        expect(detectors.engine.householdCount()).toBe(1);
        await loading;
      } else {
        await detectors.loadBatches(repo.stateBatches());
        for (const i of next) inputs.next(i);
      }
      const engine = detectors.engine;
      detectors.stop();
      return engine;
    };
    const first = await run(false);
    const second = await run(true);
    store.close();
    expect(second.householdCount()).toBe(n);
    for (const id of [`h-0`, `h-${n - 3}`, `h-${n - 2}`, `h-${n - 1}`])
      expect(encodeHouseholdState(second.state(id)!)).toEqual(encodeHouseholdState(first.state(id)!));
    expect(second.state(`h-${n - 2}`)!.lastReceivedAt).toBe(t0 + H);
    // Households not touched hold exactly their checkpoint (in chunks laid out at once for the whole restore).
    for (const k of [0, 1, 4_099, n - 1])
      expect(encodeHouseholdState(second.state(`h-${k}`)!)).toEqual(states[k % 4]);
  });
});
