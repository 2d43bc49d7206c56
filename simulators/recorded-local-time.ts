import { LocalTime } from '../core/local-time.ts';

export interface LocalFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export type LocalResolution =
  { ok: true; ts: number; shifted: boolean } | { ok: false; why: 'invalid-date' | 'invalid-time' };

const DAY = 86_400_000;

/**
 * Converts a wall-clock time in `localTime`'s zone to epoch ms, the way a meter's local clock meant it:
 * - a time that does not exist (the hour skipped when daylight saving starts) is read with the offset in force
 *   before the change, i.e. moved forward by the gap (`shifted: true`), as java.time and Temporal do;
 * - a time that exists twice (the hour repeated when it ends) is the earlier instant, unless that lies before
 *   `notBefore` (the meter's previous reading), then the later one.
 */
export function localToUtc(f: LocalFields, localTime: LocalTime, notBefore = -Infinity): LocalResolution {
  if (f.month < 1 || f.month > 12 || f.day < 1 || f.day > 31) return { ok: false, why: 'invalid-date' };
  if (f.hour > 23 || f.minute > 59 || f.second > 59 || f.hour < 0 || f.minute < 0 || f.second < 0)
    return { ok: false, why: 'invalid-time' };
  const wall = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
  const check = new Date(wall);
  if (check.getUTCDate() !== f.day || check.getUTCMonth() !== f.month - 1)
    return { ok: false, why: 'invalid-date' };
  const offsets = new Set([
    localTime.offsetMs(wall - DAY),
    localTime.offsetMs(wall),
    localTime.offsetMs(wall + DAY),
  ]);
  const candidates = [...offsets]
    .map((o) => wall - o)
    .filter((t) => localTime.toLocalMs(t) === wall)
    .sort((a, b) => a - b);
  if (candidates.length === 0) {
    // Skipped wall time: the offset before the change applies.
    const before = localTime.offsetMs(wall - DAY);
    return { ok: true, ts: wall - before, shifted: true };
  }
  const ts = candidates.find((t) => t >= notBefore) ?? candidates[candidates.length - 1]!;
  return { ok: true, ts, shifted: false };
}
