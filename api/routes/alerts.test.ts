import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert, TimelineEntry } from '../../core/alerts.ts';
import { AUTH, HOUR, T0, leakDetection, openAlert, startFixture, type Fixture } from '../test-fixture.ts';

let f: Fixture;
beforeEach(async () => {
  f = await startFixture();
});
afterEach(async () => {
  await f.close();
});

function get(url: string) {
  return f.app.inject({ method: 'GET', url, headers: AUTH });
}
function post(url: string, body?: unknown) {
  return body === undefined
    ? f.app.inject({ method: 'POST', url, headers: AUTH })
    : f.app.inject({ method: 'POST', url, headers: AUTH, payload: body as object });
}

describe('GET /api/alerts', () => {
  let h1: Alert;
  let h2: Alert;
  beforeEach(() => {
    h1 = openAlert(f, leakDetection('H1', T0 - 2 * HOUR));
    h2 = openAlert(f, leakDetection('H2', T0 - HOUR));
    f.alerts.acknowledge(h2.id, 'w-li');
  });

  it('lists every alert, newest first, with times as epoch ms', async () => {
    const res = await get('/api/alerts');
    expect(res.statusCode).toBe(200);
    const { alerts } = res.json() as { alerts: Alert[] };
    expect(alerts.map((a) => a.id)).toEqual([h2.id, h1.id]);
    expect(alerts[1]).toMatchObject({
      householdId: 'H1',
      gridCode: 'G1',
      state: 'open',
      openedAt: T0 - 2 * HOUR,
    });
    expect(alerts[1]?.evidence.totalLiters).toBe(156);
  });

  it('filters by state, grid, household and limit', async () => {
    const ids = async (query: string) =>
      ((await get(`/api/alerts?${query}`)).json() as { alerts: Alert[] }).alerts.map((a) => a.id);
    expect(await ids('state=open')).toEqual([h1.id]);
    expect(await ids('state=acknowledged')).toEqual([h2.id]);
    expect(await ids('state=resolved')).toEqual([]);
    expect(await ids('grid=G2')).toEqual([h2.id]);
    expect(await ids('household=H1')).toEqual([h1.id]);
    expect(await ids('grid=G1&state=acknowledged')).toEqual([]);
    expect(await ids('limit=1')).toEqual([h2.id]);
  });

  it('pages with a cursor past any number of alerts, each with its address and message', async () => {
    f.alerts.resolve(h1.id, 'w-li', 'leak-repaired', null);
    const more = Array.from({ length: 5 }, (_, i) => {
      const a = openAlert(f, leakDetection('H1', T0 - (10 + i) * HOUR));
      f.alerts.resolve(a.id, 'w-li', 'leak-repaired', null);
      return a;
    });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/api/alerts?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      const page = res.json() as { alerts: (Alert & { address: string })[]; next: string | null };
      expect(page.alerts.length).toBeLessThanOrEqual(2);
      for (const a of page.alerts) expect(typeof a.address).toBe('string');
      seen.push(...page.alerts.map((a) => a.id));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual([h2.id, h1.id, ...more.map((a) => a.id)]);
    const bad = await get('/api/alerts?cursor=not-a-cursor');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues[0].path).toBe('cursor');
  });

  it('refuses an unknown state, a bad limit and an unknown parameter with 400 naming each', async () => {
    const res = await get('/api/alerts?state=closed&limit=1001&status=open');
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_API_VALIDATION');
    expect((res.json().issues as { path: string }[]).map((i) => i.path)).toEqual([
      'state',
      'limit',
      '(root)',
    ]);
    for (const limit of ['0', '-1', '1.5', 'ten', '']) {
      const bad = await get(`/api/alerts?limit=${limit}`);
      expect(bad.statusCode, limit).toBe(400);
      expect(bad.json().issues[0].path, limit).toBe('limit');
    }
  });
});

describe('GET /api/alerts/:id', () => {
  it('returns the alert and its timeline', async () => {
    const alert = openAlert(f, leakDetection('H1'));
    const res = await get(`/api/alerts/${alert.id}`);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { alert: Alert; timeline: TimelineEntry[] };
    expect(body.alert).toEqual(alert);
    expect(body.timeline.map((e) => e.kind)).toEqual(['opened', 'queued']);
    expect(body.timeline[1]).toMatchObject({ detail: { worker: 'w-li', event: 'opened' } });
  });

  it('answers an unknown alert with 404 ERR_ALERT_NOT_FOUND', async () => {
    const res = await get('/api/alerts/al-0000000000000000');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ code: 'ERR_ALERT_NOT_FOUND', message: 'No alert al-0000000000000000' });
  });
});

