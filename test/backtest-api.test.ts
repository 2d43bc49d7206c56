import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BacktestReport } from '../core/backtest.ts';
import type { Outcome } from '../core/alerts.ts';
import { api, apiKey, Meters, orgRegistry } from './detectors-fixture.ts';
import { HOUR, startTestService, T0, type TestService } from './harness.ts';

/**
 * A backtest over three days of a small community whose alerts were judged by people: a confirmed leak,
 * three heavy-use false alarms (evening showers) and a resident who fell. A candidate with a higher
 * heavy-use bar and a shorter leak window is compared in words with what really happened.
 */
const DAY = 24 * HOUR;
const END = T0 + 3 * DAY + 2 * HOUR;
const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));
const OUTCOME: Record<string, Outcome> = {
  'continuous-flow': 'leak-repaired',
  'heavy-use': 'false-alarm',
  'low-use': 'resident-helped',
  'no-water-at-peak': 'resident-helped',
};
const CANDIDATE = {
  'heavy-use': { params: { minLitersPerBucket: 140 } },
  'continuous-flow': { params: { windowMinutes: 720 } },
};

let svc: TestService;

/** Liters used in the local hour starting at `t` (T0 is local midnight). */
function use(household: string, t: number): number {
  const hour = ((t - T0) / HOUR) % 24;
  const ordinary = hour >= 1 && hour < 5 ? 0 : 6;
  if (household === 'h-g1-1') return ordinary + 3; // a running cistern: never below 1 L an hour
  if (household === 'h-g2-1') return hour === 19 || hour === 20 ? 130 : ordinary; // long evening showers and laundry
  return t < T0 + 36 * HOUR ? ordinary : 0; // h-g3-1 falls at noon on day 2
}

beforeAll(async () => {
  svc = await startTestService({ registry: orgRegistry(1) });
  const households = ['h-g1-1', 'h-g2-1', 'h-g3-1'];
  const meters = await Meters.connect(svc.mqttUrl, households);
  try {
    for (let t = T0; t <= END; t += HOUR) {
      svc.clock.advanceTo(t);
      for (const h of households) await meters.report(h, t, t === T0 ? 0 : use(h, t - HOUR));
      // The grid workers judge every alert as soon as it opens.
      for (const a of svc.cf.store.alerts.list({ state: 'open' })) {
        const res = await api(svc).post(`/api/alerts/${a.id}/resolve`, { outcome: OUTCOME[a.ruleId] });
        expect(res.status).toBe(200);
      }
    }
  } finally {
    await meters.close();
  }
});

afterAll(async () => {
  await svc?.dispose();
});

const period = { from: new Date(T0).toISOString(), to: END };

