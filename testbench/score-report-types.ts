import type { NoiseReport } from '../notifier/alert-noise.ts';
import type { GroundTruthFile } from './simulate-results.ts';

/** What `careflow score` reports (docs/simulation.md, "Scoring"); written as report.json. */
export interface DelayStats {
  median: number | null;
  p95: number | null;
}

export interface ScenarioScore {
  scenario: string;
  expect: 'alert' | 'no-alert';
  instances: number;
  /** Instances the rules could see within the run, and those they could not (run too short; never). */
  observable: number;
  runEnded: number;
  rulesCannotSee: number;
  detected: number;
  /** detected / (instances − runEnded): a condition the rules can never see counts as a miss. */
  recall: number | null;
  /** Alerts matched to this type / (those + false alerts of the type's rules). */
  precision: number | null;
  delayBuckets: DelayStats;
  notifyDelayBuckets: DelayStats;
  /** Alerts charged to this (no-alert) scenario: the false alarms it caused. */
  falseAlerts: number;
  hitsByRule: Record<string, number>;
}

export interface RuleScore {
  ruleId: string;
  audience: string;
  alerts: number;
  hits: number;
  false: number;
  precision: number | null;
  falsePerHouseholdMonth: number;
}

export interface Miss {
  householdId: string;
  scenario: string;
  profile: string;
  meterMode: string;
  observableAt: number | null;
  unobservable?: string;
  /** The household's alerts during the run: rule @ opened. */
  alerts: string[];
  usage: { from: number; liters: (number | null)[] } | null;
}

export interface FalseExample {
  householdId: string;
  profile: string;
  meterMode: string;
  cause: string;
  alerts: { ruleId: string; openedAt: number; buckets?: (number | null)[]; totalLiters?: number }[];
}

export interface Target {
  name: string;
  target: string;
  value: number | null;
  met: boolean;
}

export interface ScoreReport {
  run: GroundTruthFile['run'];
  /** What people received, per rule and audience (from the run's alerts file; null for older runs). */
  noise: NoiseReport | null;
  householdMonths: number;
  scenarios: ScenarioScore[];
  rules: RuleScore[];
  falseWelfare: {
    total: number;
    perHouseholdMonth: number;
    byRule: Record<string, number>;
    byCause: Record<string, number>;
    byProfile: Record<string, { households: number; alerts: number; perHouseholdMonth: number }>;
    byMeterMode: Record<string, { households: number; alerts: number; perHouseholdMonth: number }>;
  };
  maintenance: { alerts: number; false: number; byMeterMode: Record<string, number> };
  targets: Target[];
  misses: Miss[];
  falseExamples: FalseExample[];
}
