import { describe, expect, it } from 'vitest';
import type { RegisterReading } from './calibration-data.ts';
import { bestLagCorrelation, hourlyObservations, quantile, usageStatistics } from './usage-statistics.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2017, 2, 1, 0, 3, 26);

/** An hourly register (read at minute 03) from per-hour liters. */
function register(hourly: number[], start = 50_000): RegisterReading[] {
  let total = start;
  const out: RegisterReading[] = [{ localMs: T0, totalLiters: total }];
  hourly.forEach((l, i) => out.push({ localMs: T0 + (i + 1) * HOUR, totalLiters: (total += l) }));
  return out;
}

describe('hourlyObservations', () => {
  it('turns consecutive readings about an hour apart into the hour they mostly cover', () => {
    const obs = hourlyObservations(register([5, 0, 12]));
    expect(obs).toEqual([
      { hour: Date.UTC(2017, 2, 1, 0), liters: 5 },
      { hour: Date.UTC(2017, 2, 1, 1), liters: 0 },
      { hour: Date.UTC(2017, 2, 1, 2), liters: 12 },
    ]);
  });

  it('drops gaps, register drops and the ±248,520 L glitches instead of counting them as use', () => {
    const readings = register([5, 5, 5, 5]);
    readings[2] = { ...readings[2]!, totalLiters: readings[2]!.totalLiters + 248_520 };
    const gap = [...readings, { localMs: T0 + 9 * HOUR, totalLiters: readings[4]!.totalLiters + 50 }];
    expect(hourlyObservations(gap).map((o) => o.liters)).toEqual([5, 5]);
  });
});

describe('usageStatistics', () => {
  it('measures daily quantiles, zero hours, the night share and heavy hour pairs', () => {
    const day = [0, 0, 0, 0, 0, 0, 10, 30, 10, 0, 0, 5, 10, 0, 0, 0, 0, 5, 20, 70, 65, 15, 5, 0];
    const s = usageStatistics([register(Array.from({ length: 14 }, () => day).flat())]);
    expect(s.households).toBe(1);
    expect(s.completeDays).toBe(14);
    expect(s.dailyQuantiles[2]).toBe(245);
    expect(s.zeroHourShare).toBeCloseTo(13 / 24, 6);
    expect(s.heavyPairsPerDay).toBeCloseTo(1, 1);
    expect(s.nightShare).toBe(0);
    expect(s.dryNightShare).toBe(1);
    expect(s.dayToDayCv).toBeCloseTo(0, 6);
  });

  it('leaves out empty homes and days away, and counts them apart', () => {
    const day = Array.from({ length: 24 }, (_, h) => (h >= 7 && h < 22 ? 10 : 0));
    const away = new Array<number>(24).fill(0);
    const home = usageStatistics([
      register([...day, ...day, ...away, ...day, ...day, ...day]),
      register(new Array<number>(24 * 6).fill(0)),
    ]);
    expect(home.households).toBe(1);
    expect(home.vacantShare).toBe(0.5);
    expect(home.awayDayShare).toBeCloseTo(1 / 6, 6);
    expect(home.lowDayShare).toBe(0);
  });
});

describe('helpers', () => {
  it('quantile interpolates; bestLagCorrelation finds a profile shifted by hours', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    const a = Array.from(
      { length: 24 },
      (_, h) => Math.exp(-((h - 8) ** 2) / 4) + Math.exp(-((h - 20) ** 2) / 4),
    );
    const b = a.map((_, h) => a[(h + 22) % 24]!);
    expect(bestLagCorrelation(a, b)).toEqual({ r: expect.closeTo(1, 6), lagHours: 2 });
  });
});
