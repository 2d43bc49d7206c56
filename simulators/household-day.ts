import type { HouseholdSpec, OccupantSpec, Range } from './household-profiles.ts';
import type { Random } from './random.ts';

/**
 * One local day of a household's water use, in local minutes after that day's midnight (an event may run
 * past 1440). Pure: the same spec, weekend flag and random sequence give the same day.
 */
export interface LocalEvent {
  startMinute: number;
  minutes: number;
  liters: number;
  kind: string;
}

/** Typical fixtures: a 6 L dual-flush cistern filling at ~10 L/min, a basin tap at ~5 L/min, … */
const FLUSH_LITERS: Range = [5.5, 6.5];
const FLUSH_LPM = 10;
const HAND_WASH_LITERS: Range = [1, 2];
const BASIN_LPM = 5;
const SHOWER_LPM: Range = [7.5, 8.5];
const KITCHEN_LPM = 5;
const DISHES_LITERS: Range = [15, 25];
const DISHES_MINUTES: Range = [8, 15];
const LAUNDRY_LITERS: Range = [50, 70];
const LAUNDRY_FILLS = 4;
const LAUNDRY_FILL_MINUTES = 2.5;
const NIGHT_TOILET_MINUTES: Range = [60, 270];

type Interval = readonly [number, number];

export interface OccupantDay {
  wake: number;
  bed: number;
  away: Interval | null;
}

export function planOccupantDay(o: OccupantSpec, weekend: boolean, rng: Random): OccupantDay {
  const shift = weekend ? o.weekendShiftMinutes : 0;
  const wake = o.wakeMinute + shift + rng.triangular(-o.jitterMinutes, o.jitterMinutes);
  const bed = o.bedMinute + shift / 2 + rng.triangular(-o.jitterMinutes, o.jitterMinutes);
  const away =
    !weekend && o.awayOnWeekdays
      ? ([
          o.awayOnWeekdays.fromMinute + rng.triangular(-15, 15),
          o.awayOnWeekdays.toMinute + rng.triangular(-20, 20),
        ] as const)
      : null;
  return { wake, bed, away };
}

/** The waking hours spent at home. */
export function homeIntervals(day: OccupantDay): Interval[] {
  if (!day.away) return [[day.wake, day.bed]];
  return [
    [day.wake, day.away[0]],
    [day.away[1], day.bed],
  ];
}

export function householdDay(spec: HouseholdSpec, weekend: boolean, rng: Random): LocalEvent[] {
  const days = spec.occupants.map((o) => planOccupantDay(o, weekend, rng));
  const events = spec.occupants.flatMap((o, i) => occupantEvents(o, days[i] as OccupantDay, rng));
  events.push(...kitchenEvents(spec, days, rng));
  if (rng.chance(spec.laundryPerWeek / 7)) events.push(...laundry(laundryStart(days, rng), rng));
  return events.sort((a, b) => a.startMinute - b.startMinute);
}

function occupantEvents(o: OccupantSpec, day: OccupantDay, rng: Random): LocalEvent[] {
  const home = homeIntervals(day);
  const homeFraction = length(home) / (day.bed - day.wake);
  const events: LocalEvent[] = [];
  events.push(...toiletVisit(day.wake + rng.uniform(1, 8), 1, rng));
  events.push(...toiletVisit(day.bed - rng.uniform(5, 15), 1, rng));
  const extraFlushes = rng.count(Math.max(0, o.flushesPerHomeDay - 2) * homeFraction);
  for (let i = 0; i < extraFlushes; i++) events.push(...toiletVisit(pointIn(home, rng), 0.8, rng));
  const basinUses = rng.count(o.basinUsesPerHomeDay * homeFraction);
  for (let i = 0; i < basinUses; i++) events.push(handWash(pointIn(home, rng), rng));
  if (rng.chance(o.showerChance)) {
    const at = o.showerAt === 'morning' ? day.wake + rng.uniform(12, 30) : day.bed - rng.uniform(50, 100);
    events.push(shower(at, rng.uniform(...o.showerMinutes), rng));
  }
  if (rng.chance(o.nightToiletChance))
    events.push(...toiletVisit(rng.uniform(...NIGHT_TOILET_MINUTES), 0.5, rng));
  return events;
}

