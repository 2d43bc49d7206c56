import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import type { Rule, RuleOf } from '../detectors/rules/index.ts';
import { type Expectation, expectationOf } from './ground-truth.ts';
import { HouseholdModel } from './household-model.ts';
import { LearnedPeak } from './learned-peak.ts';
import { MINUTES_PER_READING, MeterTransmitter } from './meter-transmitter.ts';
import { declaredReportEveryMinutes, type Population, type SimHousehold } from './population.ts';
import { SimulatedMeter } from './simulated-meter.ts';

/** One simulated household, ready to run: its water model, its meter, what the meter sends, and its ground truth. */
export interface BuiltHousehold {
  household: SimHousehold;
  model: HouseholdModel;
  meter: SimulatedMeter;
  transmitter: MeterTransmitter;
  expectations: Expectation[];
}

/** Scenarios whose ground truth depends on the household's (learned) peak window. */
const PEAK_SCENARIOS = new Set([
  'fall',
  'low-use',
  'illness',
  'hospital-stay',
  'no-morning-water',
  'late-waking',
]);

export function buildHousehold(
  h: SimHousehold,
  pop: Population,
  opts: { rules?: readonly Rule[]; bucketMinutes?: number } = {},
): BuiltHousehold {
  const localTime = sharedLocalTime(pop.timezone, opts.bucketMinutes ?? 60);
  const rules = opts.rules ?? DEFAULT_RULES;
  const model = new HouseholdModel({ profile: h.profile, seed: h.seed, localTime, scenarios: h.scenarios });
  const meter = new SimulatedMeter({
    source: model,
    seed: h.seed,
    startAt: pop.start,
    reportEveryMinutes: MINUTES_PER_READING[h.meterMode],
    resolutionLiters: pop.resolutionLiters,
  });
  const transmitter = new MeterTransmitter({
    meter,
    mode: h.meterMode,
    seed: h.seed,
    localTime,
    scenarios: h.scenarios,
  });
  const peakRule = rules.find((r): r is RuleOf<'zero-at-peak'> => r.type === 'zero-at-peak' && r.enabled);
  let peak: LearnedPeak | null = null;
  if (peakRule?.params.learn && h.scenarios.some((s) => PEAK_SCENARIOS.has(s.type))) {
    // A model of its own, so that estimating the peak does not disturb the meter's walk through time.
    const twin = new HouseholdModel({ profile: h.profile, seed: h.seed, localTime, scenarios: h.scenarios });
    peak = new LearnedPeak(twin, localTime, peakRule.params, localTime.dayNumber(pop.start) + 1);
  }
  const expectations = h.scenarios.map((s) =>
    expectationOf(s, {
      localTime,
      runEnd: pop.end,
      rules,
      lastTransmissionBefore: (t) => transmitter.lastTransmissionBefore(t),
      usualIntervalAt: (last) => {
        const declared = declaredReportEveryMinutes(h);
        return declared === null ? transmitter.intervalKnownAt(last) : declared * 60_000;
      },
      arrivalOf: (t) => transmitter.arrivalOf(t),
      smearMs: meter.reportEveryMs,
      peakWindowOn: (day) => peak?.on(day) ?? null,
    }),
  );
  return { household: h, model, meter, transmitter, expectations };
}

const LOCAL_TIMES = new Map<string, LocalTime>();

/** One LocalTime per zone for all households: each keeps a cache of zone offsets, costly to fill. */
function sharedLocalTime(timeZone: string, bucketMinutes: number): LocalTime {
  const key = `${timeZone}|${bucketMinutes}`;
  let lt = LOCAL_TIMES.get(key);
  if (!lt) LOCAL_TIMES.set(key, (lt = new LocalTime(timeZone, bucketMinutes)));
  return lt;
}
