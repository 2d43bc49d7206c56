import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import type { Expectation } from '../simulators/ground-truth.ts';
import { scoreMarkdown } from './score-report.ts';
import { scoreRun } from './score.ts';
import type { AlertsFile, GroundTruthFile, HouseholdTruth, RaisedAlert } from './simulate-results.ts';

const H = 3_600_000;
const T0 = Date.parse('2026-03-02T00:00:00+08:00');
const AUDIENCE: Record<string, string> = Object.fromEntries(DEFAULT_RULES.map((r) => [r.id, r.audience]));

function household(
  id: string,
  profile: HouseholdTruth['profile'],
  expectations: Expectation[] = [],
): HouseholdTruth {
  return {
    id,
    grid: 'g1',
    profile,
    meterMode: '15min',
    seed: 1,
    scenarios: [],
    expectations,
    usage: expectations.map(() => null),
  };
}

function expectation(
  e: Partial<Expectation> & Pick<Expectation, 'scenario' | 'rules' | 'from'>,
): Expectation {
  return {
    expect: 'alert',
    until: null,
    observableAt: e.from + 24 * H,
    windowStart: e.from,
    windowEnd: null,
    ...e,
  };
}

function alert(householdId: string, ruleId: string, openedAt: number, notifiedAt = openedAt): RaisedAlert {
  return {
    id: `${householdId}-${ruleId}-${openedAt}`,
    householdId,
    ruleId,
    audience: AUDIENCE[ruleId] ?? 'welfare',
    severity: 'critical',
    state: 'resolved',
    openedAt,
    notifiedAt,
    resolvedAt: null,
    resolvedBy: null,
    outcome: null,
    evidence: { windowStart: openedAt - 2 * H, windowEnd: openedAt, buckets: [70, 80] },
  };
}

/** Ten households over 30 days: two leaks (one found late, one missed), a fall, guests, the rest normal. */
function fixture(): { truth: GroundTruthFile; alerts: AlertsFile } {
  const leakA = expectation({ scenario: 'leak', rules: ['continuous-flow'], from: T0 + 24 * H });
  const leakB = expectation({ scenario: 'leak', rules: ['continuous-flow'], from: T0 + 48 * H });
  const lateLeak = expectation({
    scenario: 'leak',
    rules: ['continuous-flow'],
    from: T0 + 29 * 24 * H,
    observableAt: null,
    unobservable: 'run-ended',
  });
  const fall = expectation({
    scenario: 'fall',
    rules: ['low-use', 'no-water-at-peak'],
    from: T0 + 72 * H,
    observableAt: T0 + 81 * H,
  });
  const guests: Expectation = {
    scenario: 'guests',
    expect: 'no-alert',
    rules: ['low-use', 'heavy-use', 'no-water-at-peak'],
    from: T0 + 96 * H,
    until: T0 + 144 * H,
    observableAt: null,
    windowStart: T0 + 96 * H,
    windowEnd: T0 + 146 * H,
  };
  const households = [
    household('leak-a', 'family', [leakA]),
    household('leak-b', 'family', [leakB]),
    household('leak-late', 'family', [lateLeak]),
    household('fall', 'elderly-alone', [fall]),
    household('guests', 'elderly-couple', [guests]),
    ...Array.from({ length: 5 }, (_, i) => household(`n${i}`, i < 2 ? 'family' : 'elderly-alone')),
  ];
  const alerts = [
    alert('leak-a', 'continuous-flow', leakA.observableAt! + 2 * H),
    alert('fall', 'no-water-at-peak', fall.observableAt!, fall.observableAt! + 5 * H),
    alert('fall', 'low-use', T0 + 97 * H),
    alert('guests', 'heavy-use', T0 + 110 * H),
    alert('n0', 'heavy-use', T0 + 200 * H),
    alert('n0', 'heavy-use', T0 + 300 * H),
    alert('n1', 'meter-silent', T0 + 10 * H),
  ];
  const truth: GroundTruthFile = {
    version: 1,
    run: {
      mix: 'fixture',
      seed: 1,
      households: households.length,
      days: 30,
      start: T0,
      end: T0 + 30 * 24 * H,
      timezone: 'Asia/Shanghai',
      bucketMinutes: 60,
      target: 'embedded',
      rules: DEFAULT_RULES as unknown as Record<string, unknown>[],
      readings: 0,
      messages: 0,
      durationMs: 0,
      away: { api: 0, registry: 0, notApplied: 0 },
      meterErrors: {},
      respondAfterMinutes: 120,
    },
    households,
  };
  return { truth, alerts: { version: 1, alerts } };
}

describe('scoreRun', () => {
  const { truth, alerts } = fixture();
  const report = scoreRun(truth, alerts);
  const scenario = (name: string) => report.scenarios.find((s) => s.scenario === name)!;

  it('counts recall over the instances the run could show, and the delay from when each became observable', () => {
    expect(scenario('leak')).toMatchObject({
      instances: 3,
      observable: 2,
      runEnded: 1,
      detected: 1,
      recall: 0.5,
      delayBuckets: { median: 2, p95: 2 },
    });
    expect(scenario('fall')).toMatchObject({
      detected: 1,
      recall: 1,
      delayBuckets: { median: 0 },
      notifyDelayBuckets: { median: 5 },
      hitsByRule: { 'no-water-at-peak': 1, 'low-use': 1 },
    });
  });

  it('lists the missed detection with its household, and not the one the run ended too early for', () => {
    expect(report.misses.map((m) => m.householdId)).toEqual(['leak-b']);
  });

  it('counts false welfare alerts per household-month, by rule, cause and profile; maintenance apart', () => {
    expect(report.householdMonths).toBe(10);
    expect(report.falseWelfare).toMatchObject({
      total: 3,
      perHouseholdMonth: 0.3,
      byRule: { 'heavy-use': 3 },
      byCause: { guests: 1, normal: 2 },
    });
    expect(report.falseWelfare.byProfile.family).toEqual({
      households: 5,
      alerts: 2,
      perHouseholdMonth: 0.4,
    });
    expect(scenario('guests').falseAlerts).toBe(1);
    expect(report.maintenance).toEqual({ alerts: 1, false: 1, byMeterMode: { '15min': 1 } });
    expect(report.rules.find((r) => r.ruleId === 'heavy-use')).toMatchObject({
      alerts: 3,
      hits: 0,
      false: 3,
      precision: 0,
    });
  });

  it('gives precision per scenario type over the alerts of its rules', () => {
    expect(scenario('leak').precision).toBe(1);
    expect(scenario('fall').precision).toBe(1);
  });

  it('checks the targets and says which are missed', () => {
    expect(report.targets.map((t) => [t.name, t.met])).toEqual([
      ['recall, leaks', false],
      ['recall, falls/illness', true],
      ['recall, heavy use', false],
      ['false welfare alerts per household-month', true],
      ['median detection delay, worst scenario type (buckets)', false],
    ]);
  });

  it('writes a markdown report with the targets, the tables and the evidence', () => {
    const md = scoreMarkdown(report);
    expect(md).toContain('| recall, leaks | ≥ 0.95 | 0.50 | **no** |');
    expect(md).toContain('**0.30 per household-month**');
    expect(md).toContain('**leak-b** leak (family, 15min)');
    expect(md).toContain('heavy-use at 2026-03-10 08:00 — buckets 70 80');
  });
});
