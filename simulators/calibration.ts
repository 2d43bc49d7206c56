import { LocalTime } from '../core/local-time.ts';
import { type RegisterReading, defaultDaiadPath, loadDaiad } from './calibration-data.ts';
import { HouseholdModel } from './household-model.ts';
import { DAY_MS } from './local-day.ts';
import { generatePopulation } from './population.ts';
import { loadScenarioMix } from './scenario-mix.ts';
import { SimulatedMeter } from './simulated-meter.ts';
import { type UsageStatistics, bestLagCorrelation, usageStatistics } from './usage-statistics.ts';

/**
 * `careflow simulate --calibrate`: the household model against the real DAIAD households. Simulated
 * households of the `calibration-daiad` mix (household sizes like the Spanish trial's) are read by a
 * simulated hourly meter with a whole-liter register, like the trial's, and both go through the same
 * statistics (usage-statistics.ts). Each compared statistic has a tolerance; docs/simulation.md gives the
 * reasoning, and which statistics are not comparable between a Spanish trial and a Chinese community.
 */
export interface CalibrationRow {
  metric: string;
  real: number;
  simulated: number;
  /** `abs`: |sim − real| ≤ tolerance; `rel`: |sim − real| ≤ tolerance × real; `min`: sim ≥ tolerance. */
  kind: 'abs' | 'rel' | 'min' | 'info';
  tolerance: number;
  within: boolean;
  note: string;
}

export interface CalibrationResult {
  real: UsageStatistics;
  simulated: UsageStatistics;
  profileCorrelation: { r: number; lagHours: number };
  rows: CalibrationRow[];
  /** Every compared row is within its tolerance. */
  ok: boolean;
}

export interface CalibrationOptions {
  daiadPath?: string;
  households?: number;
  days?: number;
  seed?: number;
}

export function runCalibration(opts: CalibrationOptions = {}): CalibrationResult {
  const real = usageStatistics([...loadDaiad(opts.daiadPath ?? defaultDaiadPath()).values()]);
  const simulated = usageStatistics(simulatedHouseholds(opts));
  return compareStatistics(real, simulated);
}

/** Register readings of simulated households, as an hourly whole-liter meter would give them (local wall clock). */
export function simulatedHouseholds(opts: CalibrationOptions = {}): RegisterReading[][] {
  const mix = loadScenarioMix('calibration-daiad');
  const pop = generatePopulation(mix, { households: opts.households, days: opts.days, seed: opts.seed });
  const localTime = new LocalTime(pop.timezone, 60);
  return pop.households.map((h) => {
    const model = new HouseholdModel({ profile: h.profile, seed: h.seed, localTime });
    const meter = new SimulatedMeter({
      source: model,
      seed: h.seed,
      startAt: pop.start,
      reportEveryMinutes: 60,
      resolutionLiters: 1,
    });
    return meter
      .readingsUntil(pop.start + pop.days * DAY_MS)
      .map((r) => ({ localMs: localTime.toLocalMs(r.ts), totalLiters: r.totalLiters }));
  });
}

