import { afterEach, describe, expect, it } from 'vitest';
import { createBacktester } from '../backtest/backtest.ts';
import { runLockstep } from '../testbench/lockstep.ts';
import { BacktestRequest, type BacktestReport } from '../core/backtest.ts';
import { LocalTime } from '../core/local-time.ts';
import { BacktestRepo } from '../core/store/backtest-repo.ts';
import type { Profile } from '../simulators/household-profiles.ts';
import { HouseholdModel } from '../simulators/household-model.ts';
import { startFleet } from '../simulators/meter-fleet.ts';
import { Random } from '../simulators/random.ts';
import { Scenario, type ScenarioInput } from '../simulators/scenarios.ts';
import { SimulatedMeter } from '../simulators/simulated-meter.ts';
import { api, orgRegistry } from './detectors-fixture.ts';
import { HOUR, startTestService, T0, type TestService } from './harness.ts';
import type { SimHousehold } from './simulated-community.ts';

/**
 * Property: for random simulated households (random profiles and incidents, meters reporting every 15 or
 * 60 minutes), random rule sets set through the hierarchy at random scopes and random away marks, a backtest
 * of a random period with the rules that were live reproduces exactly the detections the live service made
 * in that period (meter-silent aside: it depends on arrival times, which buckets do not record).
 */
const DAY = 24 * HOUR;
const DAYS = 8;
/** The simulated clock moves in 3-hour steps; each step's readings arrive together, as a batch per meter. */
const STEP = 3 * HOUR;
const SEEDS = [7, 1_234, 90_210];
const HOUSEHOLDS = orgRegistry(2).households!.map((h) => ({ id: h.id, grid: h.grid }));
const PROFILES: Profile[] = ['elderly-alone', 'couple', 'family'];

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.dispose();
  svc = undefined;
});

function pick<T>(rng: Random, xs: readonly T[]): T {
  return xs[rng.int(0, xs.length - 1)]!;
}

function randomScenarios(rng: Random): ScenarioInput[] {
  const at = () => T0 + rng.int(12, (DAYS - 2) * 24) * HOUR + rng.int(0, 59) * 60_000;
  const day = () => new Date(T0 + rng.int(1, DAYS - 1) * DAY + 8 * HOUR).toISOString().slice(0, 10);
  const all: (() => ScenarioInput)[] = [
    () => ({ type: 'leak', start: at(), litersPerHour: pick(rng, [1.5, 4, 8]) }),
    () => ({
      type: 'heavy-use',
      start: at(),
      durationMinutes: rng.int(60, 300),
      litersPerHour: rng.int(120, 500),
    }),
    () => ({ type: 'low-use', start: at(), durationHours: rng.int(24, 40) }),
    () => ({ type: 'no-morning-water', day: day() }),
    () => ({ type: 'silent', start: at(), durationMinutes: rng.int(60, 900) }),
  ];
  return Array.from({ length: rng.int(0, 2) }, () => pick(rng, all)());
}

/** Random overrides of one rule, valid or not (the API refuses what is not). */
function randomOverride(rng: Random, ruleId: string): Record<string, unknown> {
  const enabled = rng.chance(0.9);
  switch (ruleId) {
    case 'low-use':
      return {
        enabled,
        params: {
          maxTotalLiters: rng.int(3, 60),
          windowMinutes: 60 * rng.int(6, 24),
          relativeToBaseline: rng.chance(0.4) ? Math.round(rng.uniform(0.1, 0.6) * 100) / 100 : null,
        },
      };
    case 'continuous-flow':
      return {
        enabled,
        params: { minLitersPerBucket: pick(rng, [0.25, 0.5, 1, 2]), windowMinutes: 60 * rng.int(3, 24) },
      };
    case 'heavy-use':
      return { enabled, params: { minLitersPerBucket: rng.int(10, 80), windowMinutes: 60 * rng.int(1, 3) } };
    default:
      return {
        enabled,
        params: {
          learn: rng.chance(0.7),
          minDays: rng.int(1, 4),
          learnDays: rng.int(4, 8),
          peakHours: rng.int(1, 4),
          maxLiters: pick(rng, [0.5, 1, 3]),
          ...(rng.chance(0.3) ? { start: '05:00', end: '08:00' } : {}),
        },
      };
  }
}

