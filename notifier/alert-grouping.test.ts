import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkerGroupedMessage } from '../core/alerts.ts';
import { ManualClock } from '../core/clock.ts';
import { LocalTime } from '../core/local-time.ts';
import { silentLogger } from '../core/logger.ts';
import { importRegistry } from '../core/registry-import.ts';
import { openStore, type Store } from '../core/store/store.ts';
import type { Detection } from '../core/streams.ts';
import { AlertService } from './alert-service.ts';
import { noiseReport } from './alert-noise.ts';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);
const MIN = 60_000;
let dir: string;
let store: Store;
let clock: ManualClock;
let service: AlertService;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'careflow-grouping-'));
  store = openStore({ path: join(dir, 'careflow.db') });
  await importRegistry(store, {
    streets: [{ code: 's1', name: 'Street' }],
    communities: [{ code: 'c1', street: 's1', name: 'Community' }],
    grids: [{ code: 'g1', community: 'c1', name: 'Grid 1' }],
    workers: [{ id: 'w1', name: 'Worker', grids: ['g1'], secret: 'secret-w1-0' }],
    households: ['h1', 'h2', 'h3', 'h4'].map((id) => ({ id, grid: 'g1', address: `1-${id}` })),
  });
  clock = new ManualClock(T0);
  service = new AlertService(store, clock, new LocalTime('Asia/Shanghai', 60), silentLogger, {
    groupWindowMs: MIN,
  });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function detection(hid: string, ruleId: string, kind: Detection['kind'], at: number, extra = {}): Detection {
  return {
    key: `${hid}|${ruleId}|${kind}|${at}`,
    householdId: hid,
    ruleId,
    ruleType: ruleId === 'continuous-flow' ? 'sustained-high' : 'sustained-low',
    kind,
    at,
    evidence: {
      windowStart: at - 24 * 60 * MIN,
      windowEnd: at,
      totalLiters: 0,
      thresholds: {},
      ruleVersion: 1,
    },
    severity: 'warning',
    audience: ruleId === 'continuous-flow' ? 'leak' : 'welfare',
    autoResolve: ruleId === 'continuous-flow',
    ...extra,
  };
}

const outbox = () =>
  store.db
    .prepare(
      'SELECT idempotency_key AS key, payload, next_attempt_at AS due, alert_id AS alertId FROM outbox ORDER BY id',
    )
    .all() as { key: string; payload: string; due: number; alertId: string }[];

describe('grouping notifications to one person', () => {
  it('sends the first new alert at once and holds a burst after it as one message listing the households', () => {
    const a1 = service.applyDetection(detection('h1', 'low-use', 'opened', T0))!;
    clock.advance(10_000);
    const a2 = service.applyDetection(detection('h2', 'low-use', 'opened', T0))!;
    const a3 = service.applyDetection(detection('h3', 'low-use', 'opened', T0))!;
    const rows = outbox();
    expect(rows).toHaveLength(2);
    expect(JSON.parse(rows[0]!.payload)).toMatchObject({ event: 'opened', alertId: a1.id });
    expect(rows[0]!.due).toBe(T0);
    const group = JSON.parse(rows[1]!.payload) as WorkerGroupedMessage;
    expect(group).toMatchObject({ event: 'grouped', count: 2 });
    expect(group.alerts.map((a) => a.alertId)).toEqual([a2.id, a3.id]);
    expect(group.message.en).toMatch(/^2 new alerts: 1-h2 .*; 1-h3 /);
    expect(group.message['zh-CN']).toMatch(/^2 条新警报：1-h2/);
    // It waits for the end of the window that the first message opened.
    expect(rows[1]!.due).toBe(T0 + MIN);
    // The grouping is on each grouped alert's timeline, naming the others.
    const grouped = store.alerts.timeline(a3.id).find((e) => e.kind === 'grouped');
    expect(grouped?.detail).toMatchObject({ worker: 'w1', channel: 'mqtt', with: [a2.id] });
    expect(store.alerts.timeline(a1.id).some((e) => e.kind === 'grouped')).toBe(false);
  });

  it('sends a new alert after the window on its own again', () => {
    service.applyDetection(detection('h1', 'low-use', 'opened', T0));
    clock.advance(2 * MIN);
    service.applyDetection(detection('h2', 'low-use', 'opened', T0));
    expect(outbox().map((r) => JSON.parse(r.payload).event)).toEqual(['opened', 'opened']);
  });

  it('tells a person who got an alert inside a group when it is over', () => {
    service.applyDetection(detection('h1', 'continuous-flow', 'opened', T0));
    const a2 = service.applyDetection(detection('h2', 'continuous-flow', 'opened', T0))!;
    service.applyDetection(detection('h2', 'continuous-flow', 'cleared', T0 + 5 * MIN));
    const resolved = outbox().filter(
      (r) => r.alertId === a2.id && JSON.parse(r.payload).event === 'resolved',
    );
    expect(resolved).toHaveLength(1);
  });

  it('counts a grouped message once in the noise report', () => {
    for (const h of ['h1', 'h2', 'h3', 'h4']) service.applyDetection(detection(h, 'low-use', 'opened', T0));
    const report = noiseReport(
      ['h1', 'h2', 'h3', 'h4'].flatMap((h) =>
        store.alerts.list({ householdId: h }).map((a) => ({
          householdId: h,
          ruleId: a.ruleId,
          audience: a.audience,
          timeline: store.alerts.timeline(a.id),
        })),
      ),
      (id) => id === 'w1',
      4,
      4,
    );
    expect(report.total).toMatchObject({ alertsOpened: 4, gridWorkerAlerts: 4 });
    expect(report.total.messagesToGridWorkers.total).toBe(2);
  });
});

