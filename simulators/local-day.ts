import { LocalTime } from '../core/local-time.ts';

/** Converting local calendar days and wall-clock minutes (in a LocalTime's zone) to epoch ms UTC. */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** The deployment default: Asia/Shanghai, hourly buckets. */
export const DEFAULT_LOCAL_TIME = new LocalTime('Asia/Shanghai', 60);

/** The UTC instant at which the zone's wall clock reads `localMs` (local wall time expressed as if UTC). */
export function localToUtc(localTime: LocalTime, localMs: number): number {
  const guess = localMs - localTime.offsetMs(localMs);
  return localMs - localTime.offsetMs(guess);
}

/** UTC instant of `minuteOfDay` (may exceed 1440 to spill into the next day) on local day `dayNumber`. */
export function localMinuteToUtc(localTime: LocalTime, dayNumber: number, minuteOfDay: number): number {
  return localToUtc(localTime, dayNumber * DAY_MS + Math.round(minuteOfDay * MINUTE_MS));
}

/** Local day number (days since 1970-01-01) of a `YYYY-MM-DD` local date. */
export function parseLocalDate(date: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) throw new RangeError(`expected a local date YYYY-MM-DD, got ${date}`);
  const ms = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return Math.floor(ms / DAY_MS);
}

/** Day of week (0 = Sunday) of a local day number. */
export function dayOfWeekOf(dayNumber: number): number {
  return (((dayNumber + 4) % 7) + 7) % 7;
}

export function isWeekend(dayNumber: number): boolean {
  const dow = dayOfWeekOf(dayNumber);
  return dow === 0 || dow === 6;
}
