import { z } from 'zod';

/**
 * Household profiles: who lives there and their daily routine in local time. Add a profile by adding its
 * name to `Profile` and its spec to `PROFILES`; the day generator only reads the spec. `couple` is the
 * older name of `working-couple` (kept so that existing scenario files and the demo keep working).
 */
export const Profile = z.enum([
  'elderly-alone',
  'elderly-couple',
  'working-couple',
  'family',
  'night-shift',
  'vacant',
  'couple',
]);
export type Profile = z.infer<typeof Profile>;

/** A [min, max] range; drawn uniformly. */
export type Range = readonly [number, number];

export interface OccupantSpec {
  readonly role: 'elderly' | 'adult' | 'child' | 'guest';
  /** Wake and bed time, local minutes after the day's midnight (bed may exceed 1440, wake too for night work). */
  readonly wakeMinute: number;
  readonly bedMinute: number;
  /** Day-to-day jitter of wake and bed time, ± minutes. */
  readonly jitterMinutes: number;
  /** How much later wake (fully) and bed (half) are on Saturday and Sunday. */
  readonly weekendShiftMinutes: number;
  /** Absence for work or school on the days that start a weekday (may run past midnight), or null. */
  readonly awayOnWeekdays: { readonly fromMinute: number; readonly toMinute: number } | null;
  /** Chance of an outing on a day at home (market, park, visit) and its length in minutes. */
  readonly outingChance: number;
  readonly outingMinutes: Range;
  /** Toilet flushes on a day spent at home: on rising, at bedtime, and the rest fewer in proportion when away. */
  readonly flushesPerHomeDay: number;
  /** Basin uses (teeth, face, hands) besides the ones after each flush, on a day at home. */
  readonly basinUsesPerHomeDay: number;
  readonly showerChance: number;
  readonly showerMinutes: Range;
  readonly showerAt: 'morning' | 'evening';
  /** Chance of getting up once in the night (01:00–04:30 after midnight) to use the toilet. */
  readonly nightToiletChance: number;
}

export interface HouseholdSpec {
  readonly occupants: readonly OccupantSpec[];
  /** Further occupants some households of the profile have (drawn once per household from its seed). */
  readonly optionalOccupants: readonly { readonly occupant: OccupantSpec; readonly chance: number }[];
  /** Kitchen tap liters per meal; a meal is cooked only when someone is home for it. */
  readonly mealLiters: { readonly breakfast: Range; readonly lunch: Range; readonly dinner: Range };
  /** Fixed meal times (local minutes) for households that do not follow the usual day. */
  readonly mealMinutes?: { readonly breakfast: number; readonly lunch: number; readonly dinner: number };
  /** Meals after which the dishes are washed by hand. */
  readonly dishesAfter: readonly ('breakfast' | 'lunch' | 'dinner')[];
  readonly laundryPerWeek: number;
  /** Mopping and cleaning (a bucket or two) per week. */
  readonly cleaningPerWeek: number;
  /** Chance on a weekday (twice that at the weekend) that everyone is out for most of the day. */
  readonly dayOutChance: number;
  /** For an empty flat: the owner's visits per week (a few flushes and a tap run). */
  readonly ownerVisitsPerWeek: number;
}

const retired = (wakeMinute: number, bedMinute: number, showerAt: 'morning' | 'evening') =>
  ({
    role: 'elderly',
    wakeMinute,
    bedMinute,
    jitterMinutes: 30,
    weekendShiftMinutes: 0,
    awayOnWeekdays: null,
    outingChance: 0.45,
    outingMinutes: [60, 180],
    flushesPerHomeDay: 7,
    basinUsesPerHomeDay: 5,
    showerChance: 0.55,
    showerMinutes: [4, 8],
    showerAt,
    nightToiletChance: 0.7,
  }) as const satisfies OccupantSpec;

const workingAdult = (wakeMinute: number, showerAt: 'morning' | 'evening') =>
  ({
    role: 'adult',
    wakeMinute,
    bedMinute: 23 * 60,
    jitterMinutes: 30,
    weekendShiftMinutes: 60,
    awayOnWeekdays: { fromMinute: 7 * 60 + 50, toMinute: 18 * 60 },
    outingChance: 0.35,
    outingMinutes: [120, 300],
    flushesPerHomeDay: 5,
    basinUsesPerHomeDay: 4,
    showerChance: 0.8,
    showerMinutes: [5, 10],
    showerAt,
    nightToiletChance: 0.2,
  }) as const satisfies OccupantSpec;

