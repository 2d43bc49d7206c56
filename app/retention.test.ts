import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { silentLogger } from '../core/logger.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { tempDataDir } from '../test/harness.ts';
import { startRetention } from './retention.ts';

const DAY = 86_400_000;
let dir: string;
let store: Store;

afterEach(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('retention', () => {
  it('prunes usage buckets older than the retention period, at start and every six hours', () => {
    dir = tempDataDir();
    store = openStore({ path: join(dir, 'careflow.db') });
    const t0 = Date.UTC(2026, 0, 10);
    const clock = new ManualClock(t0);
    for (const days of [12, 10.5, 9, 1]) {
      const start = t0 - days * DAY;
      store.usage.upsert({ householdId: 'h1', start, end: start + 3_600_000, liters: 1 });
    }
    const retention = startRetention(10, { store, clock, logger: silentLogger });
    expect(store.usage.range('h1', 0, t0).map((b) => (t0 - b.start) / DAY)).toEqual([9, 1]);
    clock.advance(6 * 3_600_000);
    expect(store.usage.range('h1', 0, t0).map((b) => (t0 - b.start) / DAY)).toEqual([9, 1]);
    clock.advance(18 * 3_600_000); // now exactly 10 days after the 9-day-old bucket began: kept
    expect(store.usage.range('h1', 0, t0)).toHaveLength(2);
    clock.advance(DAY);
    expect(store.usage.range('h1', 0, t0).map((b) => (t0 - b.start) / DAY)).toEqual([1]);
    retention.stop();
  });
});