describe('POST /api/backtest', () => {
  it('reproduces the live alerts with the live rules', async () => {
    const res = await api(svc).post('/api/backtest', { scope: 'global', ...period });
    expect(res.status).toBe(200);
    const r = res.body as unknown as BacktestReport;
    expect(
      r.didFire.map((d) => [d.householdId, d.ruleId, d.openedAt, d.outcome, d.verdict, d.caught]),
    ).toEqual([
      ['h-g1-1', 'continuous-flow', T0 + DAY, 'leak-repaired', 'confirmed', true],
      ['h-g2-1', 'heavy-use', T0 + 21 * HOUR, 'false-alarm', 'false', true],
      ['h-g2-1', 'heavy-use', T0 + DAY + 21 * HOUR, 'false-alarm', 'false', true],
      ['h-g2-1', 'heavy-use', T0 + 2 * DAY + 21 * HOUR, 'false-alarm', 'false', true],
      // The dry day (low-use) and the dry morning with its confirmation (no-water-at-peak) end the same hour,
      // 11:00: one welfare episode, one alert (low-use's, the first of the rules).
      ['h-g3-1', 'low-use', T0 + 2 * DAY + 11 * HOUR, 'resident-helped', 'confirmed', true],
    ]);
    expect(r.summary).toEqual([
      'low-use: catches 1 of 1 confirmed welfare cases',
      'continuous-flow: catches 1 of 1 confirmed leaks',
      'heavy-use: the same 3 alerts as live',
    ]);
    expect(r.excludedRules).toEqual(['meter-silent', 'welfare-silent']);
  });

  it('compares candidate rules with what happened, in words', async () => {
    const res = await api(svc).post('/api/backtest', { scope: 'global', ...period, rules: CANDIDATE });
    const r = res.body as unknown as BacktestReport;
    expect(r.candidate).toEqual(CANDIDATE);
    expect(r.summary).toEqual([
      // A 12-hour window also catches the other households' daytime use: alerts nobody has judged (one per
      // household: each day's daytime flow comes back within the clear-hold, on the alert of the day before).
      'low-use: catches 1 of 1 confirmed welfare cases',
      'continuous-flow: catches 1 of 1 confirmed leaks, 1 alert earlier by 12 h, 2 new alerts (no outcome recorded yet)',
      'heavy-use: 3 fewer false alarms',
    ]);
    expect(r.wouldFire.filter((w) => w.ruleId === 'continuous-flow' && w.householdId === 'h-g1-1')).toEqual([
      {
        householdId: 'h-g1-1',
        ruleId: 'continuous-flow',
        at: T0 + 12 * HOUR,
        alertId: expect.any(String),
        // What the candidate saw, for the console's chart of it: its 12-hour window and bar.
        evidence: {
          windowStart: T0,
          windowEnd: T0 + 12 * HOUR,
          thresholds: expect.objectContaining({ windowMinutes: 720 }),
        },
      },
    ]);
    expect(r.rules.find((d) => d.ruleId === 'heavy-use')).toMatchObject({
      wouldFire: 0,
      didFire: 3,
      falseAlarms: 3,
      falseAlarmsAvoided: 3,
    });
  });

  it('tells earlier alerts and new alerts nobody has judged yet', async () => {
    const low = (
      await api(svc).post('/api/backtest', {
        scope: 'grid:g2',
        ...period,
        rules: { 'heavy-use': { params: { minLitersPerBucket: 5 } } },
      })
    ).body as unknown as BacktestReport;
    expect(low.households).toBe(1);
    // 6 L every daytime hour meets a 5 L bar from 07:00: each evening's shower alert comes 14 h earlier.
    expect(low.summary).toEqual(['heavy-use: 3 alerts earlier by up to 14 h']);
    const generous = (
      await api(svc).post('/api/backtest', {
        scope: 'household:h-g1-1',
        ...period,
        rules: { 'low-use': { params: { maxTotalLiters: 300 } } },
      })
    ).body as unknown as BacktestReport;
    expect(generous.summary).toEqual([
      'low-use: 1 new alert (no outcome recorded yet)',
      'continuous-flow: catches 1 of 1 confirmed leaks',
    ]);
  });

  it('refuses invalid candidate rules with field-level errors, and scopes outside the caller’s area', async () => {
    const bad = await api(svc).post('/api/backtest', {
      scope: 'grid:g1',
      ...period,
      rules: { 'low-use': { params: { windowMinutes: 90 } } },
    });
    expect(bad.body).toMatchObject({
      code: 'ERR_RULES_INVALID',
      issues: [{ path: 'rules.low-use.params.windowMinutes' }],
    });
    const badScope = await api(svc).post('/api/backtest', { scope: 'grid g1', ...period });
    expect(badScope.body).toMatchObject({ code: 'ERR_API_VALIDATION', issues: [{ path: 'scope' }] });
    const staff = api(svc, await apiKey(svc, 'community-staff', { communities: ['c1'] }));
    expect((await staff.post('/api/backtest', { scope: 'community:c1', ...period })).status).toBe(200);
    expect((await staff.post('/api/backtest', { scope: 'community:c2', ...period })).status).toBe(403);
    const worker = api(svc, await apiKey(svc, 'grid-worker', { grids: ['g1'] }));
    expect((await worker.post('/api/backtest', { scope: 'grid:g1', ...period })).status).toBe(403);
  });
});

describe('careflow backtest', () => {
  it('runs on the data dir, shows its progress and prints the difference in words', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [
        BIN,
        'backtest',
        '--scope',
        'global',
        '--from',
        period.from,
        '--to',
        String(END),
        '--set',
        'heavy-use.params.minLitersPerBucket=140',
        '--set',
        'continuous-flow.params.windowMinutes=720',
      ],
      {
        env: { ...process.env, CAREFLOW_DATA_DIR: svc.dataDir, CAREFLOW_LOG_LEVEL: 'silent' },
        timeout: 60_000,
      },
    );
    expect(stderr).toContain('backtest… 3/3 households (100 %)');
    expect(stdout).toContain('3 households');
    expect(stdout).toContain('  continuous-flow: catches 1 of 1 confirmed leaks, 1 alert earlier by 12 h');
    expect(stdout).toContain('  heavy-use: 3 fewer false alarms');
    expect(stdout).toContain('not backtested: meter-silent');
  });
});
