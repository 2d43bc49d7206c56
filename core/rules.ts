import { z } from 'zod';

/**
 * Detector rules: `{ id, type, enabled, severity, params }` as in docs/detectors (shared).
 * The schema is the single source of truth; the defaults below are the deployed-service values it names,
 * except where the detection benchmark showed them crying wolf (README, "Changes to the documented
 * defaults"): `heavy-use` at 120 L per hour instead of 60, the peak window learned from the usual first use
 * instead of the highest mean, and `meter-silent` following meters that upload once a day.
 */
export const Severity = z.enum(['info', 'warning', 'critical']);
export type Severity = z.infer<typeof Severity>;

/** Who the alert is for; `welfare` rules are the ones away mode silences by default. */
export const RuleAudience = z.enum(['welfare', 'leak', 'maintenance']);
export type RuleAudience = z.infer<typeof RuleAudience>;

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected local time as HH:MM');

export const SustainedLowParams = z.strictObject({
  windowMinutes: z
    .number()
    .int()
    .min(15)
    .max(7 * 24 * 60),
  maxTotalLiters: z.number().min(0).max(100_000),
  /**
   * When set, fire below this fraction of the household's typical use for the same window (its baseline);
   * `maxTotalLiters` applies until the baseline is known (7 complete days within the last 21).
   */
  relativeToBaseline: z.number().gt(0).max(1).nullable().default(null),
  /**
   * Fire only for households where a low day is unusual: at least this share of the complete days among the
   * last 21 reached `maxTotalLiters` (judged once 2 complete days exist; until then the rule fires as before).
   * A vacant flat or a second home is low most days, and its low days tell nobody anything. 0: off.
   */
  minUsualShare: z.number().min(0).max(1).default(0),
  /**
   * Clear-hold: an alert clears only once the condition has stayed false for this long (unknown hours keep
   * the hold running but never clear on their own). 0: it clears at the first known bucket that is not true.
   */
  clearHoldMinutes: z
    .number()
    .int()
    .min(0)
    .max(14 * 24 * 60)
    .default(0),
  /**
   * Re-open window: when the rule fires again within this long after its alert cleared, the detection says
   * so (`reopen`) and the notifier re-opens that alert on its timeline instead of opening a new one. 0: off.
   */
  reopenWithinMinutes: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 60)
    .default(0),
});
export const SustainedHighParams = z.strictObject({
  windowMinutes: z
    .number()
    .int()
    .min(15)
    .max(7 * 24 * 60),
  minLitersPerBucket: z.number().gt(0).max(100_000),
  /**
   * Once its alert is open, the condition still holds with up to this share of the window's buckets known
   * and below the bar (a slow leak read by a whole-liter meter shows 0 L in an hour now and then). 0: every
   * bucket must stay at the bar.
   */
  holdToleranceShare: z.number().min(0).max(0.5).default(0),
  /**
   * Household-relative bar: a new alert opens only where every bucket of the window also reaches this
   * multiple of the household's own 99th-percentile hour over the last 14 days (scaled to the bucket size;
   * used once a week of hours is known). A family whose evenings always run high is not news. null: off.
   */
  relativeToHighHour: z.number().min(0.5).max(10).nullable().default(null),
  /**
   * Clear-hold: an alert clears only once the condition has stayed false for this long (unknown hours keep
   * the hold running but never clear on their own). 0: it clears at the first known bucket that is not true.
   */
  clearHoldMinutes: z
    .number()
    .int()
    .min(0)
    .max(14 * 24 * 60)
    .default(0),
  /**
   * Re-open window: when the rule fires again within this long after its alert cleared, the detection says
   * so (`reopen`) and the notifier re-opens that alert on its timeline instead of opening a new one. 0: off.
   */
  reopenWithinMinutes: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 60)
    .default(0),
});
/** Longest history a learned peak may look back on (the history is kept per household: 24 bytes a day). */
export const MAX_LEARN_DAYS = 28;

/** For `first-use`, a household's day starts at 04:00 local: night-time toilet visits are not getting up. */
export const FIRST_USE_AFTER_HOUR = 4;

