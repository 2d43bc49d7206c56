import { z } from 'zod';

/**
 * Household profiles: who lives there and their daily routine in local time. Add a profile by adding its
 * name to `Profile` and its spec to `PROFILES`; the day generator only reads the spec.
 */
export const Profile = z.enum(['elderly-alone', 'couple', 'family']);
export type Profile = z.infer<typeof Profile>;

/** A [min, max] range; drawn uniformly. */
export type Range = readonly [number, number];

export interface OccupantSpec {
  readonly role: 'elderly' | 'adult' | 'child';
  /** Weekday wake and bed time, local minutes after midnight (bed may exceed 1440). */
  readonly wakeMinute: number;
  readonly bedMinute: number;
  /** Day-to-day jitter of wake and bed time, ± minutes. */
  readonly jitterMinutes: number;
  /** How much later wake (fully) and bed (half) are on Saturday and Sunday. */
  readonly weekendShiftMinutes: number;
  /** Weekday absence (work, school) in local minutes, or null when at home all day. */
  readonly awayOnWeekdays: { readonly fromMinute: number; readonly toMinute: number } | null;
  /** Toilet flushes on a day spent at home: on rising, at bedtime, and the rest fewer in proportion when away. */
  readonly flushesPerHomeDay: number;
  /** Basin uses (teeth, face, hands) besides the ones after each flush, on a day at home. */
  readonly basinUsesPerHomeDay: number;
  readonly showerChance: number;
  readonly showerMinutes: Range;
  readonly showerAt: 'morning' | 'evening';
  /** Chance of getting up once in the night (01:00–04:30) to use the toilet. */
  readonly nightToiletChance: number;
}

export interface HouseholdSpec {
  readonly occupants: readonly OccupantSpec[];
  /** Kitchen tap liters per meal; a meal is cooked only when someone is home for it. */
  readonly mealLiters: { readonly breakfast: Range; readonly lunch: Range; readonly dinner: Range };
  /** Meals after which the dishes are washed (15–25 L). */
  readonly dishesAfter: readonly ('breakfast' | 'lunch' | 'dinner')[];
  readonly laundryPerWeek: number;
}

const retired = {
  role: 'elderly',
  wakeMinute: 6 * 60 + 15,
  bedMinute: 21 * 60 + 45,
  jitterMinutes: 30,
  weekendShiftMinutes: 0,
  awayOnWeekdays: null,
  flushesPerHomeDay: 5.5,
  basinUsesPerHomeDay: 4,
  showerChance: 0.6,
  showerMinutes: [5, 7],
  showerAt: 'evening',
  nightToiletChance: 0.25,
} as const satisfies OccupantSpec;

const workingAdult = (wakeMinute: number, showerAt: 'morning' | 'evening') =>
  ({
    role: 'adult',
    wakeMinute,
    bedMinute: 23 * 60,
    jitterMinutes: 30,
    weekendShiftMinutes: 60,
    awayOnWeekdays: { fromMinute: 8 * 60 + 15, toMinute: 18 * 60 },
    flushesPerHomeDay: 5,
    basinUsesPerHomeDay: 4,
    showerChance: 0.95,
    showerMinutes: [6, 10],
    showerAt,
    nightToiletChance: 0.08,
  }) as const satisfies OccupantSpec;

const schoolChild = {
  role: 'child',
  wakeMinute: 6 * 60 + 45,
  bedMinute: 21 * 60 + 15,
  jitterMinutes: 20,
  weekendShiftMinutes: 60,
  awayOnWeekdays: { fromMinute: 7 * 60 + 30, toMinute: 16 * 60 + 45 },
  flushesPerHomeDay: 5,
  basinUsesPerHomeDay: 6,
  showerChance: 0.75,
  showerMinutes: [6, 10],
  showerAt: 'evening',
  nightToiletChance: 0.04,
} as const satisfies OccupantSpec;

export const PROFILES: Readonly<Record<Profile, HouseholdSpec>> = {
  'elderly-alone': {
    occupants: [retired],
    mealLiters: { breakfast: [3, 5], lunch: [4, 8], dinner: [5, 9] },
    dishesAfter: ['dinner'],
    laundryPerWeek: 1,
  },
  couple: {
    occupants: [workingAdult(6 * 60 + 45, 'morning'), workingAdult(6 * 60 + 30, 'evening')],
    mealLiters: { breakfast: [3, 6], lunch: [5, 9], dinner: [6, 10] },
    dishesAfter: ['dinner'],
    laundryPerWeek: 3,
  },
  family: {
    occupants: [
      workingAdult(6 * 60 + 30, 'morning'),
      workingAdult(6 * 60 + 15, 'evening'),
      schoolChild,
      schoolChild,
    ],
    mealLiters: { breakfast: [5, 9], lunch: [6, 10], dinner: [7, 10] },
    dishesAfter: ['breakfast', 'lunch', 'dinner'],
    laundryPerWeek: 6,
  },
};
