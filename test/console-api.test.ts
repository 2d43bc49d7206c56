import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryInput, WorkerRole } from '../core/registry.ts';
import type { Detection } from '../core/streams.ts';
import { HOUR, startTestService, T0, type TestService } from './harness.ts';

/**
 * The API the console's screens need: households with their status, registry lists with search and cursors,
 * the overview and the assessment (JSON and CSV), who the caller is, readiness and the console's own files.
 */
const person = (
  id: string,
  role: WorkerRole,
  scope: { grids?: string[]; communities?: string[]; streets?: string[] },
) => ({
  id,
  name: id,
  role,
  ...scope,
  secret: `secret-${id}`,
  password: `password-${id}`,
});
const REGISTRY: RegistryInput = {
  streets: [{ code: 's1', name: 'Street' }],
  communities: [
    { code: 'c1', street: 's1', name: 'One' },
    { code: 'c2', street: 's1', name: 'Two' },
  ],
  grids: [
    { code: 'g1', community: 'c1', name: '=cmd|calc' },
    { code: 'g2', community: 'c2', name: 'Grid 2' },
  ],
  workers: [
    person('w-g1', 'grid-worker', { grids: ['g1'] }),
    person('w-g2', 'grid-worker', { grids: ['g2'] }),
    person('staff-c1', 'community-staff', { communities: ['c1'] }),
  ],
  households: [
    ...Array.from({ length: 7 }, (_, i) => ({ id: `h1-${i}`, grid: 'g1', address: `Lane ${i} 100%_done` })),
    { id: 'h2-0', grid: 'g2', address: 'Other lane' },
  ],
  meters: [{ id: 'm1', household: 'h1-0', secret: 'secret-m1' }],
};

function detection(
  householdId: string,
  at: number,
  audience: 'welfare' | 'maintenance' = 'welfare',
): Detection {
  return {
    key: `${householdId}|${audience}|${at}`,
    householdId,
    ruleId: audience === 'welfare' ? 'low-use' : 'meter-silent',
    ruleType: audience === 'welfare' ? 'sustained-low' : 'silent',
    kind: 'opened',
    at,
    evidence: { windowStart: at - 24 * HOUR, windowEnd: at, totalLiters: 0, thresholds: {}, ruleVersion: 1 },
    severity: 'critical',
    audience,
    autoResolve: false,
  };
}

