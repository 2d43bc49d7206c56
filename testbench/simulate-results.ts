import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CareflowError, describeIssues, fieldIssues } from '../core/errors.ts';
import { Profile } from '../simulators/household-profiles.ts';
import { Expectation } from '../simulators/ground-truth.ts';
import { MeterMode } from '../simulators/meter-transmitter.ts';

/**
 * What `careflow simulate` writes and `careflow score` reads, in a run directory:
 * `ground-truth.json` (the run, every household with its scenarios and expectations) and `alerts.json`
 * (every alert careflow raised, with when the grid worker was told and how it was closed).
 */
export const RunInfo = z.object({
  mix: z.string(),
  seed: z.number(),
  households: z.number(),
  days: z.number(),
  start: z.number(),
  end: z.number(),
  timezone: z.string(),
  bucketMinutes: z.number(),
  target: z.enum(['embedded', 'remote']),
  /** The rule set the ground truth was computed for. */
  rules: z.array(z.record(z.string(), z.unknown())),
  readings: z.number(),
  messages: z.number(),
  durationMs: z.number(),
  /** How marked-away scenarios were applied: through the API route, the registry, or not at all. */
  away: z.object({ api: z.number(), registry: z.number(), notApplied: z.number() }),
  /** Error replies the meters received, by code. */
  meterErrors: z.record(z.string(), z.number()),
  /** Minutes after which the simulated grid worker closed each welfare alert (0: never). */
  respondAfterMinutes: z.number(),
});
export type RunInfo = z.infer<typeof RunInfo>;

export const HouseholdTruth = z.object({
  id: z.string(),
  grid: z.string(),
  profile: Profile,
  meterMode: MeterMode,
  seed: z.number(),
  scenarios: z.array(z.looseObject({ type: z.string() })),
  expectations: z.array(Expectation),
  /**
   * For each expectation of an alert: the household's hourly usage as careflow stored it, from a day before
   * it became observable to a few hours after (what the data looked like, for the report); else null.
   */
  usage: z.array(z.object({ from: z.number(), liters: z.array(z.number().nullable()) }).nullable()),
});
export type HouseholdTruth = z.infer<typeof HouseholdTruth>;

export const GroundTruthFile = z.object({
  version: z.literal(1),
  run: RunInfo,
  households: z.array(HouseholdTruth),
});
export type GroundTruthFile = z.infer<typeof GroundTruthFile>;

export const RaisedAlert = z.object({
  id: z.string(),
  householdId: z.string(),
  ruleId: z.string(),
  audience: z.string(),
  severity: z.string(),
  state: z.string(),
  /** Event time at which the condition was detected. */
  openedAt: z.number(),
  /** Service clock time at which careflow opened it (sent it to the grid workers). */
  notifiedAt: z.number().nullable(),
  resolvedAt: z.number().nullable(),
  resolvedBy: z.string().nullable(),
  outcome: z.string().nullable(),
  /** What the rule saw: its window and (up to the last 24) bucket values. */
  evidence: z.object({
    windowStart: z.number(),
    windowEnd: z.number(),
    buckets: z.array(z.number().nullable()).optional(),
    totalLiters: z.number().optional(),
  }),
});
export type RaisedAlert = z.infer<typeof RaisedAlert>;

export const AlertsFile = z.object({
  version: z.literal(1),
  alerts: z.array(RaisedAlert),
  /** What people received, per rule and audience (notifier/alert-noise.ts); absent in older runs. */
  noise: z.looseObject({}).optional(),
});
export type AlertsFile = z.infer<typeof AlertsFile>;

export const GROUND_TRUTH_FILE = 'ground-truth.json';
export const ALERTS_FILE = 'alerts.json';

export function writeRun(dir: string, truth: GroundTruthFile, alerts: AlertsFile): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, GROUND_TRUTH_FILE), JSON.stringify(truth, null, 1) + '\n');
  writeFileSync(join(dir, ALERTS_FILE), JSON.stringify(alerts, null, 1) + '\n');
}

export function readRun(dir: string): { truth: GroundTruthFile; alerts: AlertsFile } {
  return {
    truth: readJson(join(dir, GROUND_TRUTH_FILE), GroundTruthFile),
    alerts: readJson(join(dir, ALERTS_FILE), AlertsFile),
  };
}

function readJson<T>(file: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CareflowError('ERR_SCENARIO_INVALID', `cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = fieldIssues(parsed.error.issues);
    throw new CareflowError('ERR_SCENARIO_INVALID', `${file}: ${describeIssues(issues)}`, issues);
  }
  return parsed.data;
}
