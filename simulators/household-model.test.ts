import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { HouseholdModel } from './household-model.ts';
import { Profile } from './household-profiles.ts';
import { HOUR_MS, isWeekend, localMinuteToUtc } from './local-day.ts';
import { litersInRange } from './water-event.ts';

const localTime = new LocalTime('Asia/Shanghai', 60);
/** Monday 2026-01-05, local. */
const MONDAY = localTime.dayNumber(Date.UTC(2026, 0, 5, 0));
const at = (day: number, hour: number) => localMinuteToUtc(localTime, day, hour * 60);
const usage = (model: HouseholdModel, from: number, to: number) =>
  litersInRange(model.events(from, to), from, to);
const days = (n: number) => Array.from({ length: n }, (_, i) => MONDAY + i);

const DAILY_RANGE: Record<Profile, [number, number]> = {
  'elderly-alone': [80, 150],
  couple: [180, 300],
  family: [350, 600],
};

describe('HouseholdModel', () => {
  it('generates identical events for the same seed and different events for another seed', () => {
    const from = at(MONDAY, 0);
    const to = at(MONDAY + 7, 0);
    const a = new HouseholdModel({ profile: 'couple', seed: 11, localTime }).events(from, to);
    const b = new HouseholdModel({ profile: 'couple', seed: 11, localTime }).events(from, to);
    const c = new HouseholdModel({ profile: 'couple', seed: 12, localTime }).events(from, to);
    expect(a.length).toBeGreaterThan(100);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('gives the same usage whichever window is asked for, in whatever order', () => {
    const week = new HouseholdModel({ profile: 'family', seed: 3, localTime });
    const hourly = new HouseholdModel({ profile: 'family', seed: 3, localTime });
    const start = at(MONDAY, 0);
    const all = week.events(start, start + 7 * 24 * HOUR_MS);
    for (let h = 7 * 24 - 1; h >= 0; h--) {
      const from = start + h * HOUR_MS;
      expect(usage(hourly, from, from + HOUR_MS)).toBeCloseTo(litersInRange(all, from, from + HOUR_MS), 9);
    }
  });

  it('returns only events overlapping the window, sorted by start', () => {
    const model = new HouseholdModel({ profile: 'family', seed: 8, localTime });
    const from = at(MONDAY, 7);
    const to = at(MONDAY, 8);
    const events = model.events(from, to);
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) expect(e.start < to && e.end > from).toBe(true);
    expect(events.map((e) => e.start)).toEqual([...events.map((e) => e.start)].sort((x, y) => x - y));
    expect(model.events(to, from)).toEqual([]);
  });

  for (const profile of Profile.options) {
    it(`keeps ${profile} daily totals in a realistic range over 14 days`, () => {
      const [min, max] = DAILY_RANGE[profile];
      for (const seed of [1, 2, 3]) {
        const model = new HouseholdModel({ profile, seed, localTime });
        const totals = days(14).map((d) => usage(model, at(d, 0), at(d + 1, 0)));
        const mean = totals.reduce((a, b) => a + b) / totals.length;
        expect(mean).toBeGreaterThanOrEqual(min);
        expect(mean).toBeLessThanOrEqual(max);
        expect(totals.filter((t) => t >= min && t <= max).length).toBeGreaterThanOrEqual(10);
        for (const t of totals) expect(t).toBeGreaterThan(min * 0.6);
        for (const t of totals) expect(t).toBeLessThan(max * 1.4);
      }
    });

    it(`keeps ${profile} nights (01:00–04:00) mostly without water`, () => {
      const model = new HouseholdModel({ profile, seed: 5, localTime });
      let night = 0;
      let total = 0;
      let dryNightHours = 0;
      for (const d of days(14)) {
        total += usage(model, at(d, 0), at(d + 1, 0));
        for (const h of [1, 2, 3]) {
          const liters = usage(model, at(d, h), at(d, h + 1));
          night += liters;
          if (liters === 0) dryNightHours++;
        }
      }
      expect(night / total).toBeLessThan(0.03);
      expect(dryNightHours / (14 * 3)).toBeGreaterThanOrEqual(0.8);
    });
  }

  it('varies the time of the first water use from day to day and starts it later at weekends', () => {
    const model = new HouseholdModel({ profile: 'couple', seed: 21, localTime });
    const firstUse = (d: number) => {
      const morning = model.events(at(d, 4.5), at(d, 12)).filter((e) => e.start >= at(d, 4.5));
      return ((morning[0]?.start ?? NaN) - at(d, 0)) / 60_000;
    };
    const weekday = days(28)
      .filter((d) => !isWeekend(d))
      .map(firstUse);
    const weekend = days(28).filter(isWeekend).map(firstUse);
    expect(new Set(weekday.map(Math.round)).size).toBeGreaterThan(10);
    for (const minute of [...weekday, ...weekend]) expect(minute).toBeGreaterThan(5.5 * 60);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b) / xs.length;
    expect(mean(weekend) - mean(weekday)).toBeGreaterThan(30);
  });

  it('produces the water uses of a household: toilet, basin, shower, kitchen, dishes, laundry', () => {
    const model = new HouseholdModel({ profile: 'family', seed: 2, localTime });
    const events = model.events(at(MONDAY, 0), at(MONDAY + 14, 0));
    const kinds = new Set(events.map((e) => e.kind));
    expect(kinds).toEqual(new Set(['toilet', 'hand-wash', 'shower', 'kitchen', 'dishes', 'laundry']));
    for (const e of events.filter((x) => x.kind === 'toilet')) {
      expect(e.liters).toBeGreaterThan(5);
      expect(e.liters).toBeLessThan(7);
      expect(e.liters / ((e.end - e.start) / 60_000)).toBeCloseTo(10, 0);
    }
    for (const e of events.filter((x) => x.kind === 'shower')) {
      const minutes = (e.end - e.start) / 60_000;
      expect(minutes).toBeGreaterThanOrEqual(5);
      expect(minutes).toBeLessThanOrEqual(10);
      expect(e.liters / minutes).toBeCloseTo(8, 0);
    }
  });

  it('lives by Asia/Shanghai when no local time is given', () => {
    const from = at(MONDAY, 0);
    const to = at(MONDAY + 2, 0);
    const implicit = new HouseholdModel({ profile: 'family', seed: 6 }).events(from, to);
    expect(implicit).toEqual(new HouseholdModel({ profile: 'family', seed: 6, localTime }).events(from, to));
    const berlin = new LocalTime('Europe/Berlin', 60);
    expect(implicit).not.toEqual(
      new HouseholdModel({ profile: 'family', seed: 6, localTime: berlin }).events(from, to),
    );
  });

  it('follows the local time zone it is given', () => {
    const berlin = new LocalTime('Europe/Berlin', 60);
    const model = new HouseholdModel({ profile: 'elderly-alone', seed: 4, localTime: berlin });
    const day = berlin.dayNumber(Date.UTC(2026, 0, 7, 12));
    const morning = model.events(
      localMinuteToUtc(berlin, day, 4.5 * 60),
      localMinuteToUtc(berlin, day, 12 * 60),
    );
    const first = morning.find((e) => e.start >= localMinuteToUtc(berlin, day, 4.5 * 60));
    expect(first).toBeDefined();
    expect(berlin.minuteOfDay(first?.start ?? 0)).toBeGreaterThanOrEqual(5 * 60);
    expect(berlin.minuteOfDay(first?.start ?? 0)).toBeLessThan(8 * 60);
  });
});
