import { describe, expect, it } from 'vitest';
import { LocalTime } from './local-time.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h, mi, s);

/** Bucket starts seen minute by minute over [from, to), checking each minute lies inside its bucket. */
function bucketsBetween(lt: LocalTime, from: number, to: number): number[] {
  const starts: number[] = [];
  for (let t = from; t < to; t += MINUTE) {
    const start = lt.bucketStart(t);
    expect(start).toBeLessThanOrEqual(t);
    expect(t).toBeLessThan(start + lt.bucketMs);
    if (starts[starts.length - 1] !== start) starts.push(start);
  }
  return starts;
}

/** Consecutive buckets must meet exactly: no gap, no overlap. */
function expectContiguous(starts: number[], bucketMs: number): void {
  for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBe(bucketMs);
}

describe('LocalTime', () => {
  it('rejects bucket sizes other than 15, 30 or 60 minutes', () => {
    expect(() => new LocalTime('Asia/Shanghai', 45)).toThrow(RangeError);
  });

  it('knows which time zones the runtime has', () => {
    expect(LocalTime.isValidTimeZone('Asia/Shanghai')).toBe(true);
    expect(LocalTime.isValidTimeZone('Europe/Madrid')).toBe(true);
    expect(LocalTime.isValidTimeZone('Mars/Base')).toBe(false);
  });

  describe('in Asia/Shanghai (+08:00, no DST)', () => {
    it('starts 60-minute buckets on the local hour, which is the UTC hour', () => {
      const lt = new LocalTime('Asia/Shanghai', 60);
      expect(lt.offsetMs(utc(2026, 1, 5))).toBe(8 * HOUR);
      expect(lt.bucketStart(utc(2026, 1, 5, 0, 59, 59))).toBe(utc(2026, 1, 5, 0));
      expect(lt.bucketStart(utc(2026, 1, 5, 1, 0))).toBe(utc(2026, 1, 5, 1));
      expect(lt.bucketStart(utc(2026, 1, 4, 23, 30))).toBe(utc(2026, 1, 4, 23));
    });

    it('starts 30- and 15-minute buckets on the local half and quarter hours', () => {
      const half = new LocalTime('Asia/Shanghai', 30);
      expect(half.bucketStart(utc(2026, 1, 5, 3, 29))).toBe(utc(2026, 1, 5, 3, 0));
      expect(half.bucketStart(utc(2026, 1, 5, 3, 30))).toBe(utc(2026, 1, 5, 3, 30));
      expect(half.bucketStart(utc(2026, 1, 5, 3, 59, 59))).toBe(utc(2026, 1, 5, 3, 30));

      const quarter = new LocalTime('Asia/Shanghai', 15);
      expect(quarter.bucketStart(utc(2026, 1, 5, 3, 14))).toBe(utc(2026, 1, 5, 3, 0));
      expect(quarter.bucketStart(utc(2026, 1, 5, 3, 15))).toBe(utc(2026, 1, 5, 3, 15));
      expect(quarter.bucketStart(utc(2026, 1, 5, 3, 44, 59))).toBe(utc(2026, 1, 5, 3, 30));
    });

    it('counts minutes and days from local midnight, which is 16:00 UTC the day before', () => {
      const lt = new LocalTime('Asia/Shanghai', 60);
      const localMidnight = utc(2026, 1, 4, 16, 0);
      expect(lt.minuteOfDay(localMidnight)).toBe(0);
      expect(lt.minuteOfDay(localMidnight - MINUTE)).toBe(1439);
      expect(lt.minuteOfDay(utc(2026, 1, 5, 0, 30))).toBe(8 * 60 + 30);
      expect(lt.dayNumber(localMidnight)).toBe(utc(2026, 1, 5) / DAY);
      expect(lt.dayNumber(localMidnight - 1)).toBe(utc(2026, 1, 4) / DAY);
      expect(lt.dayOfWeek(localMidnight)).toBe(1); // Monday 5 January 2026
      expect(lt.dayOfWeek(localMidnight - 1)).toBe(0);
    });

    it('formats local date and time', () => {
      const lt = new LocalTime('Asia/Shanghai', 60);
      expect(lt.format(utc(2026, 1, 4, 16, 0))).toBe('2026-01-05 00:00');
      expect(lt.format(utc(2026, 1, 5, 0, 7, 59))).toBe('2026-01-05 08:07');
      expect(lt.formatTime(utc(2026, 1, 5, 13, 45))).toBe('21:45');
    });
  });

  describe('in Asia/Kolkata (+05:30)', () => {
    it('starts 60-minute local buckets at half past the UTC hour', () => {
      const lt = new LocalTime('Asia/Kolkata', 60);
      expect(lt.bucketStart(utc(2026, 1, 5, 10, 0))).toBe(utc(2026, 1, 5, 9, 30));
      expect(lt.bucketStart(utc(2026, 1, 5, 10, 29, 59))).toBe(utc(2026, 1, 5, 9, 30));
      expect(lt.bucketStart(utc(2026, 1, 5, 10, 30))).toBe(utc(2026, 1, 5, 10, 30));
      expect(lt.format(utc(2026, 1, 5, 10, 30))).toBe('2026-01-05 16:00');
      expect(lt.minuteOfDay(utc(2026, 1, 4, 18, 30))).toBe(0);
    });

    it('starts 30-minute buckets on the UTC half hours as well', () => {
      const lt = new LocalTime('Asia/Kolkata', 30);
      expect(lt.bucketStart(utc(2026, 1, 5, 10, 10))).toBe(utc(2026, 1, 5, 10, 0));
      expect(lt.bucketStart(utc(2026, 1, 5, 10, 40))).toBe(utc(2026, 1, 5, 10, 30));
    });
  });

  describe('in Europe/Madrid across daylight saving changes', () => {
    // 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST. 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET.
    const spring = utc(2026, 3, 29, 1, 0);
    const autumn = utc(2026, 10, 25, 1, 0);

    it('changes the offset at the moment of the change', () => {
      const lt = new LocalTime('Europe/Madrid', 60);
      expect(lt.offsetMs(spring - 1)).toBe(HOUR);
      expect(lt.offsetMs(spring)).toBe(2 * HOUR);
      expect(lt.offsetMs(autumn - 1)).toBe(2 * HOUR);
      expect(lt.offsetMs(autumn)).toBe(HOUR);
    });

    for (const bucketMinutes of [15, 30, 60]) {
      it(`keeps ${bucketMinutes}-minute buckets contiguous and non-overlapping across both changes`, () => {
        const lt = new LocalTime('Europe/Madrid', bucketMinutes);
        for (const change of [spring, autumn]) {
          const starts = bucketsBetween(lt, change - 3 * HOUR, change + 3 * HOUR);
          expectContiguous(starts, lt.bucketMs);
          expect(starts).toContain(change);
          expect(starts).toHaveLength((6 * 60) / bucketMinutes);
        }
      });
    }

    it('skips the missing local hour in spring', () => {
      const lt = new LocalTime('Europe/Madrid', 60);
      expect(lt.minuteOfDay(spring - MINUTE)).toBe(1 * 60 + 59);
      expect(lt.minuteOfDay(spring)).toBe(3 * 60);
      expect(lt.format(spring - MINUTE)).toBe('2026-03-29 01:59');
      expect(lt.format(spring)).toBe('2026-03-29 03:00');
      expect(lt.dayNumber(spring - MINUTE)).toBe(lt.dayNumber(spring));
    });

    it('repeats the local hour 02:00-03:00 in autumn, as two distinct buckets', () => {
      const lt = new LocalTime('Europe/Madrid', 60);
      expect(lt.minuteOfDay(autumn - MINUTE)).toBe(2 * 60 + 59);
      expect(lt.minuteOfDay(autumn)).toBe(2 * 60);
      expect(lt.format(autumn - HOUR)).toBe('2026-10-25 02:00');
      expect(lt.format(autumn)).toBe('2026-10-25 02:00');
      expect(lt.bucketStart(autumn - MINUTE)).toBe(autumn - HOUR);
      expect(lt.bucketStart(autumn)).toBe(autumn);
      expect(lt.dayNumber(autumn - MINUTE)).toBe(utc(2026, 10, 25) / DAY);
      expect(lt.dayNumber(autumn + HOUR)).toBe(utc(2026, 10, 25) / DAY);
    });

    it('has 23 local hours on the spring day and 25 on the autumn day', () => {
      const lt = new LocalTime('Europe/Madrid', 60);
      const springDay = bucketsBetween(lt, utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0));
      expect(springDay.every((t) => lt.dayNumber(t) === utc(2026, 3, 29) / DAY)).toBe(true);
      expect(springDay).toHaveLength(23);
      const autumnDay = bucketsBetween(lt, utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0));
      expect(autumnDay.every((t) => lt.dayNumber(t) === utc(2026, 10, 25) / DAY)).toBe(true);
      expect(autumnDay).toHaveLength(25);
    });
  });
});