function kitchenEvents(spec: HouseholdSpec, days: OccupantDay[], rng: Random): LocalEvent[] {
  const firstWake = Math.min(...days.map((d) => d.wake));
  const lastReturn = Math.max(17.5 * 60, ...days.map((d) => (d.away ? d.away[1] + 20 : 0)));
  const meals = {
    breakfast: firstWake + rng.uniform(15, 35),
    lunch: 11.75 * 60 + rng.triangular(-30, 30),
    dinner: lastReturn + rng.uniform(0, 40),
  };
  const events: LocalEvent[] = [];
  for (const meal of ['breakfast', 'lunch', 'dinner'] as const) {
    const at = meals[meal];
    if (!days.some((d) => isHome(d, at))) continue;
    const liters = rng.uniform(...spec.mealLiters[meal]);
    events.push({ startMinute: at, minutes: liters / KITCHEN_LPM, liters, kind: 'kitchen' });
    if (spec.dishesAfter.includes(meal)) {
      const minutes = rng.uniform(...DISHES_MINUTES);
      events.push({
        startMinute: at + rng.uniform(25, 50),
        minutes,
        liters: rng.uniform(...DISHES_LITERS),
        kind: 'dishes',
      });
    }
  }
  return events;
}

function laundryStart(days: OccupantDay[], rng: Random): number {
  const morning = 9 * 60 + rng.uniform(0, 120);
  if (days.some((d) => isHome(d, morning))) return morning;
  return Math.max(...days.map((d) => (d.away ? d.away[1] : 0))) + rng.uniform(60, 120);
}

/** A washing machine draws its water in a few short fills over a cycle. */
function laundry(start: number, rng: Random): LocalEvent[] {
  const liters = rng.uniform(...LAUNDRY_LITERS) / LAUNDRY_FILLS;
  const events: LocalEvent[] = [];
  let at = start;
  for (let i = 0; i < LAUNDRY_FILLS; i++) {
    events.push({ startMinute: at, minutes: LAUNDRY_FILL_MINUTES, liters, kind: 'laundry' });
    at += rng.uniform(10, 14);
  }
  return events;
}

function toiletVisit(at: number, washChance: number, rng: Random): LocalEvent[] {
  const liters = rng.uniform(...FLUSH_LITERS);
  const minutes = liters / FLUSH_LPM;
  const flush: LocalEvent = { startMinute: at, minutes, liters, kind: 'toilet' };
  return rng.chance(washChance) ? [flush, handWash(at + minutes + 0.2, rng)] : [flush];
}

function handWash(at: number, rng: Random): LocalEvent {
  const liters = rng.uniform(...HAND_WASH_LITERS);
  return { startMinute: at, minutes: liters / BASIN_LPM, liters, kind: 'hand-wash' };
}

function shower(at: number, minutes: number, rng: Random): LocalEvent {
  return { startMinute: at, minutes, liters: minutes * rng.uniform(...SHOWER_LPM), kind: 'shower' };
}

function isHome(day: OccupantDay, minute: number): boolean {
  return homeIntervals(day).some(([from, to]) => minute >= from && minute < to);
}

function length(intervals: readonly Interval[]): number {
  return intervals.reduce((sum, [from, to]) => sum + Math.max(0, to - from), 0);
}

/** A uniformly random minute within the intervals. */
function pointIn(intervals: readonly Interval[], rng: Random): number {
  let offset = rng.uniform(0, length(intervals));
  for (const [from, to] of intervals) {
    const len = Math.max(0, to - from);
    if (offset < len) return from + offset;
    offset -= len;
  }
  return intervals[intervals.length - 1]?.[1] ?? 0;
}
