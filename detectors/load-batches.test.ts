import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { loadConfig } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import { silentLogger } from '../core/logger.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { DetectorEngine } from './detector-engine.ts';
import { startDetectors } from './start-detectors.ts';
import { ruleNeeds } from './validate-rules.ts';

const H = 3_600_000;

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
});
