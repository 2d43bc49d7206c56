import { z } from 'zod';

/**
 * Detector rules: `{ id, type, enabled, severity, params }` as in docs/detectors (shared): what every rule has
 * in common (severity, audience, the envelope), overrides and the rule hierarchy's scopes.
 */
export const Severity = z.enum(['info', 'warning', 'critical']);
export type Severity = z.infer<typeof Severity>;

/** Who the alert is for; `welfare` rules are the ones away mode silences by default. */
export const RuleAudience = z.enum(['welfare', 'leak', 'maintenance']);
export type RuleAudience = z.infer<typeof RuleAudience>;

/**
 * The fields every rule has, whatever its type. The rule types themselves — each one's `params` schema and
 * defaults, condition, evidence, needs and message — are the detectors' rule catalogue, one module per type
 * (detectors/rules/<type>.ts, listed in detectors/rules/index.ts, which builds the `Rule` schema and holds
 * `DEFAULT_RULES`). core imports nothing of ours, so it knows a rule only by this envelope: `type` is a
 * string and `params` an object here, and the rest of careflow gets the precise types from the catalogue.
 */
export const ruleEnvelope = {
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
  enabled: z.boolean().default(true),
  severity: Severity,
  audience: RuleAudience,
  /** Close the alert automatically when the condition clears (never for welfare rules by default). */
  autoResolve: z.boolean().default(false),
  /** Whether a household marked away gets this rule's alerts. */
  suppressedWhenAway: z.boolean().default(false),
};

/** A rule as core sees it (see `ruleEnvelope`). */
export const RuleEnvelope = z.object({
  ...ruleEnvelope,
  type: z.string(),
  params: z.record(z.string(), z.unknown()),
});
export type RuleEnvelope = z.infer<typeof RuleEnvelope>;

/** Longest history a learned peak may look back on (the history is kept per household: 24 bytes a day). */
export const MAX_LEARN_DAYS = 28;

/** For `first-use`, a household's day starts at 04:00 local: night-time toilet visits are not getting up. */
export const FIRST_USE_AFTER_HOUR = 4;

/** Partial override of one rule by id (config file and rule scopes): any top-level field or any param. */
export const RuleOverride = z.strictObject({
  enabled: z.boolean().optional(),
  severity: Severity.optional(),
  autoResolve: z.boolean().optional(),
  suppressedWhenAway: z.boolean().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
});
export type RuleOverride = z.infer<typeof RuleOverride>;

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
export type EffectiveRule<R extends RuleEnvelope = RuleEnvelope> = R & { sources: Record<string, string> };

export interface EffectiveRules<R extends RuleEnvelope = RuleEnvelope> {
  householdId: string;
  place: HouseholdPlace | null;
  rulesVersion: number;
  rules: EffectiveRule<R>[];
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
export interface RuleAdmin<R extends RuleEnvelope = RuleEnvelope> {
  version(): number;
  effective(householdId: string): EffectiveRules<R>;
  overrides(scope: RuleScope): ScopeOverrides;
  /**
   * Validates the whole change (field-level issues), stores it as one new version — calling `stored` in the
   * same transaction (the audit entry) — and applies it to the running detectors once committed. A cluster
   * worker's (cluster/rule-admin.ts) publishes it to the shared rules, and answers when published.
   */
  set(
    scope: RuleScope,
    changes: RuleChanges,
    by: { actor: string; at: number; reason: string },
    stored?: (result: { version: number; changes: RuleChangeRecord[] }) => void,
  ):
    | { version: number; changes: RuleChangeRecord[] }
    | Promise<{ version: number; changes: RuleChangeRecord[] }>;
  history(scope: RuleScope, limit: number): RuleChangeRecord[];
}