export const ZeroAtPeakParams = z.strictObject({
  /** Peak window, local time: the fixed window, or the fallback until a learned one exists. */
  start: HHMM,
  end: HHMM,
  maxLiters: z.number().min(0).max(10_000),
  /** Learn each household's peak window over its last `learnDays` days (see `learnFrom`). */
  learn: z.boolean().default(false),
  /**
   * How the window is learned: `first-use` — the `peakHours` hours from the household's usual first use of
   * the day (the median, over the complete days, of the first hour after 04:00 with more than `maxLiters`:
   * when the resident usually gets up); `highest-mean` — the `peakHours` hours with the highest mean use.
   */
  learnFrom: z.enum(['first-use', 'highest-mean']).default('first-use'),
  peakHours: z.number().int().min(1).max(12).default(3),
  learnDays: z.number().int().min(1).max(MAX_LEARN_DAYS).default(21),
  /** Complete days (all 24 hours known) needed within `learnDays` before the learned window is used. */
  minDays: z.number().int().min(1).max(MAX_LEARN_DAYS).default(7),
  /**
   * Fire only for households that usually use water in that window: on at least this share of the complete
   * days among the last `learnDays` (judged once 2 complete days exist; until then the rule fires as before).
   * A household that is out most mornings has dry mornings that mean nothing. 0: off.
   */
  minUsualShare: z.number().min(0).max(1).default(0),
});
export const SilentParams = z.strictObject({
  afterMinutes: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 60),
  /**
   * Meters that report less often than `afterMinutes` (a daily upload): silent only after this multiple of
   * the meter's usual interval between messages (the median of its last three), when that is longer than
   * `afterMinutes`. `null`: `afterMinutes` for every meter.
   */
  usualIntervalFactor: z.number().min(1).max(10).nullable().default(null),
  /**
   * Which households the rule watches: `all`, or `welfare` — households registered as elderly or living
   * alone (silence there means nobody knows whether the resident is well).
   */
  households: z.enum(['all', 'welfare']).default('all'),
  /**
   * Learned reliability: a meter that dropped out for a while within the last 30 days and came back by
   * itself is silent only after this multiple of that longest interval (when longer than the other waits),
   * up to `maxAfterMinutes`. `null`: off.
   */
  reliabilityFactor: z.number().min(1).max(10).nullable().default(null),
  maxAfterMinutes: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 60)
    .nullable()
    .default(null),
  /**
   * Clear-hold: the alert (one ticket per meter) clears only once readings have come in without a new
   * silence for this long. 0: it clears at the first reading.
   */
  clearHoldMinutes: z
    .number()
    .int()
    .min(0)
    .max(14 * 24 * 60)
    .default(0),
  /**
   * Re-open window: when the rule fires again within this long after its alert cleared, the detection says
   * so (`reopen`) and the notifier re-opens that alert on its timeline instead of opening a new one. 0: off.
   */
  reopenWithinMinutes: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 60)
    .default(0),
});

const ruleBase = {
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
  enabled: z.boolean().default(true),
  severity: Severity,
  audience: RuleAudience,
  /** Close the alert automatically when the condition clears (never for welfare rules by default). */
  autoResolve: z.boolean().default(false),
  /** Whether a household marked away gets this rule's alerts. */
  suppressedWhenAway: z.boolean().default(false),
};

export const Rule = z.discriminatedUnion('type', [
  z.strictObject({ ...ruleBase, type: z.literal('sustained-low'), params: SustainedLowParams }),
  z.strictObject({ ...ruleBase, type: z.literal('sustained-high'), params: SustainedHighParams }),
  z.strictObject({ ...ruleBase, type: z.literal('zero-at-peak'), params: ZeroAtPeakParams }),
  z.strictObject({ ...ruleBase, type: z.literal('silent'), params: SilentParams }),
]);
export type Rule = z.infer<typeof Rule>;
export type RuleType = Rule['type'];
export type RuleOf<T extends RuleType> = Extract<Rule, { type: T }>;

