import { z } from 'zod';
import type { Evidence, Outcome } from './alerts.ts';
import { Timestamp } from './readings.ts';
import { GLOBAL_CODE, RuleOverride, type RuleChanges, type RuleScope } from './rules.ts';

/**
 * Backtests: candidate rules run over the stored buckets of a scope and period with the detectors' own
 * `step`, next to the alerts that did fire and what people found. The contract the API and CLI share.
 */
export const ScopeRef = z
  .string()
  .regex(
    /^(global|(district|street|community|grid|building|household):[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/,
    'expected global, district:<code>, street:<code>, community:<code>, grid:<code>, building:<code> or household:<id>',
  );

/** `street:s1` → the scope; `global` → the global scope (the ref is valid `ScopeRef`). */
export function scopeOfRef(ref: string): RuleScope {
  if (ref === 'global') return { level: 'global', code: GLOBAL_CODE };
  const i = ref.indexOf(':');
  return { level: ref.slice(0, i) as RuleScope['level'], code: ref.slice(i + 1) };
}

export const MAX_BACKTEST_DAYS = 93;

export const BacktestRequest = z.strictObject({
  /** Which households: `global`, `street:s1`, `community:c1`, `grid:g1`, `household:h-1`. */
  scope: ScopeRef,
  from: Timestamp,
  to: Timestamp,
  /** Candidate changes at the scope, as `PUT /api/rules/{scope}` would make them (null removes an override). */
  rules: z.record(z.string(), RuleOverride.nullable()).optional(),
  /** Start from the rules as they were at this version instead of the current ones. */
  rulesVersion: z.number().int().min(1).optional(),
  /** A would-be alert and a real one of the same household and rule are the same alert this close together. */
  matchWithinHours: z.number().int().min(0).max(168).default(24),
  /** Also list every detection (opened, updated, cleared) of the candidate run. */
  detections: z.boolean().default(false),
});
export type BacktestRequest = z.output<typeof BacktestRequest>;
export type BacktestRequestInput = z.input<typeof BacktestRequest>;

/** How an alert turned out: `confirmed` and `false` outcomes are defined in README "Backtest". */
export type Verdict = 'confirmed' | 'false' | 'other' | 'open';

export interface WouldFire {
  householdId: string;
  ruleId: string;
  at: number;
  /** The live alert it corresponds to, if any. */
  alertId: string | null;
  /** What the candidate rule saw when it opened: its window and thresholds (for a chart of it). */
  evidence: Pick<Evidence, 'windowStart' | 'windowEnd' | 'thresholds'>;
}

export interface DidFire {
  alertId: string;
  householdId: string;
  ruleId: string;
  openedAt: number;
  outcome: Outcome | null;
  verdict: Verdict;
  /** Whether the candidate rules raise it too, and how much later (negative: earlier), in ms. */
  caught: boolean;
  shiftMs: number | null;
}

export interface RuleDifference {
  ruleId: string;
  audience: string;
  wouldFire: number;
  didFire: number;
  /** Live alerts the candidate raises too. */
  caught: number;
  confirmed: number;
  confirmedCaught: number;
  falseAlarms: number;
  falseAlarmsAvoided: number;
  /** Would-be alerts with no live counterpart: nobody has judged them. */
  newAlerts: number;
  earlier: number[];
  later: number[];
}

export interface BacktestReport {
  scope: string;
  from: number;
  to: number;
  households: number;
  buckets: number;
  /** Rules version the candidate starts from, and the candidate changes. */
  rulesVersion: number;
  candidate: RuleChanges | null;
  warmupDays: number;
  /** Rules a backtest cannot replay (silence depends on arrival times, not on buckets). */
  excludedRules: string[];
  wouldFire: WouldFire[];
  didFire: DidFire[];
  rules: RuleDifference[];
  /** The difference in words, one sentence per rule. */
  summary: string[];
  detections?: { key: string; householdId: string; ruleId: string; kind: string; at: number }[];
  durationMs: number;
}

/** Runs backtests (the composition root hands one to the API). */
export interface Backtester {
  run(
    request: BacktestRequest,
    opts?: { onProgress?: (done: number, total: number) => void },
  ): Promise<BacktestReport>;
}
