import { afterEach, expect, it } from 'vitest';
import type { Alert } from '../core/alerts.ts';
import type { Mode } from '../core/repository.ts';
import type { Detection } from '../core/streams.ts';
import { eachBackend, type Backend } from '../test/repositories/backends.ts';
import { sqliteAlerts, type AlertRepository } from './alert-repository.ts';
import { PgAlertRepository } from './postgres-alerts.ts';

/** One behavioural suite for the notifier's alerts, run against the embedded SQLite store and PostgreSQL. */
eachBackend("the notifier's alert repository", (fresh) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });
  async function open(): Promise<AlertRepository<Mode>> {
    backend = await fresh();
    return backend.store ? sqliteAlerts(backend.store) : await PgAlertRepository.open(backend.pool!);
  }
  const T = 1_767_225_600_000;
  const alert = (id: string, over: Partial<Alert> = {}): Alert => ({
    id,
    householdId: 'h1',
    gridCode: 'g1',
    ruleId: 'no-water-morning',
    severity: 'warning',
    audience: 'welfare',
    state: 'open',
    openedAt: T,
    updatedAt: T,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    resolvedBy: null,
    outcome: null,
    note: null,
    evidence: {
      windowStart: T - 3_600_000,
      windowEnd: T,
      buckets: [0, null, 0.5],
      ruleVersion: 3,
      thresholds: { maxLiters: 1 },
    },
    ...over,
  });
  const detection = (key: string, over: Partial<Detection> = {}) =>
    ({ key, householdId: 'h1', ruleId: 'no-water-morning', kind: 'opened', at: T, ...over }) as Detection;

  it('stores an alert as given and updates its state', async () => {
    const repo = await open();
    const a = alert('a1', { note: '请上门看看' });
    await repo.insert(a);
    expect(await repo.get('a1')).toEqual(a);
    expect(await repo.get('nope')).toBeUndefined();
    const acked = {
      ...a,
      state: 'acknowledged' as const,
      updatedAt: T + 5,
      acknowledgedAt: T + 5,
      acknowledgedBy: 'w1',
    };
    await repo.update(acked);
    expect(await repo.get('a1')).toEqual(acked);
    const resolved = {
      ...acked,
      state: 'resolved' as const,
      severity: 'critical' as const,
      resolvedAt: T + 9,
      resolvedBy: 'w1',
      outcome: 'resident-ok' as const,
      updatedAt: T + 9,
    };
    await repo.update(resolved);
    expect(await repo.get('a1')).toEqual(resolved);
  });

  it('keeps at most one unresolved alert per household and rule, and finds the latest in any state', async () => {
    const repo = await open();
    await repo.insert(alert('a1', { state: 'resolved', resolvedAt: T + 1 }));
    await repo.insert(alert('a2'));
    await expect((async () => repo.insert(alert('a3')))()).rejects.toThrow();
    expect((await repo.findOpen('h1', 'no-water-morning'))?.id).toBe('a2');
    expect(await repo.findOpen('h1', 'other-rule')).toBeUndefined();
    // Opened at the same time: the one inserted last is the latest.
    expect((await repo.latest('h1', 'no-water-morning'))?.id).toBe('a2');
    await repo.insert(alert('a0', { openedAt: T + 10, ruleId: 'r2' }));
    await repo.insert(alert('a9', { openedAt: T + 5, ruleId: 'r2', state: 'resolved' }));
    expect((await repo.latest('h1', 'r2'))?.id).toBe('a0');
  });

  it('lists alerts newest first with filters, grid and household scopes and a limit', async () => {
    const repo = await open();
    await repo.insert(alert('b', { openedAt: T + 1, gridCode: 'g1', householdId: 'h1' }));
    await repo.insert(alert('a', { openedAt: T + 1, gridCode: 'g2', householdId: 'h2' }));
    await repo.insert(
      alert('c', { openedAt: T + 2, gridCode: 'g2', householdId: 'h3', state: 'acknowledged' }),
    );
    await repo.insert(alert('B', { openedAt: T, gridCode: 'g1', householdId: 'h4', ruleId: 'r2' }));
    const ids = async (f?: Parameters<AlertRepository<Mode>['list']>[0]) =>
      (await repo.list(f)).map((x) => x.id);
    expect(await ids()).toEqual(['c', 'a', 'b', 'B']);
    expect(await ids({ state: 'open' })).toEqual(['a', 'b', 'B']);
    expect(await ids({ grid: 'g1' })).toEqual(['b', 'B']);
    expect(await ids({ grids: ['g2', "g'1"] })).toEqual(['c', 'a']);
    expect(await ids({ grids: [] })).toEqual([]);
    expect(await ids({ householdIds: ['h4', 'h1'] })).toEqual(['b', 'B']);
    expect(await ids({ householdIds: [] })).toEqual([]);
    expect(await ids({ householdId: 'h3' })).toEqual(['c']);
    expect(await ids({ limit: 2 })).toEqual(['c', 'a']);
  });

  it('numbers timeline entries across alerts and feeds them with their alert summary', async () => {
    const repo = await open();
    expect(await repo.latestTimelineId()).toBe(0);
    await repo.insert(alert('a1'));
    await repo.insert(alert('a2', { householdId: 'h2', gridCode: 'g2' }));
    const e1 = await repo.addTimeline('a1', { at: T, kind: 'opened', actor: null, detail: { text: '开' } });
    const e2 = await repo.addTimeline('a2', { at: T + 1, kind: 'opened', actor: null, detail: {} });
    const e3 = await repo.addTimeline('a1', {
      at: T + 2,
      kind: 'acknowledged',
      actor: 'w1',
      detail: { via: 'app' },
    });
    expect(e2).toBeGreaterThan(e1);
    expect(e3).toBeGreaterThan(e2);
    expect(await repo.latestTimelineId()).toBe(e3);
    expect(await repo.timeline('a1')).toEqual([
      { at: T, kind: 'opened', actor: null, detail: { text: '开' } },
      { at: T + 2, kind: 'acknowledged', actor: 'w1', detail: { via: 'app' } },
    ]);
    await repo.update(alert('a1', { state: 'acknowledged' }));
    const feed = await repo.timelineSince(e1, 10);
    expect(feed.map((e) => [e.id, e.alert.id, e.alert.state])).toEqual([
      [e2, 'a2', 'open'],
      [e3, 'a1', 'acknowledged'],
    ]);
    expect(feed[0]!.alert).toEqual({
      id: 'a2',
      householdId: 'h2',
      grid: 'g2',
      ruleId: 'no-water-morning',
      severity: 'warning',
      state: 'open',
    });
    expect(await repo.timelineSince(e1, 1)).toHaveLength(1);
    await expect(
      (async () => repo.addTimeline('no-such-alert', { at: T, kind: 'x', actor: null, detail: {} }))(),
    ).rejects.toThrow();
  });

  it('applies a detection once and remembers which alert it went to', async () => {
    const repo = await open();
    await repo.insert(alert('a1'));
    expect(await repo.recordDetection(detection('d1'), null)).toBe(true);
    expect(await repo.recordDetection(detection('d1'), 'a1')).toBe(false);
    expect(await repo.alertOfDetection('d1')).toBeNull();
    await repo.linkDetection('d1', 'a1');
    expect(await repo.alertOfDetection('d1')).toBe('a1');
    expect(await repo.recordDetection(detection('d2', { kind: 'cleared' } as Partial<Detection>), 'a1')).toBe(
      true,
    );
    expect(await repo.alertOfDetection('d2')).toBe('a1');
    expect(await repo.alertOfDetection('unknown')).toBeNull();
  });

  it('lets exactly one of concurrent applications of a detection count', async () => {
    const repo = await open();
    const results = await Promise.all(
      Array.from({ length: 8 }, async () => repo.recordDetection(detection('dup'), null)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
