import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { dayOfWeekOf, isWeekend, localMinuteToUtc, parseLocalDate } from './local-day.ts';

const berlin = new LocalTime('Europe/Berlin', 60);
const shanghai = new LocalTime('Asia/Shanghai', 60);

describe('local days', () => {
  it('turns a local date and minute into the UTC instant, across daylight saving changes', () => {
    const day = parseLocalDate('2026-03-29');
    expect(localMinuteToUtc(berlin, day, 0)).toBe(Date.parse('2026-03-29T00:00:00+01:00'));
    expect(localMinuteToUtc(berlin, day, 8 * 60)).toBe(Date.parse('2026-03-29T08:00:00+02:00'));
    expect(localMinuteToUtc(shanghai, parseLocalDate('2026-01-07'), 11 * 60)).toBe(
      Date.parse('2026-01-07T11:00:00+08:00'),
    );
    expect(localMinuteToUtc(shanghai, parseLocalDate('2026-01-07'), 25 * 60)).toBe(
      Date.parse('2026-01-08T01:00:00+08:00'),
    );
  });

  it('agrees with LocalTime on day numbers and weekdays', () => {
    const day = parseLocalDate('2026-01-10');
    expect(shanghai.dayNumber(localMinuteToUtc(shanghai, day, 30))).toBe(day);
    expect(dayOfWeekOf(day)).toBe(6);
    expect(isWeekend(day)).toBe(true);
    expect(isWeekend(day + 2)).toBe(false);
    expect(() => parseLocalDate('2026-1-10')).toThrow(RangeError);
  });
});