export function compareStatistics(real: UsageStatistics, sim: UsageStatistics): CalibrationResult {
  const rows: CalibrationRow[] = [];
  const add = (
    metric: string,
    r: number,
    s: number,
    kind: CalibrationRow['kind'],
    tolerance: number,
    note: string,
  ) => {
    const within =
      kind === 'info' ||
      (kind === 'abs' && Math.abs(s - r) <= tolerance) ||
      (kind === 'rel' && Math.abs(s - r) <= tolerance * Math.abs(r)) ||
      (kind === 'min' && s >= tolerance);
    rows.push({ metric, real: r, simulated: s, kind, tolerance, within, note });
  };
  const [r10, r25, r50, r75, r90] = real.dailyQuantiles;
  const [s10, s25, s50, s75, s90] = sim.dailyQuantiles;
  add('daily use, median (L)', r50, s50, 'rel', 0.2, 'scale: depends on the household mix');
  add('daily use, p25 / median', r25 / r50, s25 / s50, 'rel', 0.2, 'shape of the daily distribution');
  add('daily use, p75 / median', r75 / r50, s75 / s50, 'rel', 0.2, 'shape of the daily distribution');
  add('daily use, p10 / median', r10 / r50, s10 / s50, 'rel', 0.35, 'low tail: small Spanish households');
  add('daily use, p90 / median', r90 / r50, s90 / s50, 'rel', 0.2, 'high tail');
  add(
    'household mean day, p90 / p10',
    real.householdDailyQuantiles[2] / real.householdDailyQuantiles[0],
    sim.householdDailyQuantiles[2] / sim.householdDailyQuantiles[0],
    'rel',
    0.5,
    'spread between households',
  );
  add(
    'day-to-day variation (median CV)',
    real.dayToDayCv,
    sim.dayToDayCv,
    'rel',
    0.25,
    'within a household, days away left out',
  );
  add('share of hours without use', real.zeroHourShare, sim.zeroHourShare, 'abs', 0.06, 'how bursty use is');
  add('share of use 01:00–05:00', real.nightShare, sim.nightShare, 'abs', 0.01, 'night use (toilet visits)');
  add(
    'nights with a dry hour 01:00–05:00',
    real.dryNightShare,
    sim.dryNightShare,
    'abs',
    0.03,
    'real homes with leaks never have one',
  );
  add(
    'hour profile peak / mean',
    real.peakToMean,
    sim.peakToMean,
    'rel',
    0.5,
    'Chinese days are more synchronised',
  );
  const corr = bestLagCorrelation(real.hourProfile, sim.hourProfile);
  add('hour profile correlation (best lag)', 1, corr.r, 'min', 0.7, `best at a lag of ${corr.lagHours} h`);
  add(
    'hour pairs both ≥ 60 L per household-day',
    real.heavyPairsPerDay,
    sim.heavyPairsPerDay,
    'rel',
    0.4,
    'what heavy-use fires on',
  );
  add(
    'households with such a pair',
    real.heavyHouseholdShare,
    sim.heavyHouseholdShare,
    'abs',
    0.15,
    'what heavy-use fires on',
  );
  add(
    'households with 24 h of flow ≥ 1 L/h',
    real.continuousFlowHouseholdShare,
    sim.continuousFlowHouseholdShare,
    'info',
    0,
    'real leaks; leaks are scenarios',
  );
  add('vacant households', real.vacantShare, sim.vacantShare, 'info', 0, 'left out of the statistics above');
  add('days away (occupied homes)', real.awayDayShare, sim.awayDayShare, 'info', 0, 'absences are scenarios');
  return { real, simulated: sim, profileCorrelation: corr, rows, ok: rows.every((r) => r.within) };
}

/** The comparison as a plain-text table. */
export function calibrationTable(result: CalibrationResult): string {
  const fmt = (v: number) => (Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(3));
  const tol = (r: CalibrationRow) =>
    r.kind === 'info'
      ? 'not compared'
      : r.kind === 'abs'
        ? `± ${r.tolerance}`
        : r.kind === 'rel'
          ? `± ${r.tolerance * 100}%`
          : `≥ ${r.tolerance}`;
  const lines = [
    `${'statistic'.padEnd(42)} ${'DAIAD'.padStart(8)} ${'model'.padStart(8)}  ${'tolerance'.padEnd(13)} ok   note`,
    ...result.rows.map(
      (r) =>
        `${r.metric.padEnd(42)} ${fmt(r.real).padStart(8)} ${fmt(r.simulated).padStart(8)}  ${tol(r).padEnd(13)} ${r.kind === 'info' ? '  ' : r.within ? 'yes' : 'NO '}  ${r.note}`,
    ),
    '',
    `hour of day   ${Array.from({ length: 24 }, (_, h) => String(h).padStart(5)).join('')}`,
    `DAIAD (%)     ${result.real.hourProfile.map((v) => (v * 100).toFixed(1).padStart(5)).join('')}`,
    `model (%)     ${result.simulated.hourProfile.map((v) => (v * 100).toFixed(1).padStart(5)).join('')}`,
  ];
  return lines.join('\n') + '\n';
}
