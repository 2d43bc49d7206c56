import { GUEST, type HouseholdSpec, type OccupantSpec, type Range } from './household-profiles.ts';
import type { HouseholdStyle } from './household-style.ts';
import type { Random } from './random.ts';

/**
 * One local day of a household's water use, in local minutes after that day's midnight (an event may run
 * past 1440). Pure: the same spec, style, day and random sequence give the same day.
 */
export interface LocalEvent {
  startMinute: number;
  minutes: number;
  liters: number;
  kind: string;
}

export interface DayContext {
  weekend: boolean;
  /** Visitors staying that day. */
  guests: number;
}

/** Fixture flows: a cistern refills at ~10 L/min, a basin tap ~5 L/min, a kitchen tap ~6 L/min, … */
const FLUSH_LPM = 10;
const HAND_WASH_LITERS: Range = [0.8, 2];
const BASIN_LITERS: Range = [1, 3];
const BASIN_LPM = 5;
const KITCHEN_LPM = 6;
const DISHES_LITERS: Range = [8, 22];
const KETTLE_LITERS: Range = [1, 2];
const LAUNDRY_FILL_LPM = 12;
const CLEANING_FILL_LITERS: Range = [6, 10];
const MEAL_SPREAD_MINUTES = 25;
/** Day-to-day spread of the discretionary uses: the day's scale is e^x, x triangular in ±this. */
const DAY_SCALE_SPREAD = 0.8;
/** Chance that a shower is taken at another time of the day than the occupant's usual one. */
const SHOWER_ELSEWHEN_CHANCE = 0.3;
/** Chance that someone who works has a weekday at home (day off, working from home, ill). */
const HOME_WEEKDAY_CHANCE = 0.12;

type Interval = readonly [number, number];

export interface OccupantDay {
  wake: number;
  bed: number;
  /** Spans away from home (work, school, outings) between wake and bed. */
  away: Interval[];
}

export function planOccupantDay(
  o: OccupantSpec,
  style: HouseholdStyle,
  weekend: boolean,
  rng: Random,
): OccupantDay {
  const shift = (weekend ? o.weekendShiftMinutes : 0) + style.routineShiftMinutes;
  const wake = o.wakeMinute + shift + rng.triangular(-o.jitterMinutes, o.jitterMinutes);
  const bed = o.bedMinute + shift / 2 + rng.triangular(-o.jitterMinutes, o.jitterMinutes);
  const away: Interval[] = [];
  if (!weekend && o.awayOnWeekdays && !rng.chance(HOME_WEEKDAY_CHANCE)) {
    const from = Math.max(wake + 25, o.awayOnWeekdays.fromMinute + rng.triangular(-15, 15));
    away.push([from, Math.min(bed - 30, o.awayOnWeekdays.toMinute + rng.triangular(-20, 20))]);
  }
  if (rng.chance(o.outingChance)) {
    const free = subtract([[wake + 45, bed - 90]], away);
    const length = rng.uniform(...o.outingMinutes);
    const start = pointIn(free, rng);
    if (length < total(free)) away.push([start, start + length]);
  }
  return { wake, bed, away: away.sort((a, b) => a[0] - b[0]) };
}

/** The waking hours spent at home. */
export function homeIntervals(day: OccupantDay): Interval[] {
  return subtract([[day.wake, day.bed]], day.away);
}

export function householdDay(
  spec: HouseholdSpec,
  style: HouseholdStyle,
  ctx: DayContext,
  rng: Random,
): LocalEvent[] {
  const occupants = [...style.occupants, ...Array.from({ length: ctx.guests }, () => GUEST)];
  // Some days simply use more (a big clean, a bath, cooking for visitors) and some less.
  const dayScale = Math.exp(rng.triangular(-DAY_SCALE_SPREAD, DAY_SCALE_SPREAD));
  const days = occupants.map((o) => planOccupantDay(o, style, ctx.weekend, rng));
  if (rng.chance(ctx.weekend ? spec.dayOutChance * 2 : spec.dayOutChance)) {
    // Everyone out for most of the day: a family outing, a visit to the children, a day in the country.
    const leave = rng.uniform(8.5 * 60, 11 * 60);
    const back = rng.uniform(16.5 * 60, 21 * 60);
    for (const d of days) if (d.wake < leave && d.bed > back) d.away = [[leave, back]];
  }
  const events = occupants.flatMap((o, i) => occupantEvents(o, days[i] as OccupantDay, style, dayScale, rng));
  if (days.length > 0) {
    events.push(...kitchenEvents(spec, style, days, dayScale, rng));
    const working = occupants.some((o) => o.awayOnWeekdays !== null);
    const weekly = spec.laundryPerWeek * style.laundryScale * (1 + 0.3 * ctx.guests);
    // Working households do most of their washing at the weekend.
    const perDay = working ? (ctx.weekend ? (weekly * 0.6) / 2 : (weekly * 0.4) / 5) : weekly / 7;
    const loads = rng.poisson(perDay);
    for (let i = 0; i < loads; i++) events.push(...laundry(laundryStart(days, i, rng), style, rng));
    const cleanings = rng.poisson((spec.cleaningPerWeek / 7) * dayScale);
    for (let i = 0; i < cleanings; i++) events.push(...cleaning(pointIn(anyoneHome(days), rng), rng));
  }
  const visits = rng.poisson(spec.ownerVisitsPerWeek / 7);
  for (let i = 0; i < visits; i++) events.push(...ownerVisit(rng.uniform(10 * 60, 17 * 60), style, rng));
  return events.sort((a, b) => a.startMinute - b.startMinute);
}

