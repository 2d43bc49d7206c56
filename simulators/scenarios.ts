import type { LocalTime } from '../core/local-time.ts';
import {
  DAY_MS,
  DEFAULT_LOCAL_TIME,
  HOUR_MS,
  MINUTE_MS,
  localMinuteToUtc,
  parseLocalDate,
} from './local-day.ts';
import { type Scenario } from './scenario-schema.ts';
import { type Span, type WaterEvent, byStart, cutSpan, overlaps } from './water-event.ts';

export * from './scenario-schema.ts';

/**
 * What scenarios do to the water a household draws: spans in which the resident draws none, fixture flow
 * added regardless of the resident, and guests on given days. Meter faults are in meter-faults.ts; the
 * ground truth (which alert each should raise) in ground-truth.ts.
 *
 * Detectability with the default rules and 60-minute buckets (the rules need whole buckets):
 * - `leak` ≥ 1 L/h is caught by `continuous-flow` 24 h after its first whole bucket.
 * - `heavy-use` and `burst` need two consecutive buckets with ≥ 120 L from them.
 * - `low-use`, `illness`, `hospital-stay` and `fall` need a whole 24 h of buckets inside the span (or an
 *   empty peak window inside it, for `no-water-at-peak`: 06:00–09:00 until the household's is learned).
 * - `no-morning-water` empties local 00:00–12:00 (no water all morning); `late-waking` empties 00:00 to the
 *   wake time.
 */
const NO_MORNING_WATER_UNTIL_MINUTE = 12 * 60;
/** When an ill resident takes their sips (local minutes): outside the 06:00–09:00 peak. */
const SIP_MINUTES = [10.5 * 60, 14 * 60, 18.5 * 60, 21 * 60];
/** A late riser's first water: toilet, basin, kettle, breakfast. */
const MORNING_ROUTINE = [
  { offsetMinutes: 2, liters: 6, minutes: 0.6, kind: 'toilet' },
  { offsetMinutes: 3, liters: 1.5, minutes: 0.3, kind: 'hand-wash' },
  { offsetMinutes: 10, liters: 2.5, minutes: 0.5, kind: 'hand-wash' },
  { offsetMinutes: 25, liters: 6, minutes: 1, kind: 'kitchen' },
] as const;

/** The span in which the resident uses no water at all, for scenarios that stop the resident. */
export function residentAbsence(scenario: Scenario, localTime: LocalTime = DEFAULT_LOCAL_TIME): Span | null {
  switch (scenario.type) {
    case 'no-morning-water': {
      const day = parseLocalDate(scenario.day);
      return {
        start: localMinuteToUtc(localTime, day, 0),
        end: localMinuteToUtc(localTime, day, NO_MORNING_WATER_UNTIL_MINUTE),
      };
    }
    case 'late-waking': {
      const day = parseLocalDate(scenario.day);
      return { start: localMinuteToUtc(localTime, day, 0), end: wakeTime(scenario, localTime) };
    }
    case 'fall':
      return { start: scenario.start, end: Infinity };
    case 'low-use':
    case 'illness':
    case 'hospital-stay':
    case 'marked-away':
      return { start: scenario.start, end: scenario.start + scenario.durationHours * HOUR_MS };
    default:
      return null;
  }
}

/** The late riser's wake time (UTC ms). */
export function wakeTime(scenario: Extract<Scenario, { type: 'late-waking' }>, localTime: LocalTime): number {
  const [h, m] = scenario.wakeAt.split(':').map(Number);
  return localMinuteToUtc(localTime, parseLocalDate(scenario.day), (h ?? 0) * 60 + (m ?? 0));
}

/** The span in which the meter publishes nothing (its register keeps counting). */
export function silentSpan(scenario: Scenario): Span | null {
  if (scenario.type !== 'silent') return null;
  const end =
    scenario.durationMinutes === undefined ? Infinity : scenario.start + scenario.durationMinutes * MINUTE_MS;
  return { start: scenario.start, end };
}

/** Guests staying on local day `dayNumber` under these scenarios. */
export function guestsOn(scenarios: readonly Scenario[], dayNumber: number): number {
  let count = 0;
  for (const s of scenarios) {
    if (s.type !== 'guests') continue;
    const first = parseLocalDate(s.day);
    if (dayNumber >= first && dayNumber < first + s.days) count += s.count;
  }
  return count;
}

/**
 * Extra flow a fixture scenario adds, as events overlapping [from, to). Leaks are cut into one-hour events
 * aligned to their start, so that the events do not depend on the window asked for.
 */
export function fixtureEvents(
  scenario: Scenario,
  from: number,
  to: number,
  localTime: LocalTime = DEFAULT_LOCAL_TIME,
): WaterEvent[] {
  switch (scenario.type) {
    case 'heavy-use':
    case 'burst': {
      const event: WaterEvent = {
        start: scenario.start,
        end: scenario.start + scenario.durationMinutes * MINUTE_MS,
        liters: (scenario.litersPerHour * scenario.durationMinutes) / 60,
        kind: scenario.type,
      };
      return overlaps(event, from, to) ? [event] : [];
    }
    case 'leak': {
      if (to <= scenario.start) return [];
      const events: WaterEvent[] = [];
      const first = Math.max(0, Math.floor((from - scenario.start) / HOUR_MS));
      for (let k = first; scenario.start + k * HOUR_MS < to; k++) {
        const start = scenario.start + k * HOUR_MS;
        events.push({ start, end: start + HOUR_MS, liters: scenario.litersPerHour, kind: 'leak' });
      }
      return events;
    }
    case 'illness':
      return illnessSips(scenario, from, to, localTime);
    case 'late-waking': {
      const wake = wakeTime(scenario, localTime);
      return MORNING_ROUTINE.map((r) => ({
        start: wake + r.offsetMinutes * MINUTE_MS,
        end: wake + (r.offsetMinutes + r.minutes) * MINUTE_MS,
        liters: r.liters,
        kind: r.kind,
      })).filter((e) => overlaps(e, from, to));
    }
    default:
      return [];
  }
}

function illnessSips(
  scenario: Extract<Scenario, { type: 'illness' }>,
  from: number,
  to: number,
  localTime: LocalTime,
): WaterEvent[] {
  if (scenario.residualLitersPerDay <= 0) return [];
  const end = scenario.start + scenario.durationHours * HOUR_MS;
  const liters = scenario.residualLitersPerDay / SIP_MINUTES.length;
  const events: WaterEvent[] = [];
  const lo = Math.max(from, scenario.start) - DAY_MS;
  for (let day = localTime.dayNumber(lo); localMinuteToUtc(localTime, day, 0) < Math.min(to, end); day++) {
    for (const minute of SIP_MINUTES) {
      const start = localMinuteToUtc(localTime, day, minute);
      const event = { start, end: start + 12_000, liters, kind: 'hand-wash' };
      if (start >= scenario.start && event.end <= end && overlaps(event, from, to)) events.push(event);
    }
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
  for (const s of scenarios) events.push(...fixtureEvents(s, from, to, localTime));
  return events.sort(byStart);
}
