import { describe, expect, it } from 'vitest';
import { highHourLiters } from './high-hour.ts';
import { createHouseholdState, pushMilliliters, resetSlot, type HouseholdState } from './household-state.ts';
import { recordHour } from './usage-history.ts';

/** Hourly buckets for `days` local days up to `lastDay`, each hour's liters from `liters(day, hour)`. */
function fill(
  s: HouseholdState,
  lastDay: number,
  days: number,
  liters: (day: number, hour: number) => number,
) {
  for (let day = lastDay - days + 1; day <= lastDay; day++) {
    for (let hour = 0; hour < 24; hour++) {
      pushMilliliters(s, Math.round(liters(day, hour) * 1000));
      recordHour(s, day, ((hour + 1) * 60) % 1440, 60);
    }
  }
}

describe("a household's busiest hours", () => {
  const DAY = 20_000;
  it('answers the same asked again in a run of buckets, and follows a history replaced under it', () => {
    const a = createHouseholdState(24, 21);
    fill(a, DAY, 16, (d, h) => (h === 19 ? 40 + (d % 5) : 2));
    const first = highHourLiters(a, DAY);
    expect(first).not.toBeNull();
    expect(highHourLiters(a, DAY)).toBe(first);
    // The same slot, reset and filled again up to the same day with heavier evenings: a new answer.
    resetSlot(a);
    fill(a, DAY, 16, (d, h) => (h === 19 ? 120 + (d % 5) : 2));
    const fresh = createHouseholdState(24, 21);
    fill(fresh, DAY, 16, (d, h) => (h === 19 ? 120 + (d % 5) : 2));
    expect(highHourLiters(a, DAY)).toBe(highHourLiters(fresh, DAY));
    expect(highHourLiters(a, DAY)).toBeGreaterThan(first!);
  });

  it('counts the hours of a day still filling when asked about from a later day', () => {
    const heavy = (_d: number, h: number) => (h >= 18 ? 90 : 1);
    const s = createHouseholdState(24, 21);
    fill(s, DAY - 1, 14, (_d, h) => (h === 7 ? 30 : 1));
    // DAY up to noon, asked about from DAY + 1 (a clock or a rule may look ahead): its evening is not in yet.
    for (let hour = 0; hour < 12; hour++) {
      pushMilliliters(s, 1_000);
      recordHour(s, DAY, (hour + 1) * 60, 60);
    }
    const noon = highHourLiters(s, DAY + 1);
    for (let hour = 12; hour < 24; hour++) {
      pushMilliliters(s, heavy(DAY, hour) * 1000);
      recordHour(s, DAY, ((hour + 1) * 60) % 1440, 60);
    }
    const fresh = createHouseholdState(24, 21);
    fill(fresh, DAY - 1, 14, (_d, h) => (h === 7 ? 30 : 1));
    fill(fresh, DAY, 1, (d, h) => (h < 12 ? 1 : heavy(d, h)));
    expect(highHourLiters(s, DAY + 1)).toBe(highHourLiters(fresh, DAY + 1));
    expect(highHourLiters(s, DAY + 1)).not.toBe(noon);
  });
});