const schoolChild = {
  role: 'child',
  wakeMinute: 6 * 60 + 40,
  bedMinute: 21 * 60 + 30,
  jitterMinutes: 20,
  weekendShiftMinutes: 75,
  awayOnWeekdays: { fromMinute: 7 * 60 + 20, toMinute: 16 * 60 + 50 },
  outingChance: 0.3,
  outingMinutes: [90, 240],
  flushesPerHomeDay: 5,
  basinUsesPerHomeDay: 5,
  showerChance: 0.55,
  showerMinutes: [5, 9],
  showerAt: 'evening',
  nightToiletChance: 0.04,
} as const satisfies OccupantSpec;

/** Works nights (22:00–07:00) on the nights that start a weekday, sleeps 08:30–15:00. */
const nightWorker = {
  role: 'adult',
  wakeMinute: 15 * 60,
  bedMinute: 24 * 60 + 8 * 60 + 30,
  jitterMinutes: 30,
  weekendShiftMinutes: 0,
  awayOnWeekdays: { fromMinute: 21 * 60 + 20, toMinute: 24 * 60 + 7 * 60 + 30 },
  outingChance: 0.3,
  outingMinutes: [60, 180],
  flushesPerHomeDay: 5,
  basinUsesPerHomeDay: 4,
  showerChance: 0.85,
  showerMinutes: [5, 10],
  showerAt: 'evening',
  nightToiletChance: 0,
} as const satisfies OccupantSpec;

/** A visitor staying with the household: at home much of the day. */
export const GUEST: OccupantSpec = {
  ...retired(7 * 60, 22 * 60 + 30, 'evening'),
  role: 'guest',
  outingChance: 0.5,
  showerChance: 0.8,
  showerMinutes: [5, 10],
  nightToiletChance: 0.1,
};

const workingCouple: HouseholdSpec = {
  occupants: [workingAdult(6 * 60 + 45, 'morning'), workingAdult(6 * 60 + 30, 'evening')],
  optionalOccupants: [],
  mealLiters: { breakfast: [2, 5], lunch: [4, 8], dinner: [6, 12] },
  dishesAfter: ['dinner'],
  laundryPerWeek: 3,
  cleaningPerWeek: 2,
  dayOutChance: 0.05,
  ownerVisitsPerWeek: 0,
};

export const PROFILES: Readonly<Record<Profile, HouseholdSpec>> = {
  'elderly-alone': {
    occupants: [retired(6 * 60 + 15, 21 * 60 + 45, 'evening')],
    optionalOccupants: [],
    mealLiters: { breakfast: [2, 4], lunch: [4, 8], dinner: [4, 8] },
    dishesAfter: ['lunch', 'dinner'],
    laundryPerWeek: 1.5,
    cleaningPerWeek: 2,
    dayOutChance: 0.05,
    ownerVisitsPerWeek: 0,
  },
  'elderly-couple': {
    occupants: [retired(6 * 60, 21 * 60 + 30, 'evening'), retired(6 * 60 + 30, 22 * 60, 'morning')],
    optionalOccupants: [],
    mealLiters: { breakfast: [3, 6], lunch: [5, 10], dinner: [5, 10] },
    dishesAfter: ['lunch', 'dinner'],
    laundryPerWeek: 2.5,
    cleaningPerWeek: 3,
    dayOutChance: 0.05,
    ownerVisitsPerWeek: 0,
  },
  'working-couple': workingCouple,
  couple: workingCouple,
  family: {
    occupants: [workingAdult(6 * 60 + 30, 'morning'), workingAdult(6 * 60 + 15, 'evening'), schoolChild],
    optionalOccupants: [
      { occupant: schoolChild, chance: 0.4 },
      { occupant: retired(6 * 60, 21 * 60 + 30, 'evening'), chance: 0.3 },
    ],
    mealLiters: { breakfast: [4, 8], lunch: [5, 10], dinner: [8, 15] },
    dishesAfter: ['breakfast', 'dinner'],
    laundryPerWeek: 5,
    cleaningPerWeek: 3,
    dayOutChance: 0.05,
    ownerVisitsPerWeek: 0,
  },
  'night-shift': {
    occupants: [nightWorker],
    optionalOccupants: [],
    mealLiters: { breakfast: [2, 5], lunch: [3, 6], dinner: [3, 6] },
    mealMinutes: { breakfast: 15 * 60 + 30, lunch: 20 * 60 + 30, dinner: 24 * 60 + 7 * 60 + 50 },
    dishesAfter: ['lunch'],
    laundryPerWeek: 2,
    cleaningPerWeek: 1,
    dayOutChance: 0.05,
    ownerVisitsPerWeek: 0,
  },
  vacant: {
    occupants: [],
    optionalOccupants: [],
    mealLiters: { breakfast: [0, 0], lunch: [0, 0], dinner: [0, 0] },
    dishesAfter: [],
    laundryPerWeek: 0,
    cleaningPerWeek: 0,
    dayOutChance: 0,
    ownerVisitsPerWeek: 0.25,
  },
};
