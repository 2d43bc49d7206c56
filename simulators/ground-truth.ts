import type { LocalTime } from '../core/local-time.ts';
import { minutesOfDay } from '../core/rules.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import type { Rule, RuleOf } from '../detectors/rules/index.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS, localMinuteToUtc, parseLocalDate } from './local-day.ts';
import { z } from 'zod';
import { SCENARIO_TYPES, type Scenario, type ScenarioType } from './scenario-schema.ts';
import { residentAbsence } from './scenarios.ts';

/**
 * The ground truth of a scenario: the alert it should raise (`expect: 'alert'`, any of `rules` counts) or
 * the alerts it must not raise (`expect: 'no-alert'`), and the time window in which an alert is attributed
 * to it. `observableAt` is when the rule set (default: the default rules) can first see the condition —
 * the end of the first whole window of buckets that meets the rule — so detection delay is measured from
 * there, not from the scenario's start. The matching rules are documented in docs/simulation.md.
 */
export const Expectation = z.object({
  scenario: z.enum(SCENARIO_TYPES as [ScenarioType, ...ScenarioType[]]),
  expect: z.enum(['alert', 'no-alert']),
  rules: z.array(z.string()),
  /** When the condition begins and ends (null: it lasts to the end of the run). */
  from: z.number(),
  until: z.number().nullable(),
  /** For `alert`: when the rules can first see it (event time; service clock for meter-silent); null: not within the run. */
  observableAt: z.number().nullable(),
  /** Alerts of `rules` opened in [windowStart, windowEnd) belong to this expectation (windowEnd null: run end). */
  windowStart: z.number(),
  windowEnd: z.number().nullable(),
  /** Why `observableAt` is null: the run ended first, or the rules cannot see this condition at all. */
  unobservable: z.enum(['run-ended', 'rules-cannot-see']).optional(),
  note: z.string().optional(),
});
export type Expectation = z.infer<typeof Expectation>;

export interface TruthContext {
  localTime: LocalTime;
  /** End of the simulated run (event time). */
  runEnd: number;
  rules?: readonly Rule[];
  /** When the meter last sent before `t` (for `silent`); default: `t`. */
  lastTransmissionBefore?: (t: number) => number;
  /**
   * The interval between the meter's messages that careflow has learned by its message at `last` (for
   * `silent` with `usualIntervalFactor`); null or absent: not known yet.
   */
  usualIntervalAt?: (last: number) => number | null;
  /**
   * The household's peak window on a local day (local minutes, end may pass 1440) when the zero-at-peak
   * rule learns it; null or absent: the rule's configured window.
   */
  peakWindowOn?: (dayNumber: number) => { startMinute: number; endMinute: number } | null;
  /**
   * When careflow has the reading that closes the bucket ending at `t` (the next report, or for a
   * daily-batch meter the upload after it); default `t`. A condition whose data arrive after the run
   * ended was not observable within the run.
   */
  arrivalOf?: (t: number) => number;
  /**
   * The meter's reading interval: careflow spreads an interval's water evenly over it, so a fixture's
   * water can show up to one interval before it started; its window opens that much earlier. Default 0.
   */
  smearMs?: number;
}

const rule = <T extends Rule['type']>(rules: readonly Rule[], id: string, type: T) =>
  rules.find((r): r is RuleOf<T> => r.id === id && r.type === type && r.enabled);

export function welfareRules(rules: readonly Rule[] = DEFAULT_RULES): string[] {
  return rules.filter((r) => r.audience === 'welfare').map((r) => r.id);
}

export function expectationOf(s: Scenario, ctx: TruthContext): Expectation {
  const e = expectationWithin(s, ctx);
  if (e.expect !== 'alert' || e.observableAt !== null) return e;
  // Would a longer run have seen it? (A year more is plenty for every rule window.)
  const later = expectationWithin(s, { ...ctx, runEnd: ctx.runEnd + 365 * DAY_MS });
  return { ...e, unobservable: later.observableAt !== null ? 'run-ended' : 'rules-cannot-see' };
}

function expectationWithin(s: Scenario, ctx: TruthContext): Expectation {
  const e = expectationOfData(s, ctx);
  const arrives =
    e.observableAt === null || s.type === 'silent'
      ? null
      : (ctx.arrivalOf?.(e.observableAt) ?? e.observableAt);
  return arrives !== null && arrives > ctx.runEnd ? { ...e, observableAt: null } : e;
}

