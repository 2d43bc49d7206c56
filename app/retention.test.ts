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

describe('retention per purpose', () => {
  const policy = {
    readingRetentionDays: 30,
    welfareAlertRetentionDays: 10,
    leakAlertRetentionDays: 20,
    maintenanceAlertRetentionDays: 5,
  };
  const alert = (
    id: string,
    audience: 'welfare' | 'leak' | 'maintenance',
    resolvedDaysAgo: number | null,
    t0: number,
  ) => ({
    id,
    householdId: 'h1',
    gridCode: 'g1',
    ruleId: audience === 'welfare' ? 'low-use' : audience === 'leak' ? 'continuous-flow' : 'meter-silent',
    severity: 'warning' as const,
    audience,
    state: resolvedDaysAgo === null ? ('open' as const) : ('resolved' as const),
    openedAt: t0 - 60 * DAY,
    updatedAt: t0,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: resolvedDaysAgo === null ? null : t0 - resolvedDaysAgo * DAY,
    resolvedBy: null,
    outcome: null,
    note: null,
    evidence: { windowStart: 0, windowEnd: 0, totalLiters: 0, thresholds: {}, ruleVersion: 1 },
  });

  it('deletes resolved alerts and processed readings past their purpose’s period, on schedule', () => {
    dir = tempDataDir();
    store = openStore({ path: join(dir, 'careflow.db') });
    const t0 = Date.UTC(2026, 3, 1);
    const clock = new ManualClock(t0);
    const alerts = [
      alert('w-old', 'welfare', 11, t0),
      alert('w-new', 'welfare', 9.9, t0),
      alert('l-mid', 'leak', 11, t0), // a welfare alert this old would go; a leak alert is kept 20 days
      alert('m-old', 'maintenance', 5.1, t0),
      alert('open', 'welfare', null, t0), // never pruned while open
    ];
    for (const a of alerts) {
      store.alerts.insert(a);
      store.alerts.addTimeline(a.id, { at: a.openedAt, kind: 'opened', actor: null, detail: {} });
    }
    for (const days of [40, 31, 29, 1]) store.inbox.append('m1', t0 - days * DAY, 100, t0 - days * DAY);
    store.checkpoints.setCursor(3); // the newest processed reading is the 29-day-old one
    const retention = startRetention(400, { store, clock, logger: silentLogger, policy });
    const left = () =>
      store.alerts
        .list({})
        .map((a) => a.id)
        .sort();
    expect(left()).toEqual(['l-mid', 'open', 'w-new']);
    expect(store.alerts.timeline('w-old')).toEqual([]);
    expect(store.inbox.after(0, 10).map((r) => Math.round((t0 - r.receivedAt) / DAY))).toEqual([29, 1]);
    clock.advance(6 * 3_600_000 - 1);
    expect(left()).toEqual(['l-mid', 'open', 'w-new']);
    clock.advance(1); // six hours on, the next run: w-new is now past its ten days
    expect(left()).toEqual(['l-mid', 'open']);
    store.checkpoints.setCursor(4);
    clock.advance(9 * DAY);
    expect(left()).toEqual(['open']);
    // Readings are pruned only once processed: the 1-day-old one is still young; the 29-day-old one is not.
    expect(store.inbox.after(0, 10).map((r) => Math.round((t0 - r.receivedAt) / DAY))).toEqual([1]);
    retention.stop();
  });
});
