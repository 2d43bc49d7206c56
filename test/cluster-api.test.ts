import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgPool } from '../core/postgres.ts';
import type { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import type { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runBacktest } from '../backtest/backtest.ts';
import { BacktestRequest, type BacktestReport } from '../core/backtest.ts';
import { loadConfig } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import { openStore } from '../core/store/store.ts';
import { AwayBook } from '../detectors/away-book.ts';
import { pgAlertFacts, pgPlacedAlerts } from '../cluster/report-facts.ts';
import { PgIngestRepository } from '../ingest/postgres-repository.ts';
import { ConsentGate } from '../detectors/consent-gate.ts';
import { RuleBook } from '../detectors/rule-book.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { startClusterApis, type ClusterApis, type WorkerApi } from './cluster-api-harness.ts';
import { ADMIN_TOKEN, seedRegistry, tempDataDir, testRegistry } from './harness.ts';
import { SKIP_POSTGRES } from './postgres.ts';

/**
 * The API and console a cluster worker serves, from a real PostgreSQL: two workers' HTTP apps (each with its own
 * copy of the registry, as a worker follows it) on one shared store, over real HTTP. A person logged in through
 * one worker is logged in on the other; alerts, timelines, usage and events are the shared store's; people's
 * actions through either worker follow the alert lifecycle, stop or restart the shared escalation chain, queue the
 * messages and write the audit log, and two people acting at once through two workers are put in order.
 */
/** Failed logins an account may have in the window, across the workers. */
const MAX_FAILURES = 4;
const registry = testRegistry(2);
registry.workers!.push({
  id: 'staff-c1',
  name: 'Community staff c1',
  role: 'community-staff',
  communities: ['c1'],
  secret: 'secret-staff-c1',
});
// The account the failed-login case guesses at (locked for the rest of the file).
registry.workers!.push({
  id: 'w-guessed',
  name: 'Guessed',
  role: 'grid-worker',
  grids: ['g1'],
  secret: 's-guessed',
});
for (const w of registry.workers!) w.password = `password-${w.id}`;

let cluster: ClusterApis;
let pool: PgPool;
let alerts: PgAlertRepository;
let escalations: PgEscalationRepository;
let workers: WorkerApi[] = [];

beforeAll(async () => {
  if (SKIP_POSTGRES) return;
  cluster = await startClusterApis(registry, {
    workers: 2,
    feedPollMs: 60_000,
    loginMaxFailures: MAX_FAILURES,
  });
  ({ pool, alerts, escalations, workers } = cluster);
}, 120_000);

afterAll(() => cluster?.dispose(), 60_000);

async function call(
  w: WorkerApi,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> & { code?: string } }> {
  const res = await fetch(w.base + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text.startsWith('{') ? JSON.parse(text) : { text } };
}

async function login(w: WorkerApi, id: string): Promise<string> {
  const res = await call(w, 'POST', '/api/login', undefined, { id, password: `password-${id}` });
  expect(res.status).toBe(200);
  return res.json.token as string;
}

const openAlert = (id: string, grid = 'g1', via?: WorkerApi) =>
  cluster.openAlert(id, { grid, ...(via ? { via } : {}) });

const kinds = async (id: string) => (await alerts.timeline(id)).map((e) => e.kind);

describe.skipIf(SKIP_POSTGRES)("a cluster worker's API and console, from PostgreSQL", () => {
  it('serves the console, keeps a login valid on every worker, and refuses strangers', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const page = await fetch(a.base + '/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app">');
    expect((await call(a, 'GET', '/api/alerts')).status).toBe(401);
    expect((await call(a, 'POST', '/api/login', undefined, { id: 'w-g1', password: 'wrong' })).status).toBe(
      401,
    );

    const token = await login(a, 'w-g1');
    const me = await call(b, 'GET', '/api/me', token);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ id: 'w-g1' });
    // What the workers do not serve is not found, to a logged-in caller.
    expect((await call(b, 'GET', '/api/rules', token)).json.code).toBe('ERR_API_NOT_FOUND');
  });

  it("counts an account's failed logins across the workers, also when they come at once", async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const wrong = (w: WorkerApi) =>
      call(w, 'POST', '/api/login', undefined, { id: 'w-guessed', password: 'guess' });
    // Eight guesses at once, half through each worker: only the allowance is checked, the rest refused unchecked.
    const answers = await Promise.all([a, b, a, b, a, b, a, b].map(wrong));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(MAX_FAILURES);
    expect(statuses.filter((s) => s === 429)).toHaveLength(8 - MAX_FAILURES);
    // Even the right password waits now, through either worker (each alone would have allowed it).
    for (const w of [a, b]) {
      const right = await call(w, 'POST', '/api/login', undefined, {
        id: 'w-guessed',
        password: 'password-w-guessed',
      });
      expect(right.status).toBe(429);
      expect(right.json.code).toBe('ERR_API_RATE_LIMITED');
    }
    // Another account is not affected.
    await login(b, 'w-g1');
  });

  it("lists and shows alerts of the caller's grids only, with address, message and level", async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    await openAlert('list-g1');
    await openAlert('list-g2', 'g2');
    const token = await login(b, 'w-g1');
    const list = await call(a, 'GET', '/api/alerts?state=open', token);
    expect(list.status).toBe(200);
    const items = list.json.alerts as { id: string; address: string; escalationLevel: number | null }[];
    expect(items.map((i) => i.id)).toContain('list-g1');
    expect(items.map((i) => i.id)).not.toContain('list-g2');
    expect(items.find((i) => i.id === 'list-g1')).toMatchObject({
      address: 'g1 楼 1 号',
      escalationLevel: 0,
      message: { en: 'list-g1: unusual water use' },
    });
    const one = await call(b, 'GET', '/api/alerts/list-g1', token);
    expect(one.status).toBe(200);
    expect((one.json.timeline as { kind: string }[])[0]!.kind).toBe('opened');
    // Another grid's alert answers as if it did not exist.
    expect((await call(b, 'GET', '/api/alerts/list-g2', token)).status).toBe(404);
    expect((await call(b, 'POST', '/api/alerts/list-g2/ack', token, {})).status).toBe(404);
    expect((await alerts.get('list-g2'))!.state).toBe('open');
  });

  it('pages the list with its cursor, newest first, none twice', async () => {
    const [a] = workers as [WorkerApi];
    for (let i = 0; i < 5; i++) await openAlert(`page-${i}`);
    const token = await login(a, 'w-g1');
    const seen: string[] = [];
    let next: string | null = null;
    do {
      const res = await call(
        a,
        'GET',
        `/api/alerts?limit=2${next ? `&cursor=${encodeURIComponent(next)}` : ''}`,
        token,
      );
      expect(res.status).toBe(200);
      seen.push(...(res.json.alerts as { id: string }[]).map((x) => x.id));
      next = res.json.next as string | null;
    } while (next);
    const all = (await alerts.list({ grid: 'g1', limit: 1000 })).map((x) => x.id);
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('an acknowledgement through any worker stops the shared chain, with its note and the audit entry', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    await openAlert('ack-1');
    expect((await escalations.get('ack-1'))!.state).toBe('active');
    const token = await login(a, 'w-g1');
    const res = await call(b, 'POST', '/api/alerts/ack-1/ack', token, { note: '已联系住户' });
    expect(res.status).toBe(200);
    expect(res.json.alert).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'w-g1' });
    expect((await escalations.get('ack-1'))!).toMatchObject({
      state: 'stopped',
      stoppedReason: 'acknowledged',
    });
    expect(await kinds('ack-1')).toEqual(expect.arrayContaining(['opened', 'acknowledged', 'note']));
    const { rows } = await pool.query<{ actor: string; action: string; ip: string; detail: string }>(
      `SELECT actor, action, ip, detail FROM audit_log WHERE target = 'ack-1'`,
    );
    expect(rows).toEqual([
      { actor: 'w-g1', action: 'alert.acknowledge', ip: '127.0.0.1', detail: '{"note":"已联系住户"}' },
    ]);
    // A second acknowledgement is a conflict, through either worker.
    const again = await call(a, 'POST', '/api/alerts/ack-1/ack', token, {});
    expect(again.status).toBe(409);
    expect(again.json.code).toBe('ERR_ALERT_STATE_CONFLICT');
  });

  it('two people acknowledging at once through two workers: one succeeds, one is told someone was first', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    for (let round = 0; round < 5; round++) {
      const id = `race-${round}`;
      await openAlert(id);
      const [t1, t2] = [await login(a, 'w-g1'), await login(b, 'w-g1')];
      const answers = await Promise.all([
        call(a, 'POST', `/api/alerts/${id}/ack`, t1, {}),
        call(b, 'POST', `/api/alerts/${id}/ack`, t2, {}),
        call(a, 'POST', `/api/alerts/${id}/resolve`, t1, { outcome: 'resident-ok' }),
      ]);
      const ok = answers.filter((r) => r.status === 200).length;
      const conflicts = answers.filter((r) => r.status === 409).length;
      expect(ok + conflicts).toBe(3);
      const timeline = await kinds(id);
      // However the three landed: at most one acknowledgement, exactly one resolution.
      expect(timeline.filter((k) => k === 'acknowledged').length).toBeLessThanOrEqual(1);
      expect(timeline.filter((k) => k === 'resolved')).toHaveLength(1);
      expect((await alerts.get(id))!.state).toBe('resolved');
      expect((await escalations.get(id))!.state).toBe('stopped');
    }
  });

  it('resolving tells who was told; reopening starts the chain over; a comment in any state', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    await openAlert('life-1');
    const token = await login(a, 'w-g1');
    const resolved = await call(a, 'POST', '/api/alerts/life-1/resolve', token, {
      outcome: 'resident-ok',
      note: '水箱漏水，已修好',
    });
    expect(resolved.status).toBe(200);
    expect(resolved.json.alert).toMatchObject({ state: 'resolved', outcome: 'resident-ok' });
    const messages = async () =>
      (
        await pool.query<{ payload: string }>(
          `SELECT payload FROM outbox WHERE alert_id = 'life-1' AND target = 'w-g1' ORDER BY id`,
        )
      ).rows.map((r) => (JSON.parse(r.payload) as { event: string }).event);
    expect(await messages()).toEqual(['opened', 'resolved']);
    expect((await escalations.get('life-1'))!.state).toBe('stopped');

    const reopened = await call(b, 'POST', '/api/alerts/life-1/reopen', token, { reason: '又漏了' });
    expect(reopened.status).toBe(200);
    expect(reopened.json.alert).toMatchObject({ state: 'open', outcome: null, resolvedAt: null });
    expect((await escalations.get('life-1'))!).toMatchObject({ state: 'active', level: 0 });
    expect(await messages()).toEqual(['opened', 'resolved', 'opened']);
    expect((await call(a, 'POST', '/api/alerts/life-1/reopen', token, { reason: 'x' })).status).toBe(409);

    const commented = await call(b, 'POST', '/api/alerts/life-1/comment', token, { text: '明早再去' });
    expect(commented.status).toBe(200);
    expect(await kinds('life-1')).toEqual(
      expect.arrayContaining(['opened', 'resolved', 'reopened', 'comment']),
    );
    // Bad input is refused with the API's own error, nothing written.
    const bad = await call(b, 'POST', '/api/alerts/life-1/resolve', token, { outcome: 'nonsense' });
    expect(bad.status).toBe(400);
    expect(bad.json.code).toBe('ERR_API_VALIDATION');
    expect((await alerts.get('life-1'))!.state).toBe('open');
  });

  it("a household's record from the followed registry, its usage from the shared store", async () => {
    const [a] = workers as [WorkerApi];
    const hour = 3_600_000;
    const from = Math.floor(Date.now() / hour) * hour - 3 * hour;
    await pool.query(
      `INSERT INTO usage_buckets (household_id, start, "end", liters) VALUES ($1, $2, $3, 12.5), ($1, $3, $4, 0)`,
      ['h-g1-2', from, from + hour, from + 2 * hour],
    );
    const token = await login(a, 'w-g1');
    const h = await call(a, 'GET', '/api/households/h-g1-2', token);
    expect(h.status).toBe(200);
    expect(h.json.household).toMatchObject({ id: 'h-g1-2', address: 'g1 楼 2 号' });
    const usage = await call(
      a,
      'GET',
      `/api/households/h-g1-2/usage?from=${from}&to=${from + 3 * hour}`,
      token,
    );
    expect(usage.status).toBe(200);
    expect((usage.json.buckets as { liters: number | null }[]).map((x) => x.liters)).toEqual([12.5, 0, null]);
    // Another grid's household: refused, as the embedded API refuses it.
    expect((await call(a, 'GET', '/api/households/h-g2-1/usage', token)).status).toBe(403);
  });

  it('alert events from every worker reach a console through any worker, scoped to its grids', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const token = await login(b, 'w-g1');
    const start = await call(b, 'GET', '/api/events?follow=false', token);
    const after = start.json.lastEventId as number;
    await openAlert('feed-g1');
    await openAlert('feed-g2', 'g2');
    await call(a, 'POST', '/api/alerts/feed-g1/comment', await login(a, 'w-g1'), { text: 'on my way' });
    await b.feed.poll();
    const page = await call(b, 'GET', `/api/events?follow=false&lastEventId=${after}`, token);
    const events = page.json.events as { kind: string; alert: { id: string } }[];
    expect(events.filter((e) => e.alert.id === 'feed-g1').map((e) => e.kind)).toEqual(
      expect.arrayContaining(['opened', 'comment']),
    );
    expect(events.some((e) => e.alert.id === 'feed-g2')).toBe(false);
  });

  it('lists households with their open alerts and last reading from the shared store', async () => {
    const [, b] = workers as [WorkerApi, WorkerApi];
    await openAlert('list-h', 'g2');
    const hour = 3_600_000;
    const start = Math.floor(Date.now() / hour) * hour - 2 * hour;
    await pool.query(
      `INSERT INTO usage_buckets (household_id, start, "end", liters) VALUES ('h-g2-2', $1, $2, 3)`,
      [start, start + hour],
    );
    const token = await login(b, 'w-g2');
    const res = await call(b, 'GET', '/api/households?grid=g2', token);
    expect(res.status).toBe(200);
    const rows = res.json.households as { id: string; openAlerts: number; lastReadingAt: number | null }[];
    const open = (await alerts.list({ householdId: 'h-g2-1', limit: 100 })).filter(
      (x) => x.state !== 'resolved',
    );
    expect(rows.find((h) => h.id === 'h-g2-1')).toMatchObject({ openAlerts: open.length });
    expect(open.length).toBeGreaterThan(0);
    expect(rows.find((h) => h.id === 'h-g2-2')).toMatchObject({ openAlerts: 0, lastReadingAt: start + hour });
    const grids = await call(b, 'GET', '/api/registry/grids', token);
    expect((grids.json.items as { code: string }[]).map((g) => g.code)).toEqual(['g2']);
  });

  it('sets escalation chains for the whole cluster through any worker; chains opened after follow them', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const staff = await login(a, 'staff-c1');
    const chain = {
      welfare: {
        levels: [
          { notify: 'grid-leader', afterMinutes: 5 },
          { notify: 'community-staff', afterMinutes: 10 },
        ],
        reminderMinutes: 0,
      },
    };
    // A grid worker may not; a grid outside the registry is not found.
    expect((await call(a, 'PUT', '/api/escalation/grid/g1', await login(a, 'w-g1'), chain)).status).toBe(403);
    expect((await call(a, 'PUT', '/api/escalation/grid/nowhere', staff, chain)).status).toBe(404);
    const put = await call(a, 'PUT', '/api/escalation/grid/g1', staff, chain);
    expect(put.status).toBe(200);
    // Read back at once through the worker that took it; through the other once it has pulled (its poll).
    expect((await call(a, 'GET', '/api/escalation/grid/g1', staff)).json.settings).toEqual(chain);
    await b.follower.poll();
    expect((await call(b, 'GET', '/api/escalation/grid/g1', staff)).json.settings).toEqual(chain);
    const effective = await call(b, 'GET', '/api/escalation/effective?household=h-g1-1', staff);
    expect(effective.json.chains).toMatchObject({ welfare: { source: 'grid:g1' } });
    const { rows } = await pool.query<{ version: number }>('SELECT version FROM escalation_settings_version');
    expect(Number(rows[0]!.version)).toBe(1);
    const audit = await pool.query<{ action: string; target: string }>(
      `SELECT action, target FROM audit_log WHERE action = 'escalation.set'`,
    );
    expect(audit.rows).toEqual([{ action: 'escalation.set', target: 'grid:g1' }]);
    // A chain opened now (through the other worker's registry) starts at the grid's leader level.
    await openAlert('chain-after', 'g1', b);
    const record = await escalations.get('chain-after');
    expect(JSON.parse(JSON.stringify(record!.chain))).toEqual(chain.welfare);
  });

  it("gives the street's one screen and the assessment from the shared store, fresh after an action", async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    await openAlert('screen-1', 'g2');
    const staff = await login(a, 'staff-c1');
    type Grid = { grid: string; active: Record<string, number>; unacknowledgedByAge: number[] };
    const expected = async () => {
      const { rows } = await pool.query<{ grid: string; audience: string; state: string; n: number }>(
        `SELECT grid, audience, state, count(*)::int AS n FROM alerts WHERE state IN ('open', 'acknowledged')
         GROUP BY grid, audience, state`,
      );
      const sum = (grid: string, f: (r: (typeof rows)[number]) => boolean) =>
        rows.filter((r) => r.grid === grid && f(r)).reduce((n, r) => n + r.n, 0);
      return ['g1', 'g2'].map((grid) => ({
        grid,
        welfare: sum(grid, (r) => r.audience === 'welfare'),
        open: sum(grid, (r) => r.state === 'open'),
      }));
    };
    const shown = async () => {
      const res = await call(a, 'GET', '/api/overview', staff);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      return (res.json.grids as Grid[]).map((g) => ({
        grid: g.grid,
        welfare: g.active.welfare,
        open: g.unacknowledgedByAge.reduce((x, y) => x + y, 0),
      }));
    };
    const before = await expected();
    expect(before.find((g) => g.grid === 'g2')!.open).toBeGreaterThan(0);
    expect(await shown()).toEqual(before);
    // Acknowledged through the other worker: the next answer counts it (the figures' revision moved).
    const w2 = await login(b, 'w-g2');
    expect((await call(b, 'POST', '/api/alerts/screen-1/ack', w2, {})).status).toBe(200);
    const after = await expected();
    expect(after.find((g) => g.grid === 'g2')!.open).toBe(before.find((g) => g.grid === 'g2')!.open - 1);
    expect(await shown()).toEqual(after);

    const assessment = await call(b, 'GET', '/api/assessment', staff);
    expect(assessment.status).toBe(200);
    const raised = await pool.query<{ grid: string; n: number }>(
      `SELECT grid, count(*)::int AS n FROM alerts WHERE opened_at >= $1 GROUP BY grid ORDER BY grid`,
      [Date.now() - 30 * 86_400_000],
    );
    const counted = new Map(raised.rows.map((r) => [r.grid, r.n]));
    const perGrid = (assessment.json.grids as { code: string; alerts: number }[]).map((g) => [
      g.code,
      g.alerts,
    ]);
    expect(perGrid).toEqual(['g1', 'g2'].map((grid) => [grid, counted.get(grid) ?? 0]));
    const acked = (assessment.json.workers as { code: string; acknowledged: number }[]).find(
      (w) => w.code === 'w-g2',
    );
    expect(acked!.acknowledged).toBeGreaterThanOrEqual(1);
    // The one screen is the leaders' and staff's: a grid worker has no statistics permission.
    expect((await call(a, 'GET', '/api/overview', w2)).status).toBe(403);
    const trend = await call(a, 'GET', '/api/overview/trend?grid=g2', staff);
    const days = trend.json.trend as { raised: number }[];
    expect(days).toHaveLength(30);
    expect(days.at(-1)!.raised).toBe(counted.get('g2'));
  });

  it('marks a household away for the whole cluster through any worker, one mark in force at a time', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const token = await login(a, 'w-g1');
    const until = Date.now() + 3 * 86_400_000;
    const mark = (w: WorkerApi, reason: string) =>
      call(w, 'PUT', '/api/households/h-g1-2/away', token, { until, reason });
    // Another grid's worker may not; two marks at once through both workers: both taken, one in force.
    expect(
      (await call(b, 'PUT', '/api/households/h-g1-2/away', await login(b, 'w-g2'), { until, reason: 'x' }))
        .status,
    ).toBe(403);
    const both = await Promise.all([mark(a, '探亲'), mark(b, '住院')]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    for (const w of [a, b]) await w.follower.poll();
    const spans = async (w: WorkerApi) =>
      (await call(w, 'GET', '/api/households/h-g1-2/away', token)).json.spans as {
        reason: string;
        clearedAt: number | null;
      }[];
    for (const w of [a, b]) {
      const s = await spans(w);
      expect(s).toHaveLength(2);
      expect(s.filter((x) => x.clearedAt === null)).toHaveLength(1);
    }
    // What the detectors read: the household is away now, on both workers.
    for (const w of [a, b])
      expect(AwayBook.load(w.store).lookup('h-g1-2', Date.now(), Date.now() + 1)).toBe(true);
    const shown = async (w: WorkerApi) =>
      ((await call(w, 'GET', '/api/households/h-g1-2', token)).json.household as { awayUntil: number | null })
        .awayUntil;
    expect(await shown(a)).toBe(until);
    expect(await shown(b)).toBe(until);
    const list = await call(b, 'GET', '/api/households?grid=g1', token);
    expect(
      (list.json.households as { id: string; away: boolean }[]).find((h) => h.id === 'h-g1-2')!.away,
    ).toBe(true);

    // Ended through the other worker; a second end finds nothing in force.
    const cleared = await call(b, 'DELETE', '/api/households/h-g1-2/away', token);
    expect(cleared.json).toMatchObject({ cleared: true });
    expect((await call(a, 'DELETE', '/api/households/h-g1-2/away', token)).json).toMatchObject({
      cleared: false,
    });
    await a.follower.poll();
    expect((await spans(a)).every((x) => x.clearedAt !== null)).toBe(true);
    expect(AwayBook.load(a.store).lookup('h-g1-2', Date.now(), Date.now() + 1)).toBe(false);
    expect(await shown(a)).toBeNull();
    const { rows } = await pool.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE target = 'h-g1-2' ORDER BY id`,
    );
    expect(rows.map((r) => r.action)).toEqual([
      'household.away',
      'household.away',
      'household.away-cleared',
      'household.away-cleared',
    ]);
  });

  it('reads the rules every worker follows and changes them once for the cluster through any worker', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const staff = await login(a, 'staff-c1');
    const bar = { 'heavy-use': { params: { minLitersPerBucket: 4 } } };
    // A grid worker may not read rules; a change outside the staff's area or with an unknown rule is refused.
    expect((await call(a, 'GET', '/api/rules/grid/g1', await login(a, 'w-g1'))).status).toBe(403);
    const bad = await call(a, 'PUT', '/api/rules/grid/g1', staff, {
      rules: { 'no-such-rule': { enabled: false } },
      reason: 'try',
    });
    expect(bad.status).toBe(400);
    expect((bad.json.issues as { path: string }[]).map((i) => i.path)).toEqual(['rules.no-such-rule']);
    const put = await call(b, 'PUT', '/api/rules/grid/g1', staff, { rules: bar, reason: '试行' });
    expect(put.status).toBe(200);
    expect(put.json.changes).toHaveLength(1);
    // Back at once through the worker that took it; through the other after its pull.
    expect((await call(b, 'GET', '/api/rules/grid/g1', staff)).json.rules).toEqual(bar);
    await a.follower.poll();
    const read = await call(a, 'GET', '/api/rules/grid/g1', staff);
    expect(read.json).toMatchObject({ rules: bar, rulesVersion: put.json.rulesVersion });
    const effective = await call(a, 'GET', '/api/rules/effective?household=h-g1-1', staff);
    const heavy = (effective.json.rules as { id: string; params: { minLitersPerBucket: number } }[]).find(
      (r) => r.id === 'heavy-use',
    );
    expect(heavy!.params.minLitersPerBucket).toBe(4);
    const history = await call(a, 'GET', '/api/rules/grid/g1/history', staff);
    expect((history.json.changes as { reason: string }[])[0]!.reason).toBe('试行');
    const { rows } = await pool.query<{ version: number }>('SELECT version FROM rules_version');
    expect(Number(rows[0]!.version)).toBe(1);
    await expect
      .poll(async () => (await pool.query(`SELECT 1 FROM audit_log WHERE action = 'rules.change'`)).rowCount)
      .toBe(1);
  });

  it("shows ingest's dead letters from the shared store, within the caller's grids", async () => {
    const [a] = workers as [WorkerApi];
    const at = Date.now();
    for (const [meter, code] of [
      ['m-g1-1', 'ERR_READING_INVALID'],
      ['m-g2-1', 'ERR_READING_INVALID'],
      ['m-g2-2', 'ERR_PAYLOAD_JSON'],
      ['m-ghost', 'ERR_METER_UNKNOWN'],
    ] as const)
      await pool.query(
        `INSERT INTO dead_letters (received_at, meter_id, topic, code, message, field, excerpt)
         VALUES ($1, $2, $3, $4, 'rejected', NULL, '{"ts":')`,
        [at, meter, `meters/${meter}/readings`, code],
      );
    const staff = await login(a, 'staff-c1');
    const list = await call(a, 'GET', '/api/deadletters?limit=2', staff);
    expect(list.status).toBe(200);
    const first = list.json.deadLetters as { meterId: string; grid: string }[];
    expect(first.map((d) => [d.meterId, d.grid])).toEqual([
      ['m-g2-2', 'g2'],
      ['m-g2-1', 'g2'],
    ]);
    const next = list.json.next as { before: number };
    const rest = await call(a, 'GET', `/api/deadletters?limit=2&before=${next.before}`, staff);
    expect((rest.json.deadLetters as { meterId: string }[]).map((d) => d.meterId)).toEqual(['m-g1-1']);
    const counts = await call(a, 'GET', '/api/deadletters/counts', staff);
    expect(counts.json).toEqual({ counts: { ERR_PAYLOAD_JSON: 1, ERR_READING_INVALID: 2 }, total: 3 });
    // An unknown meter's letters are not in any grid: not shown, not named.
    expect((await call(a, 'GET', '/api/deadletters?meter=m-ghost', staff)).status).toBe(403);
  });

  it("reads the cluster's audit log within the caller's grids", async () => {
    const [, b] = workers as [WorkerApi, WorkerApi];
    const staff = await login(b, 'staff-c1');
    const acks = await call(b, 'GET', '/api/audit?action=alert.acknowledge', staff);
    expect(acks.status).toBe(200);
    const entries = acks.json.entries as { target: string; actor: string; grid: string; detail: unknown }[];
    expect(entries.find((e) => e.target === 'ack-1')).toMatchObject({
      actor: 'w-g1',
      grid: 'g1',
      detail: { note: '已联系住户' },
    });
    // Logins (through every worker, in PostgreSQL) name no grid: an admin's to read, not a community's.
    const { rowCount } = await pool.query(`SELECT 1 FROM audit_log WHERE action = 'login'`);
    expect(rowCount).toBeGreaterThan(0);
    expect((await call(b, 'GET', '/api/audit?action=login', staff)).json.entries).toEqual([]);
    expect((await call(b, 'GET', '/api/audit', await login(b, 'w-g1'))).status).toBe(403);
  });

  it("makes API keys once for the cluster: a monitor's key reads every worker's /metrics until revoked", async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const metrics = (w: WorkerApi, key?: string) =>
      fetch(`${w.base}/metrics`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
    expect((await metrics(a)).status).toBe(401);
    const made = await call(a, 'POST', '/api/api-keys', ADMIN_TOKEN, { name: 'prometheus', role: 'monitor' });
    expect(made.status).toBe(200);
    const key = made.json.key as string;
    const id = made.json.id as string;
    // At once on the worker that made it; on the other once it has pulled.
    expect((await metrics(a, key)).status).toBe(200);
    await b.follower.poll();
    const scraped = await metrics(b, key);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('careflow_cluster_test 1');
    // A monitor's key reads metrics only; a grid worker may not manage keys.
    expect((await call(b, 'GET', '/api/alerts', key)).status).toBe(403);
    expect((await call(b, 'GET', '/api/api-keys', await login(b, 'w-g1'))).status).toBe(403);
    const { rows } = await pool.query<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE id = $1', [
      id,
    ]);
    expect(rows[0]!.key_hash).not.toContain(key.slice(8));

    const revoked = await call(b, 'DELETE', `/api/api-keys/${id}`, ADMIN_TOKEN);
    expect(revoked.json).toEqual({ revoked: id });
    expect((await call(b, 'DELETE', `/api/api-keys/${id}`, ADMIN_TOKEN)).status).toBe(404);
    await a.follower.poll();
    expect((await metrics(a, key)).status).toBe(401);
    expect((await metrics(b, key)).status).toBe(401);
    const listed = await call(a, 'GET', '/api/api-keys', ADMIN_TOKEN);
    expect(
      (listed.json.apiKeys as { id: string; revokedAt: number | null }[]).find((k) => k.id === id)!.revokedAt,
    ).toBeGreaterThan(0);
  });

  it('backtests on the buckets and alerts in PostgreSQL exactly as the embedded backtest does on the same data', async () => {
    const [a] = workers as [WorkerApi];
    const hour = 3_600_000;
    const end = Math.floor(Date.now() / hour) * hour;
    // Two days of h-g2-1: a morning's ordinary use, then a cistern running at 5 L an hour for 30 hours.
    const buckets = Array.from({ length: 48 }, (_, i) => {
      const start = end - (48 - i) * hour;
      const liters = i >= 18 ? 5 : i % 6 === 0 ? 40 : 0;
      return { householdId: 'h-g2-1', start, end: start + hour, liters };
    });
    for (const b of buckets)
      await pool.query(
        `INSERT INTO usage_buckets (household_id, start, "end", liters) VALUES ($1, $2, $3, $4)
         ON CONFLICT (household_id, start) DO UPDATE SET liters = excluded.liters`,
        [b.householdId, b.start, b.end, b.liters],
      );
    const request = { scope: 'household:h-g2-1', from: end - 48 * hour, to: end };
    const staff = await login(a, 'staff-c1');
    const res = await call(a, 'POST', '/api/backtest', staff, request);
    expect(res.status).toBe(200);
    const report = res.json as unknown as BacktestReport;
    expect(report.wouldFire.map((w) => [w.householdId, w.ruleId])).toContainEqual([
      'h-g2-1',
      'continuous-flow',
    ]);

    // The embedded backtest on a store holding the same buckets, alerts and registry.
    const dir = tempDataDir();
    try {
      await seedRegistry(dir, registry);
      const store = openStore({ path: join(dir, 'careflow.db') });
      try {
        store.usage.upsertAll(buckets);
        for (const alert of await alerts.list({ householdId: 'h-g2-1', limit: 1000 }))
          store.alerts.insert(alert);
        const config = loadConfig({}, {});
        const embedded = await runBacktest(
          {
            store,
            book: new RuleBook(store, DEFAULT_RULES, config.detectors.rules, config.bucketMinutes),
            localTime: new LocalTime(config.timezone, config.bucketMinutes),
            consent: new ConsentGate(store, config.privacy),
          },
          BacktestRequest.parse(request),
        );
        const { durationMs: _a, ...fromWorker } = report as BacktestReport & { durationMs: number };
        const { durationMs: _b, ...fromEmbedded } = embedded as BacktestReport & { durationMs: number };
        // The same report; only the rules' version counter differs (the cluster's rules changed at g1 above).
        expect({ ...fromWorker, rulesVersion: 0 }).toEqual({
          ...JSON.parse(JSON.stringify(fromEmbedded)),
          rulesVersion: 0,
        });
        expect(fromWorker.wouldFire.length).toBeGreaterThan(0);
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives the rules' statistics and the roll-up from PostgreSQL as the embedded store gives them", async () => {
    const [a] = workers as [WorkerApi];
    const staff = await login(a, 'staff-c1');
    const to = Date.now() + 1;
    const from = to - 30 * 86_400_000;
    const stats = await call(a, 'GET', `/api/stats/rules?from=${from}&to=${to}`, staff);
    expect(stats.status).toBe(200);
    const rollup = await call(
      a,
      'GET',
      `/api/reports/rollup?level=community&code=c1&from=${from}&to=${to}`,
      staff,
    );
    expect(rollup.status).toBe(200);
    const all = await alerts.list({ limit: 10_000 });
    expect((rollup.json.figures as { alerts: number }).alerts).toBe(all.length);
    expect((stats.json.rules as { alerts: number }[]).reduce((n, r) => n + r.alerts, 0)).toBe(all.length);
    // The same facts as the embedded statements on a store holding the same alerts, timelines and registry.
    const dir = tempDataDir();
    try {
      await seedRegistry(dir, registry);
      const store = openStore({ path: join(dir, 'careflow.db') });
      try {
        for (const alert of all) {
          store.alerts.insert(alert);
          for (const e of await alerts.timeline(alert.id)) store.alerts.addTimeline(alert.id, e);
        }
        expect(await pgAlertFacts(pool)(from, to, null)).toEqual(store.stats.alertFacts(from, to, null));
        expect(await pgAlertFacts(pool)(from, to, ['g2'])).toEqual(store.stats.alertFacts(from, to, ['g2']));
        for (const [level, code] of [
          ['community', 'c1'],
          ['grid', 'g1'],
          ['street', 's1'],
        ] as const)
          expect(await pgPlacedAlerts(pool)(level, code, from, to)).toEqual(
            store.reports.placedAlerts(level, code, from, to),
          );
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sets webhook endpoints once for the cluster: one registry row, pulled by every worker', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const version = async () =>
      Number(
        (await pool.query<{ version: number }>('SELECT version FROM registry_version')).rows[0]!.version,
      );
    const before = await version();
    const endpoint = {
      url: 'http://127.0.0.1:9/sms',
      secret: 'gateway-secret-0123456789',
      owner: { kind: 'grid', code: 'g1' },
    };
    // Operators only; an unknown grid is refused before anything is written.
    expect((await call(a, 'PUT', '/api/webhooks/sms-g1', await login(a, 'staff-c1'), endpoint)).status).toBe(
      403,
    );
    const nowhere = { ...endpoint, owner: { kind: 'grid', code: 'g9' } };
    expect((await call(a, 'PUT', '/api/webhooks/sms-g1', ADMIN_TOKEN, nowhere)).status).toBe(404);
    const put = await call(a, 'PUT', '/api/webhooks/sms-g1', ADMIN_TOKEN, endpoint);
    expect(put.status).toBe(201);
    expect(put.json.webhook).toMatchObject({ id: 'sms-g1', owner: { kind: 'grid', code: 'g1' } });
    expect(JSON.stringify(put.json)).not.toContain(endpoint.secret);
    expect(await version()).toBe(before + 1);
    await b.follower.poll();
    const place = { grid: 'g1', community: 'c1', street: 's1', district: null };
    // The other worker's notifier finds it for the grid, secret and all.
    expect(b.store.webhooks.forPlace(place).map((w) => [w.id, w.secret])).toEqual([
      ['sms-g1', endpoint.secret],
    ]);
    // Replaced through the other worker (the secret kept when omitted), then removed.
    const { secret: _secret, ...noSecret } = endpoint;
    const replaced = await call(b, 'PUT', '/api/webhooks/sms-g1', ADMIN_TOKEN, {
      ...noSecret,
      enabled: false,
    });
    expect(replaced.status).toBe(200);
    await a.follower.poll();
    expect(a.store.webhooks.get('sms-g1')).toMatchObject({ enabled: false, secret: endpoint.secret });
    expect((await call(a, 'DELETE', '/api/webhooks/sms-g1', ADMIN_TOKEN)).json).toEqual({
      deleted: 'sms-g1',
    });
    expect((await call(a, 'DELETE', '/api/webhooks/sms-g1', ADMIN_TOKEN)).status).toBe(404);
    await b.follower.poll();
    expect(b.store.webhooks.get('sms-g1')).toBeUndefined();
    expect((b.follower.stats().registry as { lastPull: { incremental: boolean } }).lastPull.incremental).toBe(
      true,
    );
  });

  it("records a household's consent once for the cluster through any worker", async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const token = await login(a, 'w-g1');
    const version = async () =>
      Number(
        (await pool.query<{ version: number }>('SELECT version FROM registry_version')).rows[0]!.version,
      );
    const before = await version();
    // Two records at once through both workers: both kept, with their own ids, in order.
    const [first, second] = await Promise.all([
      call(a, 'PUT', '/api/households/h-g1-1/consent', token, { purposes: ['welfare'], givenBy: '住户本人' }),
      call(b, 'PUT', '/api/households/h-g1-1/consent', token, {
        purposes: ['welfare', 'leak'],
        givenBy: '女儿',
      }),
    ]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await version()).toBe(before + 2);
    for (const w of [a, b]) await w.follower.poll();
    const history = (await call(b, 'GET', '/api/households/h-g1-1/consent', token)).json.history as {
      id: number;
    }[];
    expect(history).toHaveLength(2);
    expect(new Set(history.map((h) => h.id)).size).toBe(2);
    // What the detectors' consent gate reads on both workers: the newest record.
    const inForce = (w: WorkerApi) => w.store.privacy.consent('h-g1-1')?.id;
    expect(inForce(a)).toBe(inForce(b));
    expect((await call(a, 'GET', '/api/households/h-g2-1/consent', token)).status).toBe(403);
  });

  it('exports a household from the shared store and erases it once for the cluster through any worker', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const [hid, meter] = ['h-g2-2', 'm-g2-2'];
    const HOUR = 3_600_000;
    const t = Math.floor(Date.now() / HOUR) * HOUR;
    // Its rows in every module: readings and a bucket, an alert with its chain, a partition's state of it, an away
    // mark, a rule of its own, consent — and a neighbour's reading, which stays.
    const ingest = await PgIngestRepository.open(pool);
    await ingest.commit([
      {
        meterId: meter,
        receivedAt: t,
        deadLetters: [],
        readings: [1, 2].map((h) => ({ ts: t - h * HOUR, totalLiters: 10 + h })),
      },
      { meterId: 'm-g2-1', receivedAt: t, deadLetters: [], readings: [{ ts: t - HOUR, totalLiters: 5 }] },
    ]);
    await ingest.saveProcessed({
      buckets: [{ householdId: hid, start: t - HOUR, end: t, liters: 1 }],
      events: [],
    });
    await cluster.openAlert('erase-1', { grid: 'g2', household: hid });
    await pool.query(
      `INSERT INTO cluster_partitions (partition, epoch, clock, owner, taken_at) VALUES (3, 1, NULL, 'w', 0)`,
    );
    await pool.query(
      'INSERT INTO cluster_partition_meters (meter_id, partition, household_id) VALUES ($1, 3, $2)',
      [meter, hid],
    );
    const staff = await login(a, 'w-g2');
    expect(
      (await call(a, 'PUT', `/api/households/${hid}/away`, staff, { until: t + 86_400_000, reason: '探亲' }))
        .status,
    ).toBe(200);
    expect(
      (
        await call(a, 'PUT', `/api/households/${hid}/consent`, staff, {
          purposes: ['welfare'],
          givenBy: '住户本人',
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await call(a, 'PUT', `/api/rules/household/${hid}`, ADMIN_TOKEN, {
          rules: { 'heavy-use': { params: { minLitersPerBucket: 6 } } },
          reason: '独居老人',
        })
      ).status,
    ).toBe(200);

    // The export: every kind of row, from PostgreSQL, and no secret; only for who manages privacy.
    expect((await call(b, 'GET', `/api/households/${hid}/export`, staff)).status).toBe(403);
    const exported = await call(b, 'GET', `/api/households/${hid}/export`, ADMIN_TOKEN);
    expect(exported.status).toBe(200);
    const data = exported.json.data as Record<string, Record<string, unknown>[]>;
    expect(Object.fromEntries(Object.entries(data).map(([k, rows]) => [k, rows.length]))).toMatchObject({
      households: 1,
      meters: 1,
      readings: 2,
      alerts: 1,
      alertTimeline: 2, // opened, and the first message queued
      partitionMeters: 1,
      awayPeriods: 1,
      ruleOverrides: 1,
      consentRecords: 1,
    });
    expect(data.households![0]).toMatchObject({ id: hid, grid: 'g2' });
    expect(JSON.stringify(data)).not.toMatch(/secret|password|_rv/);

    // The erasure: confirmed by repeating the id; through one worker, for every worker.
    const versions = async () =>
      (
        await pool.query<{ registry: number; rules: number; away: number }>(
          `SELECT (SELECT version FROM registry_version) AS registry, (SELECT version FROM rules_version) AS rules,
                  (SELECT version FROM away_version) AS away`,
        )
      ).rows[0]!;
    const before = await versions();
    const body = { reason: '住户 2026-12-01 书面申请删除', confirm: 'h-g2-1' };
    expect((await call(b, 'POST', `/api/households/${hid}/erase`, ADMIN_TOKEN, body)).status).toBe(400);
    const erased = await call(b, 'POST', `/api/households/${hid}/erase`, ADMIN_TOKEN, {
      ...body,
      confirm: hid,
    });
    expect(erased.status).toBe(200);
    // Every row the export showed is deleted, but the consent records and the audit log, kept by policy.
    const shown = Object.entries(data).filter(([k]) => k !== 'consentRecords' && k !== 'audit');
    expect(erased.json.deleted).toEqual(Object.fromEntries(shown.map(([k, rows]) => [k, rows.length])));
    expect((erased.json.kept as { consentRecords: number }).consentRecords).toBe(1);
    const after = await versions();
    expect([after.registry, after.rules, after.away]).toEqual([
      before.registry + 1,
      before.rules + 1,
      before.away + 1,
    ]);
    // The partition holding its meter is reset: its owner restores it once its registry has that version.
    const part = await pool.query(
      'SELECT resets, registry_at_least FROM cluster_partitions WHERE partition = 3',
    );
    expect(part.rows[0]).toEqual({ resets: 1, registry_at_least: after.registry });

    // Gone through the worker that erased it at once, through the other after its pull; the neighbour stays.
    expect((await call(b, 'GET', `/api/households/${hid}`, ADMIN_TOKEN)).status).toBe(404);
    await a.follower.poll();
    expect((await call(a, 'GET', `/api/households/${hid}`, ADMIN_TOKEN)).status).toBe(404);
    expect(a.store.registry.meter(meter)).toBeUndefined();
    expect(a.store.away.current(hid, Date.now())).toBeUndefined();
    // Nothing of it is left in the shared store but its consent records and the audit log.
    expect((await call(a, 'GET', `/api/households/${hid}/export`, ADMIN_TOKEN)).status).toBe(404);
    const count = async (sql: string) => (await pool.query<{ n: number }>(sql, [hid, meter])).rows[0]!.n;
    expect(
      await count(
        `SELECT ((SELECT count(*) FROM inbox WHERE meter_id = $2) + (SELECT count(*) FROM usage_buckets WHERE household_id = $1)
          + (SELECT count(*) FROM alerts WHERE household_id = $1) + (SELECT count(*) FROM households WHERE id = $1)
          + (SELECT count(*) FROM away_periods WHERE household_id = $1)
          + (SELECT count(*) FROM rule_overrides WHERE code = $1))::int AS n`,
      ),
    ).toBe(0);
    expect(
      await count(
        'SELECT count(*)::int AS n FROM consent_records WHERE household_id = $1 AND $2::text IS NOT NULL',
      ),
    ).toBe(1);
    const neighbour = await pool.query(`SELECT count(*)::int AS n FROM inbox WHERE meter_id = 'm-g2-1'`);
    expect(neighbour.rows[0]).toEqual({ n: 1 });
    // The erasure is in the audit log, with what it deleted.
    const audit = await call(a, 'GET', `/api/audit?action=household.erase`, ADMIN_TOKEN);
    expect(JSON.stringify(audit.json)).toContain(hid);
  });

  it('two erasures of one household at once through both workers: it is erased once, both answer', async () => {
    const [a, b] = workers as [WorkerApi, WorkerApi];
    const hid = 'h-g1-2';
    const version = async () =>
      Number((await pool.query<{ v: number }>('SELECT version AS v FROM registry_version')).rows[0]!.v);
    const before = await version();
    const body = { reason: '住户书面申请', confirm: hid };
    const both = await Promise.all(
      [a, b].map((w) => call(w, 'POST', `/api/households/${hid}/erase`, ADMIN_TOKEN, body)),
    );
    // Each worker still had the household when asked: both answer 200; one of them deleted the rows.
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    const households = both.map((r) => (r.json.deleted as Record<string, number>).households);
    expect(households.sort()).toEqual([0, 1]);
    expect(await version()).toBe(before + 1); // the registry changed once
    const left = await pool.query('SELECT 1 FROM households WHERE id = $1', [hid]);
    expect(left.rowCount).toBe(0);
    for (const w of [a, b]) await w.follower.poll();
    for (const w of [a, b])
      expect((await call(w, 'GET', `/api/households/${hid}`, ADMIN_TOKEN)).status).toBe(404);
  });
});
