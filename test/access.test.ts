import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryInput, WorkerRole } from '../core/registry.ts';
import type { Detection } from '../core/streams.ts';
import { ADMIN_TOKEN, HOUR, startTestService, T0, type TestService } from './harness.ts';

/**
 * Who may see what: every /api route refuses an anonymous caller, a grid worker of another grid and
 * community staff of another community — including guessed alert ids — and allowed actions are audited.
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
  streets: [{ code: 's1', name: 'Street One' }],
  communities: [
    { code: 'c1', street: 's1', name: 'Community One' },
    { code: 'c2', street: 's1', name: 'Community Two' },
  ],
  grids: [
    { code: 'g1', community: 'c1', name: 'Grid 1' },
    { code: 'g2', community: 'c1', name: 'Grid 2' },
    { code: 'g3', community: 'c2', name: 'Grid 3' },
  ],
  workers: [
    person('w-g1', 'grid-worker', { grids: ['g1'] }),
    person('w-g2', 'grid-worker', { grids: ['g2'] }),
    person('staff-c1', 'community-staff', { communities: ['c1'] }),
    person('staff-c2', 'community-staff', { communities: ['c2'] }),
    person('street-s1', 'street-staff', { streets: ['s1'] }),
  ],
  households: [
    { id: 'h1', grid: 'g1', address: 'G1 Building 1' },
    { id: 'h3', grid: 'g3', address: 'G3 Building 3' },
  ],
  meters: [
    { id: 'm1', household: 'h1', secret: 'secret-m1' },
    { id: 'm3', household: 'h3', secret: 'secret-m3' },
  ],
};

function detection(householdId: string, at: number): Detection {
  return {
    key: `${householdId}|low-use|opened|${at}`,
    householdId,
    ruleId: 'low-use',
    ruleType: 'sustained-low',
    kind: 'opened',
    at,
    evidence: { windowStart: at - 24 * HOUR, windowEnd: at, totalLiters: 0, thresholds: {}, ruleVersion: 1 },
    severity: 'critical',
    audience: 'welfare',
    autoResolve: false,
  };
}

let svc: TestService;
let alertG1: string;
let alertG3: string;
const tokens: Record<string, string> = {};

async function call(method: string, url: string, who?: string, payload?: unknown) {
  const headers: Record<string, string> = who ? { authorization: `Bearer ${tokens[who] ?? who}` } : {};
  return svc.cf.http.inject({
    method: method as 'GET',
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

beforeAll(async () => {
  svc = await startTestService({ registry: REGISTRY });
  svc.clock.advanceTo(T0 + 30 * HOUR);
  alertG1 = svc.cf.notifier.actions.applyDetection(detection('h1', T0 + 24 * HOUR))!.id;
  alertG3 = svc.cf.notifier.actions.applyDetection(detection('h3', T0 + 24 * HOUR))!.id;
  for (const w of REGISTRY.workers!) {
    const res = await call('POST', '/api/login', undefined, { id: w.id, password: `password-${w.id}` });
    expect(res.statusCode).toBe(200);
    tokens[w.id] = (res.json() as { token: string }).token;
  }
  tokens.admin = ADMIN_TOKEN;
});

afterAll(async () => {
  await svc.dispose();
});

/**
 * One request per route, aimed at grid g1 / community c1 (the outsiders are w-g2 and staff-c2).
 * Every /api route must appear here: the last test fails when a route has no sample.
 */