export const RuleSet = z.array(Rule).superRefine((rules, ctx) => {
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (seen.has(r.id))
      ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate rule id "${r.id}"` });
    seen.add(r.id);
  });
});

export const DEFAULT_RULES: Rule[] = RuleSet.parse([
  {
    id: 'low-use',
    type: 'sustained-low',
    severity: 'critical',
    audience: 'welfare',
    suppressedWhenAway: true,
    params: { windowMinutes: 24 * 60, maxTotalLiters: 10, minUsualShare: 0.9 },
  },
  {
    id: 'continuous-flow',
    type: 'sustained-high',
    severity: 'warning',
    audience: 'leak',
    autoResolve: true,
    params: {
      windowMinutes: 24 * 60,
      minLitersPerBucket: 1,
      holdToleranceShare: 0.2,
      clearHoldMinutes: 24 * 60,
      reopenWithinMinutes: 72 * 60,
    },
  },
  {
    id: 'heavy-use',
    type: 'sustained-high',
    severity: 'critical',
    audience: 'welfare',
    autoResolve: true,
    params: { windowMinutes: 2 * 60, minLitersPerBucket: 120, relativeToHighHour: 1 },
  },
  {
    id: 'no-water-at-peak',
    type: 'zero-at-peak',
    severity: 'warning',
    audience: 'welfare',
    suppressedWhenAway: true,
    params: { start: '06:00', end: '09:00', maxLiters: 1, learn: true, minUsualShare: 0.9 },
  },
  {
    id: 'meter-silent',
    type: 'silent',
    severity: 'info',
    audience: 'maintenance',
    autoResolve: true,
    params: {
      afterMinutes: 6 * 60,
      usualIntervalFactor: 1.25,
      clearHoldMinutes: 3 * 24 * 60,
      reopenWithinMinutes: 14 * 24 * 60,
    },
  },
  {
    id: 'welfare-silent',
    type: 'silent',
    severity: 'warning',
    audience: 'welfare',
    autoResolve: true,
    suppressedWhenAway: true,
    params: {
      afterMinutes: 24 * 60,
      usualIntervalFactor: 2,
      households: 'welfare',
      reliabilityFactor: 1.5,
      maxAfterMinutes: 48 * 60,
    },
  },
]);

/**
 * The default rules without their noise controls (clear-hold, re-open window, hold tolerance, usual-share
 * gates, learned meter reliability, the household-relative heavy-use bar) and without `welfare-silent`: what
 * each rule type does on its own, as documented. The tests of the rule mechanics use it; the noise controls have tests of their own.
 */
export const PLAIN_RULES: Rule[] = RuleSet.parse(
  DEFAULT_RULES.filter((r) => r.id !== 'welfare-silent').map((r) => {
    const p: Record<string, unknown> = { ...r.params };
    for (const k of ['clearHoldMinutes', 'reopenWithinMinutes', 'holdToleranceShare', 'minUsualShare'])
      if (k in p) p[k] = 0;
    if ('reliabilityFactor' in p) p.reliabilityFactor = null;
    if ('maxAfterMinutes' in p) p.maxAfterMinutes = null;
    if ('relativeToHighHour' in p) p.relativeToHighHour = null;
    return { ...r, params: p };
  }),
);

/** Partial override of one rule by id (config file and rule scopes): any top-level field or any param. */
export const RuleOverride = z.strictObject({
  enabled: z.boolean().optional(),
  severity: Severity.optional(),
  autoResolve: z.boolean().optional(),
  suppressedWhenAway: z.boolean().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
});
export type RuleOverride = z.infer<typeof RuleOverride>;

/** Applies overrides by rule id to a base rule set and validates the result as a whole. */
export function applyRuleOverrides(base: Rule[], overrides: Record<string, RuleOverride>) {
  const merged = base.map((rule) => {
    const o = overrides[rule.id];
    if (!o) return rule;
    return { ...rule, ...o, params: { ...rule.params, ...(o.params ?? {}) } };
  });
  const unknown = Object.keys(overrides).filter((id) => !base.some((r) => r.id === id));
  const parsed = RuleSet.safeParse(merged);
  return { parsed, unknown };
}

/** Parses `HH:MM` to minutes after local midnight. */
export function minutesOfDay(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/**
 * The rule hierarchy: overrides set at a scope, most specific wins parameter by parameter:
 * default rules ← config file (`detectors.rules`) ← global ← district ← street ← community ← grid ← building
 * ← household (district and building only where the registry names them).
 */
export const RuleScopeLevel = z.enum([
  'global',
  'district',
  'street',
  'community',
  'grid',
  'building',
  'household',
]);
export type RuleScopeLevel = z.infer<typeof RuleScopeLevel>;
/** The code of the one global scope (`PUT /api/rules/global/all`). */
export const GLOBAL_CODE = 'all';

export interface RuleScope {
  level: RuleScopeLevel;
  code: string;
}

/** `street:s1`, `grid:g1`, `global`: how a scope is named in sources, audit targets and the CLI. */
export function scopeName(scope: RuleScope): string {
  return scope.level === 'global' ? 'global' : `${scope.level}:${scope.code}`;
}

/** Where a household sits in the organisation (the scopes whose rules apply to it). */
export interface HouseholdPlace {
  household: string;
  grid: string;
  community: string;
  street: string;
  /** The district above the street and the household's building, when the registry names them. */
  district?: string;
  building?: string;
}

/** The overrides one scope sets, by rule id. */
export type ScopeOverrides = Record<string, RuleOverride>;

/** A rule as it applies to one household, with where each value comes from (`params.maxTotalLiters`: `grid:g1`). */
export type EffectiveRule = Rule & { sources: Record<string, string> };

export interface EffectiveRules {
  householdId: string;
  place: HouseholdPlace | null;
  rulesVersion: number;
  rules: EffectiveRule[];
  /** What the detectors learned about the household (peak windows, baseline), if they have seen it. */
  learned?: Record<string, unknown>;
}

/** One rule's override changed at one scope, as kept in the versioned history. */
export interface RuleChangeRecord {
  version: number;
  at: number;
  actor: string;
  scope: RuleScope;
  ruleId: string;
  old: RuleOverride | null;
  new: RuleOverride | null;
  reason: string;
}

/** A change set for one scope: a rule id → its new override, or null to remove the scope's override. */
export type RuleChanges = Record<string, RuleOverride | null>;

/** What the HTTP API and the CLI may do with the rule hierarchy (the detectors' rule book implements it). */
export interface RuleAdmin {
  version(): number;
  effective(householdId: string): EffectiveRules;
  overrides(scope: RuleScope): ScopeOverrides;
  /**
   * Validates the whole change (field-level issues), stores it as one new version — calling `stored` in the
   * same transaction (the audit entry) — and applies it to the running detectors once committed.
   */
  set(
    scope: RuleScope,
    changes: RuleChanges,
    by: { actor: string; at: number; reason: string },
    stored?: (result: { version: number; changes: RuleChangeRecord[] }) => void,
  ): { version: number; changes: RuleChangeRecord[] };
  history(scope: RuleScope, limit: number): RuleChangeRecord[];
}
