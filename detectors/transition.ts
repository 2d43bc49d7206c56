import type { Evidence } from '../core/alerts.ts';
import type { RuleEnvelope } from '../core/rules.ts';
import type { Detection, DetectionKind } from '../core/streams.ts';
import { activeSince, clearActive, setActive, type HouseholdState } from './household-state.ts';
import type { Condition } from './rules/condition.ts';
import type { StepContext } from './step-context.ts';
import { episodeOf, joinWelfareEpisode, type EpisodeRef } from './welfare-episode.ts';

/** How a rule's condition becomes detections: opened / updated / cleared, with away mode applied. */
export function suppressed(
  hid: string,
  rule: RuleEnvelope,
  from: number,
  to: number,
  ctx: StepContext,
): boolean {
  return rule.suppressedWhenAway && ctx.away !== undefined && ctx.away(hid, from, to);
}

/** Clear-hold and re-open window of a rule, in ms (both 0: clear at once, never re-open). */
export interface Hold {
  clearHoldMs: number;
  reopenWithinMs: number;
}

export const NO_HOLD: Hold = { clearHoldMs: 0, reopenWithinMs: 0 };

/** The hold of a rule whose params set `clearHoldMinutes` / `reopenWithinMinutes`. */
export function holdOf(rule: RuleEnvelope): Hold {
  const p = rule.params as { clearHoldMinutes?: number; reopenWithinMinutes?: number };
  return {
    clearHoldMs: (p.clearHoldMinutes ?? 0) * 60_000,
    reopenWithinMs: (p.reopenWithinMinutes ?? 0) * 60_000,
  };
}

/**
 * Per-rule marks kept beside the active rules (and checkpointed with them): since when the condition of an
 * active rule has been false (clear-hold), when its alert last cleared (re-open window), when a silent
 * meter's readings resumed.
 */
export const FALSE_SINCE = '#false-since';
export const CLEARED_AT = '#cleared-at';
export const RESUMED_AT = '#resumed-at';

export function mark(s: HouseholdState, ruleId: string, which: string): number | undefined {
  return activeSince(s, ruleId + which);
}

export function setMark(s: HouseholdState, ruleId: string, which: string, at: number): void {
  setActive(s, ruleId + which, at);
}

export function dropMark(s: HouseholdState, ruleId: string, which: string): void {
  clearActive(s, ruleId + which);
}

/** Whether the last `opened` that `decide` returned re-opens an alert that cleared within the window. */
let reopening = false;
/** The welfare episode the last detection `decide` or `clearRule` returned belongs to as a joined rule, if any. */
let joining: EpisodeRef | null = null;

/** Opens a rule (the caller checked it is not active), noting whether this re-opens its last alert. */
export function openRule(s: HouseholdState, rule: RuleEnvelope, at: number, hold: Hold): 'opened' {
  const cleared = mark(s, rule.id, CLEARED_AT);
  dropMark(s, rule.id, CLEARED_AT);
  reopening = cleared !== undefined && at - cleared <= hold.reopenWithinMs;
  setActive(s, rule.id, at);
  joining = joinWelfareEpisode(s, rule, at);
  return 'opened';
}

/** For a rule cleared outside `clearRule`: its `cleared` detection names the welfare episode it joined. */
export function noteEpisode(s: HouseholdState, rule: RuleEnvelope): void {
  joining = episodeOf(s, rule, 'cleared');
}

/** Clears an active rule, remembering when for the re-open window. */
export function clearRule(s: HouseholdState, rule: RuleEnvelope, at: number, hold: Hold): 'cleared' {
  joining = episodeOf(s, rule, 'cleared');
  clearActive(s, rule.id);
  dropMark(s, rule.id, FALSE_SINCE);
  dropMark(s, rule.id, RESUMED_AT);
  if (hold.reopenWithinMs > 0) setMark(s, rule.id, CLEARED_AT, at);
  return 'cleared';
}

/**
 * Turns a condition into opened / updated / cleared (or nothing), keeping the household's active rules in
 * step. With a clear-hold, an active rule clears only once its condition has been false for the hold; a true
 * condition within the hold keeps the alert (and its timeline) going.
 */
export function decide(
  hid: string,
  s: HouseholdState,
  rule: RuleEnvelope,
  cond: Condition,
  at: number,
  windowStart: number,
  ctx: StepContext,
  hold: Hold = NO_HOLD,
): DetectionKind | null {
  const active = activeSince(s, rule.id) !== undefined;
  if (cond.state === 'true') {
    if (suppressed(hid, rule, windowStart, at, ctx)) return null;
    if (active) {
      dropMark(s, rule.id, FALSE_SINCE);
      joining = episodeOf(s, rule, 'updated');
      return 'updated';
    }
    return openRule(s, rule, at, hold);
  }
  if (cond.state === 'false' && active) {
    if (hold.clearHoldMs > 0) {
      let since = mark(s, rule.id, FALSE_SINCE);
      if (since === undefined) setMark(s, rule.id, FALSE_SINCE, (since = at));
      if (at - since < hold.clearHoldMs) return null;
    }
    return clearRule(s, rule, at, hold);
  }
  return null;
}

export function emit(
  out: Detection[],
  hid: string,
  rule: RuleEnvelope,
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
    ...(kind === 'opened' && reopening ? { reopen: true } : {}),
    ...(joining !== null ? { episode: { ...joining } } : {}),
  });
  reopening = false;
  joining = null;
}

export function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** A rule's clear-hold and re-open window, as its evidence states them. */
export function holdThresholds(rule: RuleEnvelope): Evidence['thresholds'] {
  const h = holdOf(rule);
  const t: Evidence['thresholds'] = {};
  if (h.clearHoldMs > 0) t.clearHoldMinutes = h.clearHoldMs / 60_000;
  if (h.reopenWithinMs > 0) t.reopenWithinMinutes = h.reopenWithinMs / 60_000;
  return t;
}

/** Complete days a usual-share gate needs before it judges a household. */
export const USUAL_MIN_DAYS = 2;

const DAY_MS = 86_400_000;

/** Local days the household was marked away (left out of what is usual for it), if away mode is on. */
export function awayDays(hid: string, ctx: StepContext): ((day: number) => boolean) | undefined {
  const away = ctx.away;
  if (!away) return undefined;
  return (day) => {
    const local = day * DAY_MS;
    const from = local - ctx.localTime.offsetMs(local);
    return away(hid, from, from + DAY_MS);
  };
}