function occupantEvents(
  o: OccupantSpec,
  day: OccupantDay,
  style: HouseholdStyle,
  dayScale: number,
  rng: Random,
): LocalEvent[] {
  const home = homeIntervals(day);
  const homeFraction = total(home) / Math.max(1, day.bed - day.wake);
  const events: LocalEvent[] = [];
  events.push(...toiletVisit(day.wake + rng.uniform(1, 8), 0.9, style, rng));
  events.push(basin(day.wake + rng.uniform(8, 18), style, rng));
  events.push(basin(day.bed - rng.uniform(15, 25), style, rng));
  events.push(...toiletVisit(day.bed - rng.uniform(5, 12), 0.9, style, rng));
  const extraFlushes = rng.poisson(Math.max(0, o.flushesPerHomeDay - 2) * homeFraction * Math.sqrt(dayScale));
  for (let i = 0; i < extraFlushes; i++) events.push(...toiletVisit(pointIn(home, rng), 0.8, style, rng));
  const basinUses = rng.poisson(
    Math.max(0, o.basinUsesPerHomeDay - 2) * homeFraction * style.basinScale * dayScale,
  );
  for (let i = 0; i < basinUses; i++) events.push(handWash(pointIn(home, rng), rng));
  if (rng.chance(Math.min(1, o.showerChance * style.showerChanceScale))) {
    const usual = o.showerAt === 'morning' ? day.wake + rng.uniform(10, 25) : day.bed - rng.uniform(30, 200);
    const at = rng.chance(SHOWER_ELSEWHEN_CHANCE) ? pointIn(home, rng) : usual;
    const minutes = rng.uniform(...o.showerMinutes) * style.showerMinutesScale * Math.sqrt(dayScale);
    events.push({ startMinute: at, minutes, liters: minutes * style.showerLpm, kind: 'shower' });
  }
  const nightVisits = rng.chance(o.nightToiletChance) ? (rng.chance(o.nightToiletChance / 2) ? 2 : 1) : 0;
  // Asleep from bed time to the next morning's usual wake time.
  const nextWake = o.wakeMinute + 1440 + style.routineShiftMinutes;
  for (let i = 0; i < nightVisits; i++) {
    events.push(
      ...toiletVisit(day.bed + rng.uniform(60, Math.max(90, nextWake - day.bed - 60)), 0.5, style, rng),
    );
  }
  return events;
}

function kitchenEvents(
  spec: HouseholdSpec,
  style: HouseholdStyle,
  days: OccupantDay[],
  dayScale: number,
  rng: Random,
): LocalEvent[] {
  const firstWake = Math.min(...days.map((d) => d.wake));
  const lastReturn = Math.max(17.5 * 60, ...days.flatMap((d) => d.away.map((a) => a[1] + 15)));
  const fixed = spec.mealMinutes;
  const meals = {
    breakfast: fixed ? fixed.breakfast + rng.triangular(-20, 20) : firstWake + rng.uniform(15, 35),
    lunch: fixed ? fixed.lunch + rng.triangular(-20, 20) : 11.5 * 60 + rng.triangular(-30, 30),
    dinner: fixed
      ? fixed.dinner + rng.triangular(-20, 20)
      : Math.min(lastReturn, 20 * 60) + rng.uniform(0, 40),
  };
  const events: LocalEvent[] = [];
  for (const meal of ['breakfast', 'lunch', 'dinner'] as const) {
    const at = meals[meal];
    const eaters = days.filter((d) => isHome(d, at)).length;
    if (eaters === 0) continue;
    const liters =
      rng.uniform(...spec.mealLiters[meal]) * style.kitchenScale * dayScale * (0.8 + 0.2 * eaters);
    const draws = rng.int(2, 3);
    for (let i = 0; i < draws; i++) {
      const part = liters / draws;
      const start = at + (i * MEAL_SPREAD_MINUTES) / draws + rng.uniform(0, 4);
      events.push({ startMinute: start, minutes: part / KITCHEN_LPM, liters: part, kind: 'kitchen' });
    }
    if (spec.dishesAfter.includes(meal)) {
      const dishes = rng.uniform(...DISHES_LITERS) * style.kitchenScale * (0.7 + 0.15 * eaters);
      events.push({
        startMinute: at + rng.uniform(30, 60),
        minutes: dishes / KITCHEN_LPM,
        liters: dishes,
        kind: 'dishes',
      });
    }
  }
  const kettles = rng.poisson(2);
  for (let i = 0; i < kettles; i++) {
    const liters = rng.uniform(...KETTLE_LITERS);
    events.push({
      startMinute: pointIn(anyoneHome(days), rng),
      minutes: liters / KITCHEN_LPM,
      liters,
      kind: 'kitchen',
    });
  }
  return events;
}