describe('the re-open window', () => {
  it('re-opens an alert careflow closed, on its timeline, instead of opening a new one', () => {
    const a = service.applyDetection(detection('h1', 'continuous-flow', 'opened', T0))!;
    service.applyDetection(detection('h1', 'continuous-flow', 'cleared', T0 + 60 * MIN));
    expect(store.alerts.get(a.id)).toMatchObject({ state: 'resolved', resolvedBy: 'careflow' });
    clock.advance(30 * 60 * MIN);
    const again = service.applyDetection(
      detection('h1', 'continuous-flow', 'opened', T0 + 30 * 60 * MIN, { reopen: true }),
    )!;
    expect(again.id).toBe(a.id);
    expect(store.alerts.list({ householdId: 'h1' })).toHaveLength(1);
    expect(store.alerts.get(a.id)).toMatchObject({ state: 'open', resolvedAt: null, resolvedBy: null });
    const reopened = store.alerts.timeline(a.id).find((e) => e.kind === 'reopened');
    expect(reopened).toMatchObject({ actor: 'careflow', detail: { reason: 're-open window' } });
    const last = JSON.parse(outbox().at(-1)!.payload);
    expect(last).toMatchObject({ event: 'opened', alertId: a.id, state: 'open' });
    expect(last.message.en).toMatch(/^Back again: /);
  });

  it('opens a new alert when a person had closed the last one with an outcome', () => {
    const a = service.applyDetection(detection('h1', 'low-use', 'opened', T0))!;
    service.resolve(a.id, 'w1', 'resident-ok', null);
    const b = service.applyDetection(detection('h1', 'low-use', 'opened', T0 + MIN, { reopen: true }))!;
    expect(b.id).not.toBe(a.id);
    expect(store.alerts.get(a.id)).toMatchObject({ state: 'resolved', outcome: 'resident-ok' });
  });
});

describe('one welfare episode, one alert', () => {
  const episode = { episode: { ruleId: 'no-water-at-peak', since: T0 } };

  it('writes a welfare rule that joined the episode to the episode’s alert: no new alert, no message', () => {
    const a = service.applyDetection(detection('h1', 'no-water-at-peak', 'opened', T0))!;
    const sent = outbox().length;
    clock.advance(15 * 60 * MIN);
    const joined = service.applyDetection(detection('h1', 'low-use', 'opened', T0 + 15 * 60 * MIN, episode))!;
    expect(joined.id).toBe(a.id);
    expect(store.alerts.list({ householdId: 'h1' })).toHaveLength(1);
    expect(outbox()).toHaveLength(sent);
    expect(store.alerts.timeline(a.id).at(-1)).toMatchObject({
      kind: 'detection-updated',
      detail: { joined: 'low-use', detection: `h1|low-use|opened|${T0 + 15 * 60 * MIN}` },
    });
    // What the worker faces: one new problem, not two.
    const report = noiseReport(
      store.alerts.list({ householdId: 'h1' }).map((x) => ({ ...x, timeline: store.alerts.timeline(x.id) })),
      (id) => id === 'w1',
      1,
      1,
    );
    expect(report.total.conditionOnsets).toBe(1);
    expect(report.total.gridWorkerAlerts).toBe(1);
  });

  it('clears the episode’s alert when the episode ends, not when its first rule does', () => {
    const a = service.applyDetection(detection('h1', 'no-water-at-peak', 'opened', T0))!;
    service.applyDetection(detection('h1', 'low-use', 'opened', T0 + 15 * 60 * MIN, episode));
    // The dry morning is over but the dry day is not: written down, the alert stays as it is.
    service.applyDetection(detection('h1', 'no-water-at-peak', 'cleared', T0 + 16 * 60 * MIN, episode));
    service.applyDetection(detection('h1', 'low-use', 'updated', T0 + 17 * 60 * MIN, episode));
    expect(store.alerts.timeline(a.id).some((e) => e.kind === 'condition-cleared')).toBe(false);
    const sent = outbox().length;
    const ends = { episode: { ...episode.episode, ends: true } };
    service.applyDetection(detection('h1', 'low-use', 'cleared', T0 + 20 * 60 * MIN, ends));
    const cleared = store.alerts.timeline(a.id).filter((e) => e.kind === 'condition-cleared');
    expect(cleared).toMatchObject([{ detail: { detection: `h1|low-use|cleared|${T0 + 20 * 60 * MIN}` } }]);
    expect(store.alerts.get(a.id)).toMatchObject({ state: 'open' }); // a person closes a welfare alert
    expect(JSON.parse(outbox().at(sent)!.payload)).toMatchObject({ event: 'updated', alertId: a.id });
    expect(store.alerts.list({ householdId: 'h1' })).toHaveLength(1);
  });

  it('joins the episode’s alert after a person closed it, and opens its own without one', () => {
    const a = service.applyDetection(detection('h1', 'no-water-at-peak', 'opened', T0))!;
    service.resolve(a.id, 'w1', 'resident-away', 'at her daughter’s');
    const joined = service.applyDetection(detection('h1', 'low-use', 'opened', T0 + MIN, episode))!;
    expect(joined.id).toBe(a.id);
    expect(store.alerts.get(a.id)).toMatchObject({ state: 'resolved', outcome: 'resident-away' });
    // h2 never had the episode's alert here: its dry day opens an alert of its own.
    const own = service.applyDetection(detection('h2', 'low-use', 'opened', T0 + MIN, episode))!;
    expect(own).toMatchObject({ householdId: 'h2', ruleId: 'low-use', state: 'open' });
  });
});