type Sample = { method: string; url: string; body?: unknown; outsiderSees?: 'refused' | 'nothing-of-g1' };
const samples = (): Record<string, Sample> => ({
  'GET /api/alerts': { method: 'GET', url: '/api/alerts?grid=g1' },
  'GET /api/alerts/:id': { method: 'GET', url: `/api/alerts/${alertG1}` },
  'POST /api/alerts/:id/ack': { method: 'POST', url: `/api/alerts/${alertG1}/ack`, body: {} },
  'POST /api/alerts/:id/resolve': {
    method: 'POST',
    url: `/api/alerts/${alertG1}/resolve`,
    body: { outcome: 'resident-ok' },
  },
  'GET /api/households/:id': { method: 'GET', url: '/api/households/h1' },
  'GET /api/households/:id/usage': { method: 'GET', url: '/api/households/h1/usage' },
  'POST /api/api-keys': {
    method: 'POST',
    url: '/api/api-keys',
    body: { name: 'x', role: 'grid-worker', grids: ['g1'] },
  },
  'GET /api/api-keys': { method: 'GET', url: '/api/api-keys' },
  'DELETE /api/api-keys/:id': { method: 'DELETE', url: '/api/api-keys/abc' },
  'GET /api/audit': { method: 'GET', url: '/api/audit', outsiderSees: 'nothing-of-g1' },
  'GET /api/rules/effective': { method: 'GET', url: '/api/rules/effective?household=h1' },
  'GET /api/rules/:scope/:code': { method: 'GET', url: '/api/rules/grid/g1' },
  'PUT /api/rules/:scope/:code': {
    method: 'PUT',
    url: '/api/rules/grid/g1',
    body: { rules: {}, reason: 'x' },
  },
  'GET /api/rules/:scope/:code/history': { method: 'GET', url: '/api/rules/grid/g1/history' },
  'POST /api/backtest': {
    method: 'POST',
    url: '/api/backtest',
    body: { scope: 'grid:g1', from: T0, to: T0 + HOUR },
  },
  'PUT /api/households/:id/away': {
    method: 'PUT',
    url: '/api/households/h1/away',
    body: { until: T0 + 40 * HOUR, reason: 'x' },
  },
  'DELETE /api/households/:id/away': { method: 'DELETE', url: '/api/households/h1/away' },
  'GET /api/households/:id/away': { method: 'GET', url: '/api/households/h1/away' },
  'GET /api/deadletters': { method: 'GET', url: '/api/deadletters?meter=m1' },
  'GET /api/deadletters/counts': { method: 'GET', url: '/api/deadletters/counts?meter=m1' },
  'POST /api/clock': { method: 'POST', url: '/api/clock', body: { to: T0 + 31 * HOUR } },
  'POST /api/ingest/readings': {
    method: 'POST',
    url: '/api/ingest/readings',
    body: { readings: [{ meterId: 'm1', ts: T0, totalLiters: 1 }] },
  },
  'POST /api/alerts/:id/comment': {
    method: 'POST',
    url: `/api/alerts/${alertG1}/comment`,
    body: { text: 'x' },
  },
  'POST /api/alerts/:id/reopen': {
    method: 'POST',
    url: `/api/alerts/${alertG1}/reopen`,
    body: { reason: 'x' },
  },
  'GET /api/events': {
    method: 'GET',
    url: '/api/events?lastEventId=0&follow=false',
    outsiderSees: 'nothing-of-g1',
  },
  'PUT /api/escalation/:scope/:code': { method: 'PUT', url: '/api/escalation/grid/g1', body: {} },
  'GET /api/escalation/:scope/:code': { method: 'GET', url: '/api/escalation/grid/g1' },
  'GET /api/escalation/effective': { method: 'GET', url: '/api/escalation/effective?household=h1' },
  'PUT /api/webhooks/:id': {
    method: 'PUT',
    url: '/api/webhooks/x',
    body: { url: 'http://127.0.0.1:9/x', secret: '0123456789abcdef', owner: { kind: 'grid', code: 'g1' } },
  },
  'GET /api/webhooks': { method: 'GET', url: '/api/webhooks' },
  'DELETE /api/webhooks/:id': { method: 'DELETE', url: '/api/webhooks/x' },
  'GET /api/stats/rules': { method: 'GET', url: '/api/stats/rules?scope=grid:g1' },
  'GET /api/reports/rollup': { method: 'GET', url: '/api/reports/rollup?level=grid&code=g1' },
  'GET /api/households/:id/consent': { method: 'GET', url: '/api/households/h1/consent' },
  'PUT /api/households/:id/consent': {
    method: 'PUT',
    url: '/api/households/h1/consent',
    body: { purposes: [], givenBy: 'x' },
  },
  'GET /api/households/:id/export': { method: 'GET', url: '/api/households/h1/export' },
  'POST /api/households/:id/erase': {
    method: 'POST',
    url: '/api/households/h1/erase',
    body: { reason: 'x', confirm: 'h1' },
  },
  'GET /api/households': { method: 'GET', url: '/api/households?grid=g1' },
  'GET /api/registry/:kind': { method: 'GET', url: '/api/registry/meters', outsiderSees: 'nothing-of-g1' },
  'GET /api/overview': { method: 'GET', url: '/api/overview', outsiderSees: 'nothing-of-g1' },
  'GET /api/assessment': { method: 'GET', url: '/api/assessment', outsiderSees: 'nothing-of-g1' },
  'GET /api/overview/trend': { method: 'GET', url: '/api/overview/trend?grid=g1' },
});
const OPEN_TO_ANY_CALLER = new Set(['GET /api/clock', 'GET /api/me', 'POST /api/login']);

