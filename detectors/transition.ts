import type { Evidence } from '../core/alerts.ts';
import type { Rule } from '../core/rules.ts';
import type { Detection, DetectionKind } from '../core/streams.ts';
import { activeSince, clearActive, setActive, type HouseholdState } from './household-state.ts';
import type { Condition } from './rules/condition.ts';
import type { StepContext } from './step.ts';

/** How a rule's condition becomes detections: opened / updated / cleared, with away mode applied. */
export function suppressed(hid: string, rule: Rule, from: number, to: number, ctx: StepContext): boolean {
  return rule.suppressedWhenAway && ctx.away !== undefined && ctx.away(hid, from, to);
}

/** Turns a condition into opened / updated / cleared (or nothing), keeping the household's active rules in step. */
export function decide(
  hid: string,
  s: HouseholdState,
  rule: Rule,
  cond: Condition,
  at: number,
  windowStart: number,
  ctx: StepContext,
): DetectionKind | null {
  const active = activeSince(s, rule.id) !== undefined;
  if (cond.state === 'true') {
    if (suppressed(hid, rule, windowStart, at, ctx)) return null;
    if (active) return 'updated';
    setActive(s, rule.id, at);
    return 'opened';
  }
  if (cond.state === 'false' && active) {
    clearActive(s, rule.id);
    return 'cleared';
  }
  return null;
}

export function emit(
  out: Detection[],
  hid: string,
  rule: Rule,
  kind: DetectionKind,
  at: number,
  evidence: Evidence,
) {
  out.push({
    key: `${hid}|${rule.id}|${kind}|${at}`,
    householdId: hid,
    ruleId: rule.id,
    ruleType: rule.type,
    kind,
    at,
    evidence,
    severity: rule.severity,
    audience: rule.audience,
    autoResolve: rule.autoResolve,
  });
}

export function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
