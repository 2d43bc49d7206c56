import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../core/alerts.ts';
import { escalationRegistry, loginAs, raiseHeavyUse, raiseLeak } from './delivery-harness.ts';
import { ADMIN_TOKEN, HOUR, startTestService, T0, type TestService } from './harness.ts';

/**
 * `GET /api/stats/rules` over alerts raised by real readings, acknowledged and resolved by people through the
 * API: counts, time to acknowledge, outcomes and observed precision, scoped to the caller.
 */
const MIN = 60_000;
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
let svc: TestService | undefined;
afterEach(async () => {
  await svc?.dispose();
  svc = undefined;
});

describe('GET /api/stats/rules', () => {
  it('gives per rule the alerts, acknowledgement times, outcomes and precision, within the caller’s scope', async () => {
    svc = await startTestService({ registry: escalationRegistry() });
    const s = svc;
    s.clock.advanceTo(T0 + 30 * HOUR);
    const raised = new Map<string, Alert>();
    for (const h of ['h-g1-1', 'h-g1-2', 'h-g1-3', 'h-g2-1']) raised.set(h, await raiseHeavyUse(s, h));
    const leak = await raiseLeak(s, 'h-g2-2');
    const t0 = s.clock.now();
    const act = async (at: number, h: string, action: string, payload?: object) => {
      if (s.clock.now() < at) s.clock.advanceTo(at);
      const alert = h === 'h-g2-2' ? leak : raised.get(h)!;
      const res = await s.cf.http.inject({
        method: 'POST',
        url: `/api/alerts/${alert.id}/${action}`,
        headers: ADMIN,
        ...(payload ? { payload } : {}),
      });
      expect(res.statusCode, `${action} ${h}: ${res.body}`).toBe(200);
    };
    await act(t0 + 5 * MIN, 'h-g1-1', 'ack');
    await act(t0 + 10 * MIN, 'h-g1-2', 'ack');
    await act(t0 + 20 * MIN, 'h-g2-2', 'ack');
    await act(t0 + 40 * MIN, 'h-g1-3', 'ack');
    await act(t0 + 50 * MIN, 'h-g1-1', 'resolve', { outcome: 'resident-helped' });
    await act(t0 + 51 * MIN, 'h-g1-2', 'resolve', { outcome: 'false-alarm' });
    await act(t0 + 52 * MIN, 'h-g1-3', 'resolve', { outcome: 'leak-repaired', note: 'tap left running' });
    await act(t0 + 53 * MIN, 'h-g2-1', 'resolve', { outcome: 'other' });
    await act(t0 + 54 * MIN, 'h-g2-2', 'resolve', { outcome: 'leak-confirmed' });

    const get = async (headers: Record<string, string>, query = '') =>
      s.cf.http.inject({ method: 'GET', url: `/api/stats/rules${query}`, headers });
    const all = await get(ADMIN);
    expect(all.statusCode).toBe(200);
    expect(all.json().rules).toEqual([
      {
        ruleId: 'continuous-flow',
        audience: 'leak',
        alerts: 1,
        open: 0,
        acknowledged: 1,
        resolved: 1,
        autoResolved: 0,
        timeToAcknowledgeMs: { p50: 20 * MIN, p90: 20 * MIN },
        outcomes: { 'leak-confirmed': 1 },
        judged: 1,
        confirmed: 1,
        precision: 1,
      },
      {
        ruleId: 'heavy-use',
        audience: 'welfare',
        alerts: 4,
        open: 0,
        acknowledged: 3,
        resolved: 4,
        autoResolved: 0,
        timeToAcknowledgeMs: { p50: 10 * MIN, p90: 40 * MIN },
        outcomes: { 'resident-helped': 1, 'false-alarm': 1, 'leak-repaired': 1, other: 1 },
        judged: 3,
        confirmed: 2,
        precision: 0.667,
      },
    ]);

    // A grid leader of g1 sees g1 only, and may not ask for g2.
    const leader = await loginAs(s, 'l-g1');
    const own = (await get(leader)).json().rules;
    expect(own.map((r: { ruleId: string; alerts: number }) => [r.ruleId, r.alerts])).toEqual([
      ['heavy-use', 3],
    ]);
    expect((await get(leader, '?scope=grid:g2')).statusCode).toBe(403);
    expect((await get(leader, '?scope=community:c1')).statusCode).toBe(403);
    const community = await get(await loginAs(s, 'cs-c1'), '?scope=community:c1');
    expect(community.json().rules.map((r: { alerts: number }) => r.alerts)).toEqual([1, 4]);
    expect((await get(ADMIN, '?scope=grid:g9')).json().code).toBe('ERR_SCOPE_NOT_FOUND');
    expect((await get(await loginAs(s, 'w-g1'))).statusCode).toBe(403);

    // The period is of the alerts' opening (event) time.
    const before = await get(ADMIN, `?from=${T0}&to=${T0 + HOUR}`);
    expect(before.json().rules).toEqual([]);
    expect((await get(ADMIN, `?from=${t0}&to=${t0 - 1}`)).statusCode).toBe(400);
  });
});
