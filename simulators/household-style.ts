import type { HouseholdSpec, OccupantSpec, Range } from './household-profiles.ts';
import { Random, deriveSeed } from './random.ts';

/**
 * What makes one household of a profile differ from the next, drawn once from its seed: who exactly lives
 * there (optional occupants), its fixtures (old 9 L cistern or 4.5 L dual flush, shower head flow, washing
 * machine) and its habits (long or short showers, cooking, how often the laundry runs, an earlier or later
 * routine). Real households of the same size differ by a factor of two or more in daily use.
 */
export interface HouseholdStyle {
  readonly occupants: readonly OccupantSpec[];
  readonly flushLiters: number;
  readonly showerLpm: number;
  readonly showerMinutesScale: number;
  readonly showerChanceScale: number;
  readonly kitchenScale: number;
  readonly basinScale: number;
  readonly laundryLitersPerLoad: number;
  readonly laundryScale: number;
  /** Shifts every occupant's wake and bed time (minutes; the household's own rhythm). */
  readonly routineShiftMinutes: number;
}

const STYLE_SALT = 0x7374796c;

const FLUSH_LITERS: Range = [4.5, 8.5];
const SHOWER_LPM: Range = [6, 10];
const LAUNDRY_LITERS_PER_LOAD: Range = [45, 110];

export function drawStyle(spec: HouseholdSpec, seed: number): HouseholdStyle {
  const rng = new Random(deriveSeed(seed, STYLE_SALT));
  const optional = spec.optionalOccupants.filter((o) => rng.chance(o.chance)).map((o) => o.occupant);
  return {
    occupants: [...spec.occupants, ...optional],
    flushLiters: rng.uniform(...FLUSH_LITERS),
    showerLpm: rng.uniform(...SHOWER_LPM),
    showerMinutesScale: rng.uniform(0.7, 1.4),
    showerChanceScale: rng.uniform(0.6, 1.15),
    kitchenScale: rng.uniform(0.6, 1.6),
    basinScale: rng.uniform(0.6, 1.5),
    laundryLitersPerLoad: rng.uniform(...LAUNDRY_LITERS_PER_LOAD),
    laundryScale: rng.uniform(0.5, 1.5),
    routineShiftMinutes: rng.triangular(-60, 80),
  };
}
