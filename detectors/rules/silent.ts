import { z } from 'zod';
import { duration, num } from '../../core/alert-text.ts';
import { ruleEnvelope } from '../../core/rules.ts';
import type { Detection } from '../../core/streams.ts';
import { activeSince, RELIABILITY_MEMORY_MS, type HouseholdState } from '../household-state.ts';
import type { StepContext } from '../step-context.ts';
import {
  clearRule,
  decide,
  dropMark,
  emit,
  holdOf,
  holdThresholds,
  mark,
  RESUMED_AT,
  setMark,
} from '../transition.ts';
import { lifecycleParams } from './shared-params.ts';
import type { RuleTypeModule } from './rule-type.ts';

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
  ...lifecycleParams,
});

/** A `silent` rule: the envelope every rule has, and its parameters. */
export const SilentRule = z.strictObject({
  ...ruleEnvelope,
  type: z.literal('silent'),
  params: SilentParams,
});
export type SilentRule = z.infer<typeof SilentRule>;

/**
 * The `silent` rule type (`meter-silent`, `welfare-silent`): a wall-clock rule on the service clock. A reading
 * ends a silence (or, with a clear-hold, starts the hold of its ticket); a clock tick opens one when no
 * reading has arrived for the rule's wait. (The household's reading times are noted by `step` after every
 * rule has seen the reading.)
 */
export function onReading(
  hid: string,
  s: HouseholdState,
  rule: SilentRule,
  r: { ts: number; receivedAt: number },
  ctx: StepContext,
  out: Detection[],
): void {
  const since = activeSince(s, rule.id);
  if (since === undefined) return;
  const hold = holdOf(rule);
  if (hold.clearHoldMs > 0) {
    // One ticket per meter: it stays open until the meter has reported for the whole hold without falling
    // silent again (checked on the clock, see onTick).
    if (mark(s, rule.id, RESUMED_AT) === undefined) setMark(s, rule.id, RESUMED_AT, r.receivedAt);
    return;
  }
  clearRule(s, rule, r.receivedAt, hold);
  emit(out, hid, rule, 'cleared', r.receivedAt, {
    windowStart: since,
    windowEnd: r.receivedAt,
    thresholds: silentThresholds(s, rule),
    ruleVersion: ctx.rulesVersion,
    lastReadingAt: r.receivedAt,
  });
}

export function onTick(
  hid: string,
  s: HouseholdState,
  rule: SilentRule,
  now: number,
  ctx: StepContext,
  out: Detection[],
) {
  const last = s.lastReceivedAt;
  if (last === null) return;
  const thresholds = silentThresholds(s, rule);
  const deadline = last + thresholds.silentMinutes * 60_000;
  const since = activeSince(s, rule.id);
  if (since !== undefined) {
    heldSilence(hid, s, rule, since, last, now, deadline, thresholds, ctx, out);
    return;
  }
  if (!rule.enabled || now < deadline) return;
  if (rule.params.households === 'welfare' && !(ctx.welfare?.(hid) ?? false)) return;
  // A network outage of the meter's grid explains the silence: the outage is reported once instead.
  if (ctx.outage?.(hid, last) === true) return;
  const kind = decide(hid, s, rule, { state: 'true', totalLiters: 0 }, deadline, last, ctx, holdOf(rule));
  if (!kind) return;
  emit(out, hid, rule, kind, deadline, {
    windowStart: last,
    windowEnd: deadline,
    thresholds,
    ruleVersion: ctx.rulesVersion,
    lastReadingAt: last,
  });
}

/**
 * An open silence ticket with a clear-hold: it clears once the meter has reported for the hold without
 * falling silent again; a new silence within the hold is written to the same ticket (`updated`).
 */
function heldSilence(
  hid: string,
  s: HouseholdState,
  rule: SilentRule,
  since: number,
  last: number,
  now: number,
  deadline: number,
  thresholds: ReturnType<typeof silentThresholds>,
  ctx: StepContext,
  out: Detection[],
): void {
  const resumed = mark(s, rule.id, RESUMED_AT);
  if (resumed === undefined) return; // still silent
  const hold = holdOf(rule);
  const evidence = {
    windowStart: since,
    thresholds: { ...thresholds, ...holdThresholds(rule) },
    ruleVersion: ctx.rulesVersion,
    lastReadingAt: last,
  };
  if (now >= deadline && deadline > resumed) {
    dropMark(s, rule.id, RESUMED_AT);
    emit(out, hid, rule, 'updated', deadline, { ...evidence, windowEnd: deadline });
  } else if (now - resumed >= hold.clearHoldMs) {
    const at = resumed + hold.clearHoldMs;
    clearRule(s, rule, at, hold);
    emit(out, hid, rule, 'cleared', at, { ...evidence, windowEnd: at });
  }
}

/**
 * How long this meter may stay quiet: `afterMinutes`, or for a meter that usually reports less often (a
 * daily upload) `usualIntervalFactor` times its usual interval.
 */
function silentThresholds(s: HouseholdState, rule: SilentRule, now = Number.POSITIVE_INFINITY) {
  const { afterMinutes, usualIntervalFactor, reliabilityFactor, maxAfterMinutes } = rule.params;
  const usual = s.usualIntervalMs;
  const usualIntervalMinutes = usual === null ? null : Math.round(usual / 60_000);
  let silentMinutes =
    usualIntervalFactor === null || usual === null
      ? afterMinutes
      : Math.max(afterMinutes, Math.round((usualIntervalFactor * usual) / 60_000));
  const longest = s.longestRecentGapMs;
  const longestAt = s.longestRecentGapAt;
  let longestRecentGapMinutes: number | null = null;
  if (reliabilityFactor !== null && longest !== null && longestAt !== null) {
    // Remembered for 30 days from when it ended, counted from the last reading: the wait never shrinks
    // while the meter is silent.
    const last = s.lastReceivedAt ?? now;
    if (last - longestAt <= RELIABILITY_MEMORY_MS) {
      longestRecentGapMinutes = Math.round(longest / 60_000);
      silentMinutes = Math.max(silentMinutes, Math.round(reliabilityFactor * longestRecentGapMinutes));
    }
  }
  if (maxAfterMinutes !== null)
    silentMinutes = Math.min(silentMinutes, Math.max(afterMinutes, maxAfterMinutes));
  return {
    afterMinutes,
    usualIntervalMinutes,
    ...(longestRecentGapMinutes === null ? {} : { longestRecentGapMinutes }),
    silentMinutes,
  };
}

/**
 * `silent` (`meter-silent`, `welfare-silent`): no reading for the meter's wait, on the service clock. It
 * needs no bucket history, only when the latest readings arrived; with `households: welfare` it watches only
 * households registered as elderly or living alone. Its message says it is not a sign of no water use.
 */
export const silentType: RuleTypeModule<SilentRule, typeof SilentRule> = {
  type: 'silent',
  schema: SilentRule,
  params: SilentParams,
  clock: 'wall',
  needs: () => ({ windowMinutes: 0, historyDays: 0 }),
  validate: () => [],
  onReading,
  onTick,
  openedText(_audience, address, evidence) {
    const t = evidence.thresholds;
    // `silentMinutes`: the wait for this meter (longer for one that uploads once a day).
    const w = duration(num(t.silentMinutes ?? t.afterMinutes));
    return {
      'zh-CN': `${address}：水表已超过${w['zh-CN']}没有上报数据，请安排检查水表或网络（这不代表住户没有用水）。`,
      en: `${address}: the water meter has not reported for over ${w.en}. Please arrange a meter or network check (this does not mean no water was used).`,
    };
  },
};