function expectationOfData(s: Scenario, ctx: TruthContext): Expectation {
  const rules = ctx.rules ?? DEFAULT_RULES;
  const bucket = ctx.localTime.bucketMs;
  const smear = ctx.smearMs ?? 0;
  const alert = (
    hit: string[],
    from: number,
    until: number | null,
    observableAt: number | null,
    windowEnd: number | null,
  ) =>
    ({
      scenario: s.type,
      expect: 'alert',
      rules: hit,
      from,
      until,
      observableAt,
      windowStart: from,
      windowEnd,
    }) as Expectation;
  const none = (hit: string[], from: number, until: number | null, windowEnd: number | null, note?: string) =>
    ({
      scenario: s.type,
      expect: 'no-alert',
      rules: hit,
      from,
      until,
      observableAt: null,
      windowStart: from,
      windowEnd,
      ...(note ? { note } : {}),
    }) as Expectation;
  const allButSilent = rules.filter((r) => r.type !== 'silent').map((r) => r.id);

  switch (s.type) {
    case 'leak': {
      const seen = flowObservable(ctx, rules, 'continuous-flow', s.start, Infinity, s.litersPerHour);
      return { ...alert(['continuous-flow'], s.start, null, seen, null), windowStart: s.start - smear };
    }
    case 'burst':
    case 'heavy-use': {
      const end = s.start + s.durationMinutes * MINUTE_MS;
      const seen = [
        flowObservable(ctx, rules, 'heavy-use', s.start, end, s.litersPerHour),
        s.type === 'burst'
          ? flowObservable(ctx, rules, 'continuous-flow', s.start, end, s.litersPerHour)
          : null,
      ];
      const hit = s.type === 'burst' ? ['heavy-use', 'continuous-flow'] : ['heavy-use'];
      const longest = Math.max(...hit.map((id) => windowMs(rules, id)));
      return {
        ...alert(hit, s.start, end, earliest(seen), end + longest + bucket),
        windowStart: s.start - smear,
      };
    }
    case 'fall':
    case 'low-use':
    case 'illness':
    case 'hospital-stay': {
      const span = residentAbsence(s, ctx.localTime)!;
      const residual = s.type === 'illness' ? s.residualLitersPerDay : 0;
      const seen = earliest([
        lowObservable(ctx, rules, span.start, span.end, residual),
        peakObservable(ctx, rules, span.start, span.end),
      ]);
      const until = Number.isFinite(span.end) ? span.end : null;
      return alert(
        ['low-use', 'no-water-at-peak'],
        span.start,
        until,
        seen,
        until === null ? null : until + bucket,
      );
    }
    case 'no-morning-water':
    case 'late-waking': {
      const span = residentAbsence(s, ctx.localTime)!;
      const dayEnd = span.start + DAY_MS;
      const seen = peakObservable(ctx, rules, span.start, span.end);
      // Up before the household's (learned or configured) peak window and the rule's confirmation after it
      // end: the rule asks whether the resident was up by then, so no alert is expected.
      if (seen === null && peakObservable(ctx, rules, span.start, span.end + DAY_MS) !== null) {
        return none(['no-water-at-peak'], span.start, span.end, dayEnd, 'up before the peak ends');
      }
      return alert(['no-water-at-peak'], span.start, span.end, seen, dayEnd);
    }
    case 'silent': {
      const silent = rule(rules, 'meter-silent', 'silent');
      const until = s.durationMinutes === undefined ? null : s.start + s.durationMinutes * MINUTE_MS;
      const last = ctx.lastTransmissionBefore?.(s.start) ?? s.start;
      const usual = ctx.usualIntervalAt?.(last) ?? null;
      const factor = silent?.params.usualIntervalFactor ?? null;
      const wait = silent
        ? Math.max(
            silent.params.afterMinutes * MINUTE_MS,
            factor && usual ? Math.round((factor * usual) / MINUTE_MS) * MINUTE_MS : 0,
          )
        : 0;
      const due = silent ? last + wait : null;
      const seen = due !== null && due <= Math.min(until ?? Infinity, ctx.runEnd) ? due : null;
      // A long silence in a welfare household also tells its grid worker (`welfare-silent`): that is a hit too.
      const alsoWelfare = rules
        .filter((r) => r.type === 'silent' && r.audience === 'welfare')
        .map((r) => r.id);
      return alert(
        ['meter-silent', ...alsoWelfare],
        s.start,
        until,
        seen,
        until === null ? null : until + bucket,
      );
    }
    case 'marked-away': {
      const end = s.start + s.durationHours * HOUR_MS;
      const quiet = rules.filter((r) => r.audience === 'welfare' && r.suppressedWhenAway).map((r) => r.id);
      return none(quiet, s.start, end, end + windowMs(rules, 'low-use'), 'household marked away');
    }
    case 'guests': {
      const first = localMinuteToUtc(ctx.localTime, parseLocalDate(s.day), 0);
      const end = localMinuteToUtc(ctx.localTime, parseLocalDate(s.day) + s.days, 0);
      return none(welfareRules(rules), first, end, end + windowMs(rules, 'heavy-use'), `${s.count} guests`);
    }
    case 'meter-reset':
    case 'glitch':
      return none(allButSilent, s.at, s.at, s.at + DAY_MS + bucket, 'meter fault');
    case 'duplicates':
    case 'out-of-order':
    case 'garbage': {
      const end = s.start + s.durationHours * HOUR_MS;
      return none(allButSilent, s.start, end, end + DAY_MS, 'meter fault');
    }
  }
}