describe('access control', () => {
  it('refuses an anonymous caller on every /api route except login', async () => {
    for (const route of svc.cf.http.registeredRoutes.filter((r) => r.url.startsWith('/api'))) {
      if (route.url === '/api/login') continue;
      const res = await call(route.method, route.url.replace(/:id/g, 'x'));
      expect(res.statusCode, `${route.method} ${route.url}`).toBe(401);
      expect(res.json().code).toBe('ERR_API_UNAUTHORIZED');
    }
  });

  it.each(['w-g2', 'staff-c2'])('refuses %s on every route aimed at grid g1', async (outsider) => {
    for (const [name, s] of Object.entries(samples())) {
      const res = await call(s.method, s.url, outsider, s.body);
      if (s.outsiderSees === 'nothing-of-g1' && res.statusCode === 200) {
        expect(JSON.stringify(res.json()), name).not.toContain('"grid":"g1"');
        continue;
      }
      // An alert of g1 is answered as one that does not exist (404): its existence is not told.
      expect([401, 403, 404], `${name} as ${outsider}: ${res.body}`).toContain(res.statusCode);
      expect(res.json().code, name).toMatch(/^ERR_(API_FORBIDDEN|API_UNAUTHORIZED|ALERT_NOT_FOUND)$/);
      if (res.statusCode === 404) expect(s.url, name).toMatch(/^\/api\/alerts\/al-/);
    }
  });

  it('refuses guessed alert ids of other grids, and lists only the caller’s own grids', async () => {
    const guess = await call('GET', `/api/alerts/${alertG3}`, 'w-g1');
    expect(guess.statusCode).toBe(404);
    const acked = await call('POST', `/api/alerts/${alertG3}/ack`, 'staff-c1', {});
    expect(acked.statusCode).toBe(404);
    expect(acked.json()).toEqual({ code: 'ERR_ALERT_NOT_FOUND', message: `No alert ${alertG3}` });
    expect(svc.cf.store.alerts.get(alertG3)?.state).toBe('open');
    const list = await call('GET', '/api/alerts', 'w-g1');
    expect(list.json().alerts.map((a: { id: string }) => a.id)).toEqual([alertG1]);
    const street = await call('GET', '/api/alerts', 'street-s1');
    expect(street.json().alerts).toHaveLength(2);
  });

  it('lets the responsible people act, and records each allowed action in the audit log', async () => {
    expect((await call('POST', `/api/alerts/${alertG1}/ack`, 'w-g1', { note: 'on my way' })).statusCode).toBe(
      200,
    );
    const resolved = await call('POST', `/api/alerts/${alertG1}/resolve`, 'staff-c1', {
      outcome: 'resident-ok',
      note: 'fine',
    });
    expect(resolved.statusCode).toBe(200);
    expect(resolved.json().alert).toMatchObject({
      acknowledgedBy: 'w-g1',
      resolvedBy: 'staff-c1',
      outcome: 'resident-ok',
    });
    const audit = (await call('GET', '/api/audit', 'staff-c1')).json().entries as {
      actor: string;
      action: string;
      target: string;
    }[];
    expect(audit.filter((e) => e.target === alertG1).map((e) => [e.actor, e.action])).toEqual([
      ['staff-c1', 'alert.resolve'],
      ['w-g1', 'alert.acknowledge'],
    ]);
    const outsiderAudit = (await call('GET', '/api/audit', 'staff-c2')).json().entries as {
      target: string;
    }[];
    expect(outsiderAudit.some((e) => e.target === alertG1)).toBe(false);
  });

  it('rate-limits failed logins and never says which part was wrong', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await call('POST', '/api/login', undefined, { id: 'w-g2', password: 'guess-' + i });
      expect(res.statusCode).toBe(401);
      expect(res.json().message).toBe('Unknown person or wrong password');
    }
    const blocked = await call('POST', '/api/login', undefined, { id: 'w-g2', password: 'password-w-g2' });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().code).toBe('ERR_API_RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('expires session tokens after their lifetime', async () => {
    const res = await call('POST', '/api/login', undefined, {
      id: 'street-s1',
      password: 'password-street-s1',
    });
    const { token, expiresAt } = res.json() as { token: string; expiresAt: number };
    expect((await call('GET', '/api/alerts', token)).statusCode).toBe(200);
    svc.clock.advanceTo(expiresAt);
    expect((await call('GET', '/api/alerts', token)).statusCode).toBe(401);
    expect((await call('GET', '/api/alerts', token + 'x')).statusCode).toBe(401);
  });

  it('issues scoped API keys that are shown once and can be revoked', async () => {
    const created = await call('POST', '/api/api-keys', 'admin', {
      name: 'SMS gateway',
      role: 'grid-worker',
      grids: ['g3'],
    });
    expect(created.statusCode).toBe(200);
    const { key, id } = created.json() as { key: string; id: string };
    expect(key).toMatch(/^cfk_/);
    expect(JSON.stringify((await call('GET', '/api/api-keys', 'admin')).json())).not.toContain(key);
    expect((await call('GET', `/api/alerts/${alertG3}`, key)).statusCode).toBe(200);
    // Outside the key's scope an alert answers as one that does not exist: its existence is not told.
    const outside = await call('GET', `/api/alerts/${alertG1}`, key);
    const missing = await call('GET', '/api/alerts/al-0000000000000000', key);
    expect(outside.statusCode).toBe(404);
    expect(outside.json().code).toBe('ERR_ALERT_NOT_FOUND');
    expect(outside.body).not.toContain('h-');
    expect(outside.json().message).toBe(missing.json().message.replace('al-0000000000000000', alertG1));
    expect((await call('DELETE', `/api/api-keys/${id}`, 'admin')).statusCode).toBe(200);
    expect((await call('GET', `/api/alerts/${alertG3}`, key)).statusCode).toBe(401);
  });

  it('serves an OpenAPI document at /docs that covers every route', async () => {
    const res = await call('GET', '/docs/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    // The reference page's own files (/docs/swagger-ui.css …) are not API routes.
    const assets = /^\/docs\/(?!openapi\.json$)/;
    for (const r of svc.cf.http.registeredRoutes.filter((r) => !assets.test(r.url))) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      expect(doc.paths[path]?.[r.method.toLowerCase()], `${r.method} ${r.url}`).toBeDefined();
    }
    const resolve = doc.paths['/api/alerts/{id}/resolve']!.post as {
      requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
    };
    expect(Object.keys(resolve.requestBody.content['application/json']!.schema.properties)).toEqual([
      'outcome',
      'note',
    ]);
  });

  it('has an access sample for every /api route', () => {
    const covered = new Set([...Object.keys(samples()), ...OPEN_TO_ANY_CALLER]);
    const routes = svc.cf.http.registeredRoutes
      .filter((r) => r.url.startsWith('/api'))
      .map((r) => `${r.method} ${r.url}`);
    expect(routes.filter((r) => !covered.has(r))).toEqual([]);
  });
});
