import { z } from 'zod';
import type { LocalTime } from '../core/local-time.ts';
import { Timestamp } from '../core/readings.ts';
import { DEFAULT_LOCAL_TIME, HOUR_MS, MINUTE_MS, localMinuteToUtc, parseLocalDate } from './local-day.ts';
import { type Span, type WaterEvent, byStart, cutSpan, overlaps } from './water-event.ts';

/**
 * Scenarios: what happens to a household on top of its normal routine, each with the detection it should
 * cause (its ground truth). Times are ISO 8601 with an offset or epoch ms; `day` is a local date.
 *
 * How they combine: `no-morning-water` and `low-use` stop the *resident* (their normal events are cut out of
 * the span); `leak` and `heavy-use` are fixtures running regardless of the resident; `silent` stops only the
 * meter's reports. So the order of a scenario list does not matter.
 *
 * Detectability with the default rules and 60-minute buckets (the rules need whole buckets):
 * - `leak` ≥ 1 L/h (≥ 4 L/h with 15-minute buckets) is caught by `continuous-flow` 24 h after it starts.
 * - `heavy-use` needs two whole buckets ≥ 60 L: at ≥ 120 L/h, a run of ≥ 3 h is always caught, a shorter one
 *   only when it happens to cover two whole buckets.
 * - `low-use` needs a fully known 24 h window below 10 L inside the span: ≥ 25 h is always caught, exactly 24 h
 *   only when its start is on a bucket boundary (or the resident's neighbouring hours are dry).
 * - `no-morning-water` empties the fallback peak window 06:00–09:00; a learned peak window inside 00:00–11:00
 *   is emptied too.
 */
const MAX_LITERS_PER_HOUR = 3_000;
const NO_MORNING_WATER_UNTIL_MINUTE = 11 * 60;

export const LeakScenario = z.strictObject({
  type: z.literal('leak'),
  start: Timestamp,
  litersPerHour: z.number().gt(0).max(MAX_LITERS_PER_HOUR),
});
export const HeavyUseScenario = z.strictObject({
  type: z.literal('heavy-use'),
  start: Timestamp,
  durationMinutes: z
    .number()
    .gt(0)
    .max(7 * 24 * 60),
  litersPerHour: z.number().min(120, 'heavy use is at least 120 L/h').max(MAX_LITERS_PER_HOUR),
});
export const NoMorningWaterScenario = z.strictObject({
  type: z.literal('no-morning-water'),
  day: z.iso.date({ message: 'expected a local date YYYY-MM-DD' }),
});
export const LowUseScenario = z.strictObject({
  type: z.literal('low-use'),
  start: Timestamp,
  durationHours: z
    .number()
    .min(24, 'low use lasts at least 24 hours')
    .max(90 * 24),
});
export const SilentScenario = z.strictObject({
  type: z.literal('silent'),
  start: Timestamp,
  /** Omitted: the meter never reports again. */
  durationMinutes: z.number().gt(0).optional(),
});

export const Scenario = z.discriminatedUnion('type', [
  LeakScenario,
  HeavyUseScenario,
  NoMorningWaterScenario,
  LowUseScenario,
  SilentScenario,
]);
export type Scenario = z.infer<typeof Scenario>;
export type ScenarioInput = z.input<typeof Scenario>;

export type ScenarioRuleId =
  'continuous-flow' | 'heavy-use' | 'no-water-at-peak' | 'low-use' | 'meter-silent';

/**
 * The detection a scenario should cause: `ruleId` for this household, at or after `from` (when the
 * condition begins; the rule's own window adds latency), for a condition that lasts until `until`
 * (null: for ever).
 */
export interface GroundTruth {
  ruleId: ScenarioRuleId;
  from: number;
  until: number | null;
}

export function groundTruth(scenario: Scenario, localTime: LocalTime = DEFAULT_LOCAL_TIME): GroundTruth {
  switch (scenario.type) {
    case 'leak':
      return { ruleId: 'continuous-flow', from: scenario.start, until: null };
    case 'heavy-use':
      return {
        ruleId: 'heavy-use',
        from: scenario.start,
        until: scenario.start + scenario.durationMinutes * MINUTE_MS,
      };
    case 'no-morning-water': {
      const span = residentAbsence(scenario, localTime) as Span;
      return { ruleId: 'no-water-at-peak', from: span.start, until: span.end };
    }
    case 'low-use':
      return {
        ruleId: 'low-use',
        from: scenario.start,
        until: scenario.start + scenario.durationHours * HOUR_MS,
      };
    case 'silent': {
      const span = silentSpan(scenario) as Span;
      return { ruleId: 'meter-silent', from: span.start, until: Number.isFinite(span.end) ? span.end : null };
    }
  }
}

/** The span in which the resident uses no water at all, for scenarios that stop the resident. */
export function residentAbsence(scenario: Scenario, localTime: LocalTime): Span | null {
  switch (scenario.type) {
    case 'no-morning-water': {
      const day = parseLocalDate(scenario.day);
      return {
        start: localMinuteToUtc(localTime, day, 0),
        end: localMinuteToUtc(localTime, day, NO_MORNING_WATER_UNTIL_MINUTE),
      };
    }
    case 'low-use':
      return { start: scenario.start, end: scenario.start + scenario.durationHours * HOUR_MS };
    default:
      return null;
  }
}

/** The span in which the meter publishes nothing (its register keeps counting). */
export function silentSpan(scenario: Scenario): Span | null {
  if (scenario.type !== 'silent') return null;
  const end =
    scenario.durationMinutes === undefined ? Infinity : scenario.start + scenario.durationMinutes * MINUTE_MS;
  return { start: scenario.start, end };
}

/**
 * Extra flow a fixture scenario adds, as events overlapping [from, to). A leak is cut into one-hour events
 * aligned to its start, so that the events do not depend on the window asked for.
 */
export function fixtureEvents(scenario: Scenario, from: number, to: number): WaterEvent[] {
  if (scenario.type === 'heavy-use') {
    const event: WaterEvent = {
      start: scenario.start,
      end: scenario.start + scenario.durationMinutes * MINUTE_MS,
      liters: (scenario.litersPerHour * scenario.durationMinutes) / 60,
      kind: 'heavy-use',
    };
    return overlaps(event, from, to) ? [event] : [];
  }
  if (scenario.type !== 'leak' || to <= scenario.start) return [];
  const events: WaterEvent[] = [];
  const first = Math.max(0, Math.floor((from - scenario.start) / HOUR_MS));
  for (let k = first; scenario.start + k * HOUR_MS < to; k++) {
    const start = scenario.start + k * HOUR_MS;
    events.push({ start, end: start + HOUR_MS, liters: scenario.litersPerHour, kind: 'leak' });
  }
  return events;
}

/**
 * The household's events in [from, to) after the scenarios: resident events cut out of absence spans,
 * fixture flow added, sorted by start. `residentEvents` may extend beyond the window; they are cut first.
 */
export function applyScenarios(
  residentEvents: readonly WaterEvent[],
  scenarios: readonly Scenario[],
  localTime: LocalTime,
  from: number,
  to: number,
): WaterEvent[] {
  const absences = scenarios.map((s) => residentAbsence(s, localTime)).filter((s): s is Span => s !== null);
  let events = [...residentEvents];
  for (const span of absences) events = events.flatMap((e) => cutSpan(e, span));
  events = events.filter((e) => overlaps(e, from, to));
  for (const s of scenarios) events.push(...fixtureEvents(s, from, to));
  return events.sort(byStart);
}
