import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, apiKey, Meters, orgRegistry } from './detectors-fixture.ts';
import { eventually, HOUR, startTestService, T0, type TestService } from './harness.ts';

/**
 * The rule hierarchy over HTTP against the running service: a change reaches the detectors at once (no
 * restart), is versioned and audited, shows in the effective rules with its source; invalid changes and
 * changes outside the caller's area are refused.
 */
let svc: TestService;
let meters: Meters;
const HEAVY_BAR_4L = { 'heavy-use': { params: { minLitersPerBucket: 4 } } };

beforeAll(async () => {
  svc = await startTestService({ registry: orgRegistry() });
  meters = await Meters.connect(svc.mqttUrl, ['h-g1-1', 'h-g2-1']);
});

afterAll(async () => {
  await meters?.close();
  await svc?.dispose();
});

/** 5 L an hour for both households, reported on the hour, up to `until` (inclusive). */
async function steadyUse(from: number, until: number) {
  for (let t = from; t <= until; t += HOUR) {
    svc.clock.advanceTo(t);
    await meters.report('h-g1-1', t, t === T0 ? 0 : 5);
    await meters.report('h-g2-1', t, t === T0 ? 0 : 5);
  }
}

describe('changing rules through the API', () => {
  it('applies a grid override to the running detectors at once, only in that grid', async () => {
    await steadyUse(T0, T0 + 3 * HOUR);
    expect(svc.cf.store.alerts.list({})).toEqual([]);

    const res = await api(svc).put('/api/rules/grid/g1', {
      rules: HEAVY_BAR_4L,
      reason: 'grid g1 households are small; trial a low bar',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      scope: 'grid:g1',
      rulesVersion: 2,
      changes: [
        { ruleId: 'heavy-use', old: null, new: HEAVY_BAR_4L['heavy-use'], actor: 'admin', version: 2 },
      ],
    });

    // The next closed bucket is evaluated with the new rules: two hours of 5 L now meet a 4 L bar.
    await steadyUse(T0 + 4 * HOUR, T0 + 4 * HOUR);
    await eventually(
      () => svc.cf.store.alerts.list({ householdId: 'h-g1-1' }).length > 0,
      2_000,
      'heavy-use alert',
    );
    const [alert] = svc.cf.store.alerts.list({ householdId: 'h-g1-1' });
    expect(alert).toMatchObject({ ruleId: 'heavy-use', openedAt: T0 + 4 * HOUR });
    expect(alert!.evidence).toMatchObject({ ruleVersion: 2, thresholds: { minLitersPerBucket: 4 } });
    expect(svc.cf.store.alerts.list({ householdId: 'h-g2-1' })).toEqual([]);
  });

  it('shows the effective rules with the scope each value comes from', async () => {
    const g1 = await api(svc).get('/api/rules/effective?household=h-g1-1');
    expect(g1.status).toBe(200);
    const heavy = (g1.body.rules as { id: string; params: object; sources: Record<string, string> }[]).find(
      (r) => r.id === 'heavy-use',
    )!;
    expect(heavy.params).toMatchObject({ minLitersPerBucket: 4, windowMinutes: 120 });
    expect(heavy.sources).toMatchObject({
      'params.minLitersPerBucket': 'grid:g1',
      'params.windowMinutes': 'default',
    });
    expect(g1.body).toMatchObject({
      householdId: 'h-g1-1',
      rulesVersion: 2,
      place: { grid: 'g1', community: 'c1', street: 's1' },
      learned: {
        peaks: { 'no-water-at-peak': { start: '06:00', end: '09:00', source: 'fallback' } },
        usualReportIntervalMinutes: 60,
      },
    });
    const g2 = await api(svc).get('/api/rules/effective?household=h-g2-1');
    const heavy2 = (g2.body.rules as { id: string; sources: Record<string, string> }[]).find(
      (r) => r.id === 'heavy-use',
    )!;
    expect(heavy2.sources['params.minLitersPerBucket']).toBe('default');
  });

  it('audits the change (who, when, old → new, why) and lists it in the scope’s history', async () => {
    const audit = await api(svc).get('/api/audit?action=rules.change');
    expect(audit.body.entries).toEqual([
      expect.objectContaining({
        actor: 'admin',
        action: 'rules.change',
        target: 'grid:g1',
        grid: 'g1',
        at: T0 + 3 * HOUR,
        detail: {
          version: 2,
          reason: 'grid g1 households are small; trial a low bar',
          changes: [{ ruleId: 'heavy-use', old: null, new: HEAVY_BAR_4L['heavy-use'] }],
        },
      }),
    ]);
    const history = await api(svc).get('/api/rules/grid/g1/history');
    expect(history.body.changes).toEqual([
      expect.objectContaining({
        version: 2,
        ruleId: 'heavy-use',
        scope: { level: 'grid', code: 'g1' },
        old: null,
      }),
    ]);
    expect((await api(svc).get('/api/rules/grid/g1')).body).toEqual({
      scope: 'grid:g1',
      rulesVersion: 2,
      rules: HEAVY_BAR_4L,
    });
  });

  it('records old → new when a scope changes its override, and removes it with null', async () => {
    await api(svc).put('/api/rules/grid/g1', {
      rules: { 'heavy-use': { params: { minLitersPerBucket: 6 } } },
      reason: 'too many',
    });
    const res = await api(svc).put('/api/rules/grid/g1', {
      rules: { 'heavy-use': null },
      reason: 'trial over',
    });
    expect(res.body).toMatchObject({
      rulesVersion: 4,
      changes: [{ old: { params: { minLitersPerBucket: 6 } }, new: null }],
    });
    const history = (await api(svc).get('/api/rules/grid/g1/history')).body.changes as { version: number }[];
    expect(history.map((c) => c.version)).toEqual([4, 3, 2]);
    expect(svc.cf.detectors.engine.rulesVersion).toBe(4);
  });

  it('refuses an invalid change with field-level errors and changes nothing', async () => {
    const res = await api(svc).put('/api/rules/community/c1', {
      rules: {
        'low-use': { params: { windowMinutes: 90 } },
        'no-water-at-peak': { params: { minDays: 14, learnDays: 10 } },
      },
      reason: 'try',
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('ERR_RULES_INVALID');
    expect(res.body.issues).toEqual([
      {
        path: 'rules.low-use.params.windowMinutes',
        message: 'must be a multiple of the bucket size (60 minutes); got 90',
        kind: 'multiple-of',
        limit: 60,
      },
      {
        path: 'rules.no-water-at-peak.params.minDays',
        message: 'must be at most learnDays (10); got 14',
        kind: 'max',
        limit: 10,
      },
    ]);
    const unknown = await api(svc).put('/api/rules/community/c1', {
      rules: { 'low-use': { params: { windowHours: 3 } }, 'no-such-rule': { enabled: false } },
      reason: 'try',
    });
    expect(unknown.body.issues!.map((i) => i.path)).toEqual([
      'rules.low-use.params.windowHours',
      'rules.no-such-rule',
    ]);
    const noReason = await api(svc).put('/api/rules/community/c1', { rules: {} });
    expect(noReason.body).toMatchObject({ code: 'ERR_API_VALIDATION', issues: [{ path: 'reason' }] });
    expect(svc.cf.detectors.engine.rulesVersion).toBe(4);
    expect((await api(svc).get('/api/rules/community/c1')).body.rules).toEqual({});
    expect(svc.cf.store.rules.version()).toBe(4);
  });

  it('refuses a change that would clash with a more specific scope’s own overrides', async () => {
    const own = await api(svc).put('/api/rules/household/h-g1-2', {
      rules: { 'no-water-at-peak': { params: { learnDays: 10 } } },
      reason: 'moved in recently: learn from the last 10 days',
    });
    expect(own.status).toBe(200);
    const res = await api(svc).put('/api/rules/grid/g1', {
      rules: { 'no-water-at-peak': { params: { minDays: 12 } } },
      reason: 'be surer',
    });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([
      {
        path: 'rules.no-water-at-peak.params.minDays',
        message: 'with the overrides of household:h-g1-2: must be at most learnDays (10); got 12',
      },
    ]);
  });

  it('answers an unknown scope with 404', async () => {
    const res = await api(svc).put('/api/rules/grid/g9', { rules: HEAVY_BAR_4L, reason: 'x' });
    expect([res.status, res.body.code]).toEqual([404, 'ERR_SCOPE_NOT_FOUND']);
  });
});

describe('who may change rules', () => {
  it('a grid worker may read nothing of it and change nothing', async () => {
    const worker = api(svc, await apiKey(svc, 'grid-worker', { grids: ['g1'] }));
    const res = await worker.put('/api/rules/grid/g1', { rules: HEAVY_BAR_4L, reason: 'x' });
    expect([res.status, res.body.code]).toEqual([403, 'ERR_API_FORBIDDEN']);
    expect((await worker.get('/api/rules/effective?household=h-g1-1')).status).toBe(403);
  });

  it('community staff change their community, its grids and households, and nothing else', async () => {
    const staff = api(svc, await apiKey(svc, 'community-staff', { communities: ['c1'] }));
    const body = { rules: { 'low-use': { params: { maxTotalLiters: 8 } } }, reason: 'our residents' };
    expect((await staff.put('/api/rules/community/c1', body)).status).toBe(200);
    expect((await staff.put('/api/rules/grid/g2', body)).status).toBe(200);
    expect((await staff.put('/api/rules/household/h-g1-1', body)).status).toBe(200);
    for (const url of [
      '/api/rules/community/c2',
      '/api/rules/grid/g3',
      '/api/rules/household/h-g3-1',
      '/api/rules/street/s1',
      '/api/rules/global/all',
    ]) {
      const res = await staff.put(url, body);
      expect([url, res.status, res.body.code]).toEqual([url, 403, 'ERR_API_FORBIDDEN']);
    }
    expect((await staff.get('/api/rules/effective?household=h-g3-1')).status).toBe(403);
    const [entry] = (await api(svc).get('/api/audit?action=rules.change&limit=1')).body.entries as {
      actor: string;
    }[];
    expect(entry!.actor).toMatch(/^key:/);
  });

  it('street staff change their street; only an admin changes the global rules', async () => {
    const street = api(svc, await apiKey(svc, 'street-staff', { streets: ['s1'] }));
    const body = { rules: { 'meter-silent': { params: { afterMinutes: 240 } } }, reason: 'flaky network' };
    expect((await street.put('/api/rules/street/s1', body)).status).toBe(200);
    expect((await street.put('/api/rules/community/c2', body)).status).toBe(200);
    expect((await street.put('/api/rules/global/all', body)).status).toBe(403);
    expect((await api(svc).put('/api/rules/global/all', body)).status).toBe(200);
    const bad = await api(svc).put('/api/rules/global/everything', body);
    expect(bad.body).toMatchObject({ code: 'ERR_API_VALIDATION', issues: [{ path: 'code' }] });
  });
});