function laundryStart(days: OccupantDay[], index: number, rng: Random): number {
  const morning = 8.5 * 60 + rng.uniform(0, 180) + index * 90;
  if (days.some((d) => isHome(d, morning))) return morning;
  return (
    Math.max(...days.map((d) => d.away.reduce((end, a) => Math.max(end, a[1]), 0))) + rng.uniform(45, 150)
  );
}

/** A washing machine draws its water in a few fills over a cycle (wash, rinses). */
function laundry(start: number, style: HouseholdStyle, rng: Random): LocalEvent[] {
  const fills = rng.int(3, 4);
  const liters = (style.laundryLitersPerLoad * rng.uniform(0.85, 1.15)) / fills;
  const events: LocalEvent[] = [];
  let at = start;
  for (let i = 0; i < fills; i++) {
    events.push({ startMinute: at, minutes: liters / LAUNDRY_FILL_LPM, liters, kind: 'laundry' });
    at += rng.uniform(12, 20);
  }
  return events;
}

function cleaning(at: number, rng: Random): LocalEvent[] {
  const first = rng.uniform(...CLEANING_FILL_LITERS);
  const second = rng.uniform(...CLEANING_FILL_LITERS);
  return [
    { startMinute: at, minutes: first / 8, liters: first, kind: 'cleaning' },
    { startMinute: at + rng.uniform(10, 25), minutes: second / 8, liters: second, kind: 'cleaning' },
  ];
}

/** The owner of an empty flat looks in: flushes the toilet, runs the taps. */
function ownerVisit(at: number, style: HouseholdStyle, rng: Random): LocalEvent[] {
  const tap = rng.uniform(5, 15);
  return [
    ...toiletVisit(at, 1, style, rng),
    { startMinute: at + 5, minutes: tap / KITCHEN_LPM, liters: tap, kind: 'kitchen' },
    ...toiletVisit(at + rng.uniform(20, 50), 1, style, rng),
  ];
}

function toiletVisit(at: number, washChance: number, style: HouseholdStyle, rng: Random): LocalEvent[] {
  const liters = style.flushLiters * rng.uniform(0.9, 1.1);
  const minutes = liters / FLUSH_LPM;
  const flush: LocalEvent = { startMinute: at, minutes, liters, kind: 'toilet' };
  return rng.chance(washChance) ? [flush, handWash(at + minutes + 0.2, rng)] : [flush];
}

function handWash(at: number, rng: Random): LocalEvent {
  const liters = rng.uniform(...HAND_WASH_LITERS);
  return { startMinute: at, minutes: liters / BASIN_LPM, liters, kind: 'hand-wash' };
}

function basin(at: number, style: HouseholdStyle, rng: Random): LocalEvent {
  const liters = rng.uniform(...BASIN_LITERS) * style.basinScale;
  return { startMinute: at, minutes: liters / BASIN_LPM, liters, kind: 'hand-wash' };
}

function isHome(day: OccupantDay, minute: number): boolean {
  return homeIntervals(day).some(([from, to]) => minute >= from && minute < to);
}

/** The union of everyone's home intervals (overlaps do not matter for picking a point). */
function anyoneHome(days: OccupantDay[]): Interval[] {
  return days.flatMap(homeIntervals);
}

/** `base` minus every span of `cut`. */
function subtract(base: readonly Interval[], cut: readonly Interval[]): Interval[] {
  let out: Interval[] = [...base];
  for (const [c0, c1] of cut) {
    out = out.flatMap(([a, b]): Interval[] => {
      if (c1 <= a || c0 >= b) return [[a, b]];
      const pieces: Interval[] = [];
      if (c0 > a) pieces.push([a, c0]);
      if (c1 < b) pieces.push([c1, b]);
      return pieces;
    });
  }
  return out;
}

function total(intervals: readonly Interval[]): number {
  return intervals.reduce((sum, [from, to]) => sum + Math.max(0, to - from), 0);
}

/** A uniformly random minute within the intervals. */
function pointIn(intervals: readonly Interval[], rng: Random): number {
  let offset = rng.uniform(0, total(intervals));
  for (const [from, to] of intervals) {
    const len = Math.max(0, to - from);
    if (offset < len) return from + offset;
    offset -= len;
  }
  return intervals[intervals.length - 1]?.[1] ?? 12 * 60;
}