async function randomRules(rng: Random, s: TestService): Promise<number> {
  const scopes = ['global/all', 'community/c1', 'grid/g2', `household/${pick(rng, HOUSEHOLDS).id}`];
  let applied = 0;
  for (const scope of scopes) {
    if (!rng.chance(0.75)) continue;
    const ids = ['low-use', 'continuous-flow', 'heavy-use', 'no-water-at-peak'].filter(() => rng.chance(0.5));
    const rules = Object.fromEntries(ids.map((id) => [id, randomOverride(rng, id)]));
    const res = await api(s).put(`/api/rules/${scope}`, { rules, reason: 'property test' });
    if (res.status === 200) applied++;
    else expect(res.body.code).toBe('ERR_RULES_INVALID');
  }
  return applied;
}

describe('backtest with the live rules', () => {
  it.each(SEEDS)('reproduces exactly the live detections (seed %i)', async (seed) => {
    const rng = new Random(seed);
    svc = await startTestService({
      registry: orgRegistry(2),
      config: { detectors: { tickIntervalMs: HOUR } },
    });
    const households: SimHousehold[] = HOUSEHOLDS.map((h, i) => ({
      ...h,
      profile: pick(rng, PROFILES),
      seed: seed * 10 + i,
      scenarios: randomScenarios(rng),
    }));
    await randomRules(rng, svc);
    const awayHousehold = pick(rng, HOUSEHOLDS).id;
    const awayAt = T0 + rng.int(1, DAYS * 8 - 16) * STEP;
    const awayUntil = awayAt + rng.int(12, 72) * HOUR;
    const fleet = await startFleet({
      url: svc.mqttUrl,
      batch: true,
      meters: households.map((h) => ({
        meterId: `m-${h.id}`,
        secret: `secret-m-${h.id}`,
        meter: new SimulatedMeter({
          source: new HouseholdModel({
            profile: h.profile,
            seed: h.seed,
            scenarios: (h.scenarios ?? []).map((x) => Scenario.parse(x)),
          }),
          seed: h.seed,
          startAt: T0,
          reportEveryMinutes: pick(rng, [15, 60]),
        }),
      })),
    });
    const end = T0 + DAYS * DAY;
    try {
      await runLockstep({
        clock: svc.clock,
        fleet,
        from: T0,
        to: end,
        stepMs: STEP,
        afterStep: async (t) => {
          if (t !== awayAt) return;
          const res = await api(svc!).put(`/api/households/${awayHousehold}/away`, {
            until: awayUntil,
            reason: 'test',
          });
          expect(res.status).toBe(200);
        },
      });
    } finally {
      await fleet.stop();
    }

    const from = T0 + rng.int(24, 4 * 24) * HOUR;
    const to = end - rng.int(0, 12) * HOUR;
    const localTime = new LocalTime(svc.cf.config.timezone, svc.cf.config.bucketMinutes);
    const backtester = createBacktester({ store: svc.cf.store, book: svc.cf.detectors.ruleBook!, localTime });
    const report = await backtester.run(
      BacktestRequest.parse({ scope: 'global', from, to, detections: true }),
    );

    const repo = new BacktestRepo(svc.cf.store.db);
    const silent = new Set(report.excludedRules);
    const live = HOUSEHOLDS.flatMap((h) => repo.detections(h.id, from, to)).filter(
      (d) => !silent.has(d.ruleId),
    );
    const keys = (ds: { key: string }[]) => ds.map((d) => d.key).sort();
    expect(live.length, 'the simulated period should raise detections').toBeGreaterThan(0);
    expect(keys(report.detections!)).toEqual(keys(live));
    // Every live alert of the period is found again, at the same time: the same alerts as live.
    expect(report.didFire.every((d) => d.caught && d.shiftMs === 0)).toBe(true);
    expect(report.wouldFire.every((w) => w.alertId !== null)).toBe(true);
    for (const line of report.summary) expect(line).toMatch(/the same \d+ alerts? as live|no alerts/);

    // The API gives the same answer for one grid.
    const viaApi = await api(svc).post('/api/backtest', { scope: 'grid:g2', from, to, detections: true });
    expect(viaApi.status).toBe(200);
    const g2 = live.filter((d) => d.householdId.startsWith('h-g2-'));
    expect(keys((viaApi.body as unknown as BacktestReport).detections!)).toEqual(keys(g2));
  });
});
