import { z } from 'zod';

/**
 * Detector rules: `{ id, type, enabled, severity, params }` as in docs/detectors (shared).
 * The schema is the single source of truth; the defaults below are the deployed-service values it names.
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
});
export const SustainedHighParams = z.strictObject({
  windowMinutes: z
    .number()
    .int()
    .min(15)
    .max(7 * 24 * 60),
  minLitersPerBucket: z.number().gt(0).max(100_000),
});
export const ZeroAtPeakParams = z.strictObject({
  /** Peak window, local time (learned per-household windows are planned; this is the fixed window). */
  start: HHMM,
  end: HHMM,
  maxLiters: z.number().min(0).max(10_000),
});
export const SilentParams = z.strictObject({
  afterMinutes: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 60),
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
    params: { windowMinutes: 24 * 60, maxTotalLiters: 10 },
  },
  {
    id: 'continuous-flow',
    type: 'sustained-high',
    severity: 'warning',
    audience: 'leak',
    autoResolve: true,
    params: { windowMinutes: 24 * 60, minLitersPerBucket: 1 },
  },
  {
    id: 'heavy-use',
    type: 'sustained-high',
    severity: 'critical',
    audience: 'welfare',
    autoResolve: true,
    params: { windowMinutes: 2 * 60, minLitersPerBucket: 60 },
  },
  {
    id: 'no-water-at-peak',
    type: 'zero-at-peak',
    severity: 'warning',
    audience: 'welfare',
    suppressedWhenAway: true,
    params: { start: '06:00', end: '09:00', maxLiters: 1 },
  },
  {
    id: 'meter-silent',
    type: 'silent',
    severity: 'info',
    audience: 'maintenance',
    autoResolve: true,
    params: { afterMinutes: 6 * 60 },
  },
]);

/** Partial override of one rule by id (config and, later, scopes): any top-level field or any param. */
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
