import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { usageSeries } from './usage-series.ts';

const HOUR = 3_600_000;
const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);
const hourly = new LocalTime('Asia/Shanghai', 60);

describe('usageSeries', () => {
  it('fills every bucket with nothing stored with null', () => {
    expect(usageSeries([], T0, T0 + 2 * HOUR, hourly)).toEqual([
      { start: T0, end: T0 + HOUR, liters: null },
      { start: T0 + HOUR, end: T0 + 2 * HOUR, liters: null },
    ]);
  });

  it('starts at the first bucket starting at or after from', () => {
    const series = usageSeries([], T0 + 10 * MIN, T0 + 2 * HOUR, hourly);
    expect(series).toEqual([{ start: T0 + HOUR, end: T0 + 2 * HOUR, liters: null }]);
  });

  it('keeps stored buckets, zero use included, as stored', () => {
    const h = 'H1';
    const series = usageSeries(
      [
        { householdId: h, start: T0, end: T0 + HOUR, liters: 0 },
        { householdId: h, start: T0 + 2 * HOUR, end: T0 + 3 * HOUR, liters: 12 },
      ],
      T0,
      T0 + 3 * HOUR,
      hourly,
    );
    expect(series.map((b) => b.liters)).toEqual([0, null, 12]);
  });

  it('fits the nulls around stored buckets of another size, leaving no hole and no overlap', () => {
    const h = 'H1';
    const series = usageSeries(
      [
        { householdId: h, start: T0 + 30 * MIN, end: T0 + 45 * MIN, liters: 3 },
        { householdId: h, start: T0 + 45 * MIN, end: T0 + 60 * MIN, liters: 4 },
      ],
      T0,
      T0 + 2 * HOUR,
      hourly,
    );
    expect(series).toEqual([
      { start: T0, end: T0 + 30 * MIN, liters: null },
      { start: T0 + 30 * MIN, end: T0 + 45 * MIN, liters: 3 },
      { start: T0 + 45 * MIN, end: T0 + HOUR, liters: 4 },
      { start: T0 + HOUR, end: T0 + 2 * HOUR, liters: null },
    ]);
  });

  it('follows the local-time grid in a zone with a 45-minute offset', () => {
    const kathmandu = new LocalTime('Asia/Kathmandu', 60); // UTC+5:45
    const series = usageSeries([], T0, T0 + 2 * HOUR, kathmandu);
    expect(series.map((b) => b.start)).toEqual([T0 + 15 * MIN, T0 + 75 * MIN]);
  });
});