function windowMs(rules: readonly Rule[], id: string): number {
  const r = rules.find((x) => x.id === id);
  return r && 'windowMinutes' in r.params ? r.params.windowMinutes * MINUTE_MS : 0;
}

function earliest(times: (number | null)[]): number | null {
  const known = times.filter((t): t is number => t !== null);
  return known.length > 0 ? Math.min(...known) : null;
}

/** End of the first `n` consecutive buckets (before `limit`) for which `flagged` holds. */
function firstRun(
  ctx: TruthContext,
  from: number,
  limit: number,
  n: number,
  flagged: (b: number, e: number) => boolean,
) {
  const bucket = ctx.localTime.bucketMs;
  let run = 0;
  for (let b = ctx.localTime.bucketStart(from); b + bucket <= limit; b += bucket) {
    run = flagged(b, b + bucket) ? run + 1 : 0;
    if (run >= n) return b + bucket;
  }
  return null;
}

/** A fixture flowing at `rate` L/h over [start, end): when a sustained-high rule sees it. */
function flowObservable(
  ctx: TruthContext,
  rules: readonly Rule[],
  id: string,
  start: number,
  end: number,
  rate: number,
) {
  const r = rule(rules, id, 'sustained-high');
  if (!r) return null;
  const n = Math.round((r.params.windowMinutes * MINUTE_MS) / ctx.localTime.bucketMs);
  const limit = Math.min(ctx.runEnd, end + ctx.localTime.bucketMs);
  return firstRun(ctx, start, limit, n, (b, e) => {
    const overlap = Math.max(0, Math.min(e, end) - Math.max(b, start));
    return (rate * overlap) / HOUR_MS >= r.params.minLitersPerBucket;
  });
}

/** The resident draws nothing (but `residualPerDay`) over [start, end): when the sustained-low rule sees it. */
function lowObservable(
  ctx: TruthContext,
  rules: readonly Rule[],
  start: number,
  end: number,
  residualPerDay: number,
) {
  const r = rule(rules, 'low-use', 'sustained-low');
  if (!r || (residualPerDay * r.params.windowMinutes) / (24 * 60) >= r.params.maxTotalLiters) return null;
  const n = Math.round((r.params.windowMinutes * MINUTE_MS) / ctx.localTime.bucketMs);
  return firstRun(ctx, start, Math.min(ctx.runEnd, end), n, (b, e) => b >= start && e <= end);
}

/**
 * The first whole peak window, with the rule's confirmation after it, inside [start, end): when the
 * zero-at-peak rule sees it.
 */
function peakObservable(ctx: TruthContext, rules: readonly Rule[], start: number, end: number) {
  const r = rule(rules, 'no-water-at-peak', 'zero-at-peak');
  if (!r) return null;
  const fixedFrom = minutesOfDay(r.params.start);
  const fixedTo = minutesOfDay(r.params.end);
  const limit = Math.min(end, ctx.runEnd);
  for (let day = ctx.localTime.dayNumber(start) - 1; ; day++) {
    const learned = r.params.learn ? ctx.peakWindowOn?.(day) : null;
    const from = learned ? learned.startMinute : fixedFrom;
    const to = learned ? learned.endMinute : fixedTo > fixedFrom ? fixedTo : fixedTo + 1440;
    const peakStart = localMinuteToUtc(ctx.localTime, day, from);
    const peakEnd = localMinuteToUtc(ctx.localTime, day, to + r.params.confirmMinutes);
    if (peakEnd > limit) return null;
    if (peakStart >= start) return peakEnd;
  }
}
