import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { CareflowError, describeIssues, fieldIssues } from '../core/errors.ts';
import { packageRoot } from '../core/package-root.ts';
import { Profile } from './household-profiles.ts';
import { MeterMode } from './meter-transmitter.ts';
import { SCENARIO_TYPES, type ScenarioType } from './scenario-schema.ts';

/**
 * A scenario file: a population of simulated households (profile and meter shares), the scenarios to
 * give a share of them (with parameter ranges), and optionally households spelled out one by one.
 * Times in a file are relative to the run's first local midnight: `startDay` is a day index, `startHour` a
 * local hour; an explicit scenario's `start`/`at` may be `{ "day": 2, "at": "03:00" }` and its `day` a
 * day index. Ranges are `[min, max]` (drawn uniformly) or a single number. See docs/simulation.md.
 */
const Between = z.union([
  z.number(),
  z.tuple([z.number(), z.number()]).refine(([a, b]) => a <= b, 'expected [min, max] with min ≤ max'),
]);
export type Between = z.infer<typeof Between>;

const ScenarioTypeName = z.enum(SCENARIO_TYPES as [ScenarioType, ...ScenarioType[]]);

const weights = <T extends z.ZodEnum>(keys: T) =>
  z
    .partialRecord(keys, z.number().min(0))
    .refine((w) => Object.values(w).some((v) => (v ?? 0) > 0), 'give at least one a weight above 0');

export const ScenarioRecipe = z.strictObject({
  type: ScenarioTypeName,
  /** Share of the generated households that get this scenario (each household gets at most one). */
  share: z.number().min(0).max(1),
  /** Only households of these profiles / meter modes (default: any). */
  profiles: z.array(Profile).optional(),
  meters: z.array(MeterMode).optional(),
  /** Day index (0 = the first day) and local hour the scenario starts; default: any day but the first two, any hour. */
  startDay: Between.optional(),
  startHour: Between.default([0, 24]),
  /** The scenario's numeric fields (`litersPerHour`, `durationMinutes`, `durationHours`, `days`, …; `wakeHour` for late-waking). */
  params: z.record(z.string(), Between).default({}),
  /** For marked-away: the reason given. */
  reason: z.string().max(200).optional(),
});
export type ScenarioRecipe = z.infer<typeof ScenarioRecipe>;

const RelativeTime = z.strictObject({
  day: z.number().int().min(0),
  at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected local time as HH:MM'),
});
export type RelativeTime = z.infer<typeof RelativeTime>;

/** An explicit scenario: a scenario whose times may be relative (checked against the scenario schema later). */
export const ScenarioTemplate = z.looseObject({
  type: ScenarioTypeName,
  start: z.union([RelativeTime, z.string(), z.number()]).optional(),
  at: z.union([RelativeTime, z.string(), z.number()]).optional(),
  day: z.union([z.number().int().min(0), z.string()]).optional(),
});
export type ScenarioTemplate = z.infer<typeof ScenarioTemplate>;

export const ExplicitHousehold = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/)
    .optional(),
  profile: Profile,
  meter: MeterMode.default('15min'),
  /** The household's own seed (default: drawn from the mix seed and its position); twins share one. */
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
  scenarios: z.array(ScenarioTemplate).default([]),
});
export type ExplicitHousehold = z.infer<typeof ExplicitHousehold>;

export const ScenarioMix = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
  description: z.string().max(2000).optional(),
  /** Defaults the command line may override. */
  households: z.number().int().min(1).max(1_000_000).default(100),
  days: z.number().int().min(1).max(400).default(30),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(1),
  /** First local day of the run (a Monday is a good start). */
  start: z.iso.date({ message: 'expected a local date YYYY-MM-DD' }).default('2026-03-02'),
  timezone: z.string().default('Asia/Shanghai'),
  profiles: weights(Profile),
  meters: weights(MeterMode).default({ '15min': 1 }),
  /** Register resolution of the meters (real meters count whole liters). */
  resolutionLiters: z.number().gt(0).max(100).default(1),
  householdsPerGrid: z.number().int().min(1).max(10_000).default(300),
  scenarios: z.array(ScenarioRecipe).default([]),
  /** Households spelled out one by one; they come first and count towards `households`. */
  explicit: z.array(ExplicitHousehold).default([]),
});
export type ScenarioMix = z.infer<typeof ScenarioMix>;
export type ScenarioMixInput = z.input<typeof ScenarioMix>;

export const LIBRARY_DIR = join(packageRoot(), 'simulators', 'library');

/** Names of the ready mixes in simulators/library. */
export function libraryMixes(): string[] {
  return readdirSync(LIBRARY_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => basename(f, '.json'))
    .sort();
}

/** A library mix by name, or a JSON file by path; validated (every problem named with its path). */
export function loadScenarioMix(nameOrFile: string): ScenarioMix {
  const file = existsSync(nameOrFile) ? nameOrFile : join(LIBRARY_DIR, `${nameOrFile}.json`);
  if (!existsSync(file)) {
    throw new CareflowError(
      'ERR_SCENARIO_INVALID',
      `no scenario file ${nameOrFile} and no library mix of that name (library: ${libraryMixes().join(', ')})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CareflowError('ERR_SCENARIO_INVALID', `cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  return parseScenarioMix(json, file);
}

export function parseScenarioMix(json: unknown, source = 'scenario mix'): ScenarioMix {
  const parsed = ScenarioMix.safeParse(json);
  if (!parsed.success) {
    const issues = fieldIssues(parsed.error.issues);
    throw new CareflowError(
      'ERR_SCENARIO_INVALID',
      `${source} is not a valid scenario mix: ${describeIssues(issues)}`,
      issues,
    );
  }
  return parsed.data;
}
