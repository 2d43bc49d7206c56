import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerAlertMessage } from '../core/alerts.ts';
import { api, apiKey, Meters, orgRegistry } from './detectors-fixture.ts';
import { connectWorker, eventually, HOUR, startTestService, T0, type TestService } from './harness.ts';

/**
 * Away mode end to end: a household marked away gets no welfare alert for the span, but a leak in the
 * empty home still reaches its grid worker; a neighbour with the same dry days gets the welfare alerts.
 */
const DAY = 24 * HOUR;
let svc: TestService;
let meters: Meters;
let worker: Awaited<ReturnType<typeof connectWorker>>;

beforeAll(async () => {
  svc = await startTestService({ registry: orgRegistry() });
  meters = await Meters.connect(svc.mqttUrl, ['h-g1-1', 'h-g1-2']);
  worker = await connectWorker(svc.mqttUrl, 'w-g1', 'secret-w-g1');
});

afterAll(async () => {
  await meters?.close();
  await worker?.client.endAsync();
  await svc?.dispose();
});

/** Hourly reports from `from` (exclusive) to `to` (inclusive), liters per hour from `use(t)` per household. */
async function run(from: number, to: number, use: (household: string, hourStart: number) => number) {
  for (let t = from + HOUR; t <= to; t += HOUR) {
    svc.clock.advanceTo(t);
    for (const h of ['h-g1-1', 'h-g1-2']) await meters.report(h, t, use(h, t - HOUR));
  }
}

const rulesOf = (household: string) =>
  svc.cf.store.alerts
    .list({ householdId: household })
    .map((a) => a.ruleId)
    .sort();

describe('away mode', () => {
  it('is set by the grid worker, with a reason, and shown on the household', async () => {
    svc.clock.advanceTo(T0);
    for (const h of ['h-g1-1', 'h-g1-2']) await meters.report(h, T0);
    const outsider = api(svc, await apiKey(svc, 'grid-worker', { grids: ['g3'] }));
    const body = { until: new Date(T0 + 4 * DAY).toISOString(), reason: 'visiting her daughter in Jinan' };
    expect((await outsider.put('/api/households/h-g1-1/away', body)).status).toBe(403);
    const gridWorker = api(svc, await apiKey(svc, 'grid-worker', { grids: ['g1'] }));
    const res = await gridWorker.put('/api/households/h-g1-1/away', body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ awayFrom: T0, awayUntil: T0 + 4 * DAY });
    const household = await api(svc).get('/api/households/h-g1-1');
    expect(household.body.household).toMatchObject({ awayUntil: T0 + 4 * DAY });
    const past = await gridWorker.put('/api/households/h-g1-1/away', { ...body, until: T0 - HOUR });
    expect(past.body).toMatchObject({ code: 'ERR_API_VALIDATION', issues: [{ path: 'until' }] });
    const [entry] = (await api(svc).get('/api/audit?action=household.away')).body.entries as {
      detail: object;
    }[];
    expect(entry!.detail).toMatchObject({ until: T0 + 4 * DAY, reason: 'visiting her daughter in Jinan' });
  });

  it('gives the away household no welfare alert for dry days, while the neighbour gets them', async () => {
    await run(T0, T0 + 2 * DAY, () => 0);
    expect(rulesOf('h-g1-1')).toEqual([]);
    // The neighbour's dry day joins its dry morning's alert: one welfare episode, one alert.
    expect(rulesOf('h-g1-2')).toEqual(['no-water-at-peak']);
  });

  it('still raises a leak in the empty home and sends it to the grid worker', async () => {
    // A cistern starts running at T0 + 2 days: 3 L every hour, while the resident is away.
    await run(T0 + 2 * DAY, T0 + 3 * DAY, (h) => (h === 'h-g1-1' ? 3 : 0));
    expect(rulesOf('h-g1-1')).toEqual(['continuous-flow']);
    const [leak] = svc.cf.store.alerts.list({ householdId: 'h-g1-1' });
    expect(leak).toMatchObject({ audience: 'leak', openedAt: T0 + 3 * DAY });
    await eventually(
      () => worker.messages.some((m) => m.householdId === 'h-g1-1' && m.event === 'opened'),
      5_000,
      'the leak message',
    );
    const opened = (worker.messages as unknown as WorkerAlertMessage[]).filter((m) => m.event === 'opened');
    expect(opened.filter((m) => m.householdId === 'h-g1-1').map((m) => m.ruleId)).toEqual([
      'continuous-flow',
    ]);
    expect(
      opened
        .filter((m) => m.householdId === 'h-g1-2')
        .map((m) => m.ruleId)
        .sort(),
    ).toEqual(['no-water-at-peak']);
  });

  it('ends with DELETE: welfare rules watch the household again once their window is past the away span', async () => {
    const res = await api(svc).delete('/api/households/h-g1-1/away');
    expect(res.body).toMatchObject({ awayUntil: null, cleared: true });
    expect((await api(svc).get('/api/households/h-g1-1')).body.household).toMatchObject({ awayUntil: null });
    // Back home at T0 + 3 days, the leak fixed, and no water from then on.
    await run(T0 + 3 * DAY, T0 + 4 * DAY + 2 * HOUR, () => 0);
    // The first dry morning after the return opens the welfare alert; the dry day joins it at T0 + 4 days.
    const welfare = svc.cf.store.alerts
      .list({ householdId: 'h-g1-1' })
      .filter((a) => a.audience === 'welfare');
    expect(welfare.map((a) => a.ruleId)).toEqual(['no-water-at-peak']);
    const joined = svc.cf.store.alerts.timeline(welfare[0]!.id).find((e) => e.detail.joined === 'low-use');
    expect(joined?.detail.at).toBe(T0 + 4 * DAY);
    const spans = (await api(svc).get('/api/households/h-g1-1/away')).body.spans as object[];
    expect(spans).toEqual([
      expect.objectContaining({
        from: T0,
        until: T0 + 4 * DAY,
        clearedAt: T0 + 3 * DAY,
        reason: 'visiting her daughter in Jinan',
      }),
    ]);
  });
});