let svc: TestService;
const tokens: Record<string, string> = {};
const get = async (url: string, who: string) =>
  svc.cf.http.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokens[who]}` } });

beforeAll(async () => {
  svc = await startTestService({ registry: REGISTRY });
  svc.clock.advanceTo(T0 + 48 * HOUR);
  const a = svc.cf.notifier.actions.applyDetection(detection('h1-1', T0 + 40 * HOUR))!;
  svc.clock.advanceTo(T0 + 48 * HOUR + 10 * 60_000);
  svc.cf.notifier.actions.acknowledge(a.id, 'w-g1');
  svc.clock.advanceTo(T0 + 49 * HOUR);
  svc.cf.notifier.actions.resolve(a.id, 'w-g1', 'resident-helped', null);
  svc.cf.notifier.actions.applyDetection(detection('h1-2', T0 + 47 * HOUR, 'maintenance'));
  svc.cf.notifier.actions.applyDetection(detection('h2-0', T0 + 47 * HOUR));
  for (const w of REGISTRY.workers!) {
    const res = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/login',
      payload: { id: w.id, password: `password-${w.id}` },
    });
    tokens[w.id] = (res.json() as { token: string }).token;
  }
});
afterAll(async () => {
  await svc.dispose();
});

describe('console API', () => {
  it('lists my households with status, pages with a cursor, and searches addresses literally', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/api/households?limit=3${cursor ? `&cursor=${cursor}` : ''}`, 'w-g1');
      expect(res.statusCode).toBe(200);
      const page = res.json() as {
        households: { id: string; openAlerts: number; meterSilent: boolean }[];
        next: string | null;
      };
      seen.push(...page.households.map((h) => h.id));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `h1-${i}`));
    const all = (await get('/api/households?limit=50', 'w-g1')).json().households as {
      id: string;
      openAlerts: number;
      meterSilent: boolean;
    }[];
    expect(all.find((h) => h.id === 'h1-2')).toMatchObject({ openAlerts: 1, meterSilent: true });
    expect(all.find((h) => h.id === 'h1-1')).toMatchObject({ openAlerts: 0, meterSilent: false });
    // `%` and `_` are searched as characters, not as wildcards.
    expect((await get('/api/households?q=100%25_', 'w-g1')).json().households).toHaveLength(7);
    expect((await get('/api/households?q=_%25', 'w-g1')).json().households).toHaveLength(0);
    expect((await get('/api/households?grid=g2', 'w-g1')).statusCode).toBe(403);
  });

  it('lists the registry of my area only, with search and cursors', async () => {
    const grids = (await get('/api/registry/grids', 'staff-c1')).json().items as {
      code: string;
      households: number;
    }[];
    expect(grids).toEqual([expect.objectContaining({ code: 'g1', households: 7 })]);
    const workers = (await get('/api/registry/workers', 'staff-c1')).json().items as { id: string }[];
    expect(workers.map((w) => w.id)).toEqual(['staff-c1', 'w-g1']);
    const first = (await get('/api/registry/workers?limit=1', 'staff-c1')).json() as {
      items: { id: string }[];
      next: string;
    };
    const second = (await get(`/api/registry/workers?limit=1&cursor=${first.next}`, 'staff-c1')).json() as {
      items: { id: string }[];
    };
    expect([...first.items, ...second.items].map((w) => w.id)).toEqual(['staff-c1', 'w-g1']);
    expect((await get('/api/registry/meters?q=m1', 'w-g2')).json().items).toEqual([]);
    expect((await get('/api/registry/planets', 'staff-c1')).statusCode).toBe(400);
  });

  it('gives the overview of my grids and the assessment, as JSON and as a defused CSV', async () => {
    const overview = (await get('/api/overview', 'staff-c1')).json() as {
      grids: { grid: string; active: Record<string, number>; silentMeters: number }[];
      trend: unknown[];
    };
    expect(overview.grids.map((g) => g.grid)).toEqual(['g1']);
    expect(overview.grids[0]).toMatchObject({
      active: { welfare: 0, leak: 0, maintenance: 1 },
      silentMeters: 1,
    });
    expect(overview.trend).toHaveLength(30);
    const a = (await get('/api/assessment', 'staff-c1')).json() as {
      grids: {
        code: string;
        alerts: number;
        acknowledgeP50Ms: number;
        confirmed: number;
        withinFirstLevel: number;
      }[];
      workers: { code: string; acknowledged: number }[];
    };
    expect(a.grids).toEqual([
      expect.objectContaining({
        code: 'g1',
        alerts: 2,
        acknowledgeP50Ms: 10 * 60_000,
        resolveP50Ms: HOUR,
        confirmed: 1,
      }),
    ]);
    expect(a.workers).toEqual([expect.objectContaining({ code: 'w-g1', acknowledged: 1 })]);
    const csv = await get('/api/assessment?format=csv', 'staff-c1');
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trim().split('\r\n');
    expect(lines[0]).toMatch(/^kind,code,name,grid,alerts,/);
    expect(lines[1]).toContain(`"'=cmd|calc"`);
    expect((await get('/api/overview', 'w-g1')).statusCode).toBe(403);
  });

  it('shows a new alert and its acknowledgement in the overview and assessment at once (no stale answer)', async () => {
    const before = (await get('/api/overview', 'staff-c1')).json() as {
      grids: { active: { welfare: number }; unacknowledgedByAge: number[] }[];
    };
    const assessed = async () =>
      (
        (await get('/api/assessment', 'staff-c1')).json() as {
          grids: { alerts: number; acknowledged: number }[];
        }
      ).grids[0]!;
    const firstAssessment = await assessed();
    const a = svc.cf.notifier.actions.applyDetection(detection('h1-3', svc.clock.now() - HOUR))!;
    const opened = (await get('/api/overview', 'staff-c1')).json() as typeof before;
    expect(opened.grids[0]!.active.welfare).toBe(before.grids[0]!.active.welfare + 1);
    expect((await assessed()).alerts).toBe(firstAssessment.alerts + 1);
    svc.cf.notifier.actions.acknowledge(a.id, 'w-g1');
    const acknowledged = (await get('/api/overview', 'staff-c1')).json() as typeof before;
    expect(acknowledged.grids[0]!.unacknowledgedByAge).toEqual(before.grids[0]!.unacknowledgedByAge);
    expect((await assessed()).acknowledged).toBe(firstAssessment.acknowledged + 1);
  });

  it('gives one grid’s 30-day trend, within my area only', async () => {
    const res = await get('/api/overview/trend?grid=g1', 'staff-c1');
    expect(res.statusCode).toBe(200);
    const { grid, trend } = res.json() as {
      grid: string;
      trend: { day: number; raised: number; acknowledged: number }[];
    };
    expect(grid).toBe('g1');
    expect(trend).toHaveLength(30);
    // g1's alerts of this file so far, each on its day; g2's alert is not counted.
    const a = (await get('/api/assessment', 'staff-c1')).json() as { grids: { alerts: number }[] };
    expect(trend.reduce((n, d) => n + d.raised, 0)).toBe(a.grids[0]!.alerts);
    expect((await get('/api/overview/trend?grid=g2', 'staff-c1')).statusCode).toBe(403);
    expect((await get('/api/overview/trend?grid=g1', 'w-g1')).statusCode).toBe(403);
    expect((await get('/api/overview/trend', 'staff-c1')).statusCode).toBe(400);
  });

  it('tells the console who the caller is and the deployment time zone', async () => {
    const me = (await get('/api/me', 'w-g1')).json();
    expect(me).toMatchObject({ id: 'w-g1', role: 'grid-worker', grids: ['g1'], timeZone: 'Asia/Shanghai' });
    expect(me.permissions).toContain('alerts:act');
  });

  it('answers /readyz and serves the console with security headers, no file outside its assets', async () => {
    const ready = await svc.cf.http.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json()).toEqual({ status: 'ready' });
    const page = await svc.cf.http.inject({ method: 'GET', url: '/alerts/anything' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    for (const url of [
      '/assets/..%2F..%2Fpackage.json',
      '/assets/nothing.js',
      '/assets/%2e%2e%2fpackage.json',
    ]) {
      const res = await svc.cf.http.inject({ method: 'GET', url });
      expect([400, 404], url).toContain(res.statusCode);
      expect(res.body).not.toContain('"dependencies"');
    }
  });
});