describe('POST /api/alerts/:id/ack', () => {
  it('acknowledges as admin, then answers a second acknowledgement with 409 ERR_ALERT_STATE_CONFLICT', async () => {
    const alert = openAlert(f, leakDetection('H1'));
    f.clock.advance(10 * 60_000);
    const first = await post(`/api/alerts/${alert.id}/ack`);
    expect(first.statusCode).toBe(200);
    expect(first.json().alert).toMatchObject({
      id: alert.id,
      state: 'acknowledged',
      acknowledgedBy: 'admin',
      acknowledgedAt: T0 + 10 * 60_000,
    });
    const second = await post(`/api/alerts/${alert.id}/ack`, {});
    expect(second.statusCode).toBe(409);
    expect(second.json().code).toBe('ERR_ALERT_STATE_CONFLICT');
    expect(f.store.alerts.get(alert.id)?.acknowledgedAt).toBe(T0 + 10 * 60_000);
  });

  it('writes a note to the timeline with the acknowledgement', async () => {
    const alert = openAlert(f, leakDetection('H1'));
    const res = await post(`/api/alerts/${alert.id}/ack`, { note: 'calling the resident now' });
    expect(res.statusCode).toBe(200);
    const timeline = f.store.alerts.timeline(alert.id);
    expect(timeline.slice(-2)).toEqual([
      { at: T0, kind: 'acknowledged', actor: 'admin', detail: {} },
      { at: T0, kind: 'note', actor: 'admin', detail: { note: 'calling the resident now' } },
    ]);
  });

  it('refuses an unknown field and leaves the alert open', async () => {
    const alert = openAlert(f, leakDetection('H1'));
    const res = await post(`/api/alerts/${alert.id}/ack`, { note: 'ok', actor: 'someone-else' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_API_VALIDATION');
    expect(f.store.alerts.get(alert.id)?.state).toBe('open');
  });

  it('answers an unknown alert with 404 ERR_ALERT_NOT_FOUND', async () => {
    const res = await post('/api/alerts/al-missing/ack');
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('ERR_ALERT_NOT_FOUND');
  });
});

describe('POST /api/alerts/:id/resolve', () => {
  it.each([
    ['an unknown outcome', { outcome: 'fixed-it' }, ['outcome']],
    ['no outcome', { note: 'visited' }, ['outcome']],
    ['an outcome of the wrong type', { outcome: 3 }, ['outcome']],
    ['a note over 2000 characters', { outcome: 'other', note: 'x'.repeat(2001) }, ['note']],
    ['a note of the wrong type', { outcome: 'other', note: ['a'] }, ['note']],
    ['an unknown field', { outcome: 'other', resolvedBy: 'mallory' }, ['(root)']],
    ['an array body', ['other'], ['(root)']],
  ])('refuses %s with 400 ERR_API_VALIDATION naming the field', async (_label, body, paths) => {
    const alert = openAlert(f, leakDetection('H1'));
    const res = await post(`/api/alerts/${alert.id}/resolve`, body);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_API_VALIDATION');
    expect((res.json().issues as { path: string }[]).map((i) => i.path)).toEqual(paths);
    expect(f.store.alerts.get(alert.id)?.state).toBe('open');
  });

  it('refuses a missing body with 400 ERR_API_VALIDATION', async () => {
    const alert = openAlert(f, leakDetection('H1'));
    const res = await post(`/api/alerts/${alert.id}/resolve`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'ERR_API_VALIDATION', issues: [{ path: '(root)' }] });
  });

  it('writes the outcome and note, and the timeline shows who acknowledged and resolved', async () => {
    const alert = openAlert(f, leakDetection('H1'));
    f.clock.advance(15 * 60_000);
    expect((await post(`/api/alerts/${alert.id}/ack`)).statusCode).toBe(200);
    f.clock.advance(HOUR);
    const res = await post(`/api/alerts/${alert.id}/resolve`, {
      outcome: 'leak-repaired',
      note: 'toilet cistern valve replaced',
    });
    expect(res.statusCode).toBe(200);
    const resolved = {
      state: 'resolved',
      outcome: 'leak-repaired',
      note: 'toilet cistern valve replaced',
      resolvedBy: 'admin',
      resolvedAt: T0 + 75 * 60_000,
      acknowledgedBy: 'admin',
    };
    expect(res.json().alert).toMatchObject(resolved);
    expect(f.store.alerts.get(alert.id)).toMatchObject(resolved);

    const detail = await get(`/api/alerts/${alert.id}`);
    const timeline = (detail.json() as { timeline: TimelineEntry[] }).timeline;
    expect(timeline.find((e) => e.kind === 'acknowledged')).toEqual({
      at: T0 + 15 * 60_000,
      kind: 'acknowledged',
      actor: 'admin',
      detail: {},
    });
    expect(timeline.find((e) => e.kind === 'resolved')).toEqual({
      at: T0 + 75 * 60_000,
      kind: 'resolved',
      actor: 'admin',
      detail: { outcome: 'leak-repaired', note: 'toilet cistern valve replaced' },
    });
  });

  it('resolves an open alert directly with a null note, then answers 409 to a second resolve', async () => {
    const alert = openAlert(f, leakDetection('H1'));
    const res = await post(`/api/alerts/${alert.id}/resolve`, { outcome: 'false-alarm' });
    expect(res.statusCode).toBe(200);
    expect(res.json().alert).toMatchObject({ state: 'resolved', outcome: 'false-alarm', note: null });
    const again = await post(`/api/alerts/${alert.id}/resolve`, { outcome: 'other' });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('ERR_ALERT_STATE_CONFLICT');
    expect(f.store.alerts.get(alert.id)?.outcome).toBe('false-alarm');
  });

  it('answers an unknown alert with 404 ERR_ALERT_NOT_FOUND', async () => {
    const res = await post('/api/alerts/al-missing/resolve', { outcome: 'other' });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('ERR_ALERT_NOT_FOUND');
  });
});
