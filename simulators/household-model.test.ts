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

/** 14-day mean daily use (liters) a household of the profile keeps within, for any seed. */
const DAILY_RANGE: Record<Profile, [number, number]> = {
  'elderly-alone': [80, 240],
  'elderly-couple': [140, 420],
  'working-couple': [120, 380],
  couple: [120, 380],
  family: [200, 720],
  'night-shift': [60, 240],
  vacant: [0, 15],
};
/** Profiles that sleep at night. */
const DAY_LIVING = Profile.options.filter((p) => p !== 'night-shift' && p !== 'vacant');

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
    const from = at(MONDAY, 6);
    const to = at(MONDAY, 9);
    const events = model.events(from, to);
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) expect(e.start < to && e.end > from).toBe(true);
    expect(events.map((e) => e.start)).toEqual([...events.map((e) => e.start)].sort((x, y) => x - y));
    expect(model.events(to, from)).toEqual([]);
  });

  for (const profile of Profile.options) {
    it(`keeps ${profile} daily use in a realistic range over 14 days, varying from day to day`, () => {
      const [min, max] = DAILY_RANGE[profile];
      for (const seed of [1, 2, 3, 4, 5]) {
        const model = new HouseholdModel({ profile, seed, localTime });
        const totals = days(14).map((d) => usage(model, at(d, 0), at(d + 1, 0)));
        const mean = totals.reduce((a, b) => a + b) / totals.length;
        expect(mean).toBeGreaterThanOrEqual(min);
        expect(mean).toBeLessThanOrEqual(max);
        if (profile === 'vacant') continue;
        for (const t of totals) expect(t).toBeGreaterThan(min * 0.25);
        expect(Math.max(...totals) / Math.min(...totals)).toBeGreaterThan(1.3);
      }
    });
  }

  for (const profile of DAY_LIVING) {
    it(`keeps ${profile} nights (01:00–04:00) mostly without water`, () => {
      for (const seed of [5, 6]) {
        const model = new HouseholdModel({ profile, seed, localTime });
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
        expect(night / total).toBeLessThan(0.06);
        expect(dryNightHours / (14 * 3)).toBeGreaterThanOrEqual(0.55);
      }
    });
  }

  it('lets a night-shift worker use water at night on his nights off and by day after his shifts', () => {
    const model = new HouseholdModel({ profile: 'night-shift', seed: 3, localTime });
    const night = days(14).reduce((sum, d) => sum + usage(model, at(d, 0), at(d, 5)), 0);
    const elderly = new HouseholdModel({ profile: 'elderly-alone', seed: 3, localTime });
    const elderlyNight = days(14).reduce((sum, d) => sum + usage(elderly, at(d, 0), at(d, 5)), 0);
    expect(night).toBeGreaterThan(3 * elderlyNight);
    const weekday = days(5).reduce((sum, d) => sum + usage(model, at(d, 7), at(d, 9)), 0);
    expect(weekday).toBeGreaterThan(20);
  });

  it('draws each household’s fixtures and habits from its seed: households of a profile differ', () => {
    const means = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => {
      const model = new HouseholdModel({ profile: 'elderly-couple', seed, localTime });
      return days(14).reduce((sum, d) => sum + usage(model, at(d, 0), at(d + 1, 0)), 0) / 14;
    });
    expect(Math.max(...means) / Math.min(...means)).toBeGreaterThan(1.3);
    expect(new HouseholdModel({ profile: 'family', seed: 4, localTime }).style).toEqual(
      new HouseholdModel({ profile: 'family', seed: 4, localTime }).style,
    );
  });

  it('varies the time of the first water use from day to day and starts it later at weekends', () => {
    const model = new HouseholdModel({ profile: 'couple', seed: 21, localTime });
    const firstUse = (d: number) => {
      const morning = model.events(at(d, 4.75), at(d, 12)).filter((e) => e.start >= at(d, 4.75));
      return ((morning[0]?.start ?? NaN) - at(d, 0)) / 60_000;
    };
    const weekday = days(28)
      .filter((d) => !isWeekend(d))
      .map(firstUse);
    const weekend = days(28).filter(isWeekend).map(firstUse);
    expect(new Set(weekday.map(Math.round)).size).toBeGreaterThan(10);
    for (const minute of [...weekday, ...weekend]) expect(minute).toBeGreaterThan(4.75 * 60);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b) / xs.length;
    expect(mean(weekend) - mean(weekday)).toBeGreaterThan(30);
  });

  it('produces the water uses of a household: toilet, basin, shower, kitchen, dishes, laundry', () => {
    const model = new HouseholdModel({ profile: 'family', seed: 2, localTime });
    const events = model.events(at(MONDAY, 0), at(MONDAY + 14, 0));
    const kinds = new Set(events.map((e) => e.kind));
    expect(kinds).toEqual(
      new Set(['toilet', 'hand-wash', 'shower', 'kitchen', 'dishes', 'laundry', 'cleaning']),
    );
    // Events are cut at local midnight, so look at whole ones.
    const whole = events.filter(
      (e) => e.start > at(MONDAY, 0.1) && localTime.dayNumber(e.start) === localTime.dayNumber(e.end),
    );
    for (const e of whole.filter((x) => x.kind === 'toilet')) {
      expect(e.liters).toBeGreaterThan(4);
      expect(e.liters).toBeLessThan(9.5);
      expect(e.liters / ((e.end - e.start) / 60_000)).toBeCloseTo(10, 0);
    }
    for (const e of whole.filter((x) => x.kind === 'shower')) {
      const minutes = (e.end - e.start) / 60_000;
      expect(minutes).toBeGreaterThanOrEqual(2);
      expect(minutes).toBeLessThanOrEqual(22);
      expect(e.liters / minutes).toBeGreaterThanOrEqual(6);
      expect(e.liters / minutes).toBeLessThanOrEqual(10);
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
    expect(berlin.minuteOfDay(first?.start ?? 0)).toBeGreaterThanOrEqual(4.5 * 60);
    expect(berlin.minuteOfDay(first?.start ?? 0)).toBeLessThan(8.5 * 60);
  });
});
