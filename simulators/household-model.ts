import type { LocalTime } from '../core/local-time.ts';
import { householdDay } from './household-day.ts';
import { PROFILES, type HouseholdSpec, type Profile } from './household-profiles.ts';
import { DEFAULT_LOCAL_TIME, isWeekend, localMinuteToUtc } from './local-day.ts';
import { Random, deriveSeed } from './random.ts';
import { type Scenario, applyScenarios } from './scenarios.ts';
import type { WaterEvent } from './water-event.ts';

export type { WaterEvent } from './water-event.ts';

export interface HouseholdModelOptions {
  profile: Profile;
  seed: number;
  /** The zone the household lives by (its schedule is local time); default Asia/Shanghai. */
  localTime?: LocalTime;
  scenarios?: readonly Scenario[];
}

/** Local days kept generated; a meter walks forward through time, so a few suffice. */
const DAY_CACHE_SIZE = 8;

/**
 * A seeded household: its water-use events for any span of time. Each local day is generated from its own
 * seed (model seed + day number), so events do not depend on which window is asked for or in what order.
 */
export class HouseholdModel {
  readonly profile: Profile;
  readonly seed: number;
  readonly localTime: LocalTime;
  readonly scenarios: readonly Scenario[];
  private readonly spec: HouseholdSpec;
  private readonly days = new Map<number, readonly WaterEvent[]>();

  constructor(opts: HouseholdModelOptions) {
    this.profile = opts.profile;
    this.seed = opts.seed;
    this.localTime = opts.localTime ?? DEFAULT_LOCAL_TIME;
    this.scenarios = opts.scenarios ?? [];
    this.spec = PROFILES[opts.profile];
  }

  /** Events overlapping [from, to), deterministic for a seed, already modified by scenarios; sorted by start. */
  events(from: number, to: number): WaterEvent[] {
    if (!(to > from)) return [];
    const resident: WaterEvent[] = [];
    // A day's events start on that local day but may run past midnight into the next.
    const firstDay = this.localTime.dayNumber(from) - 1;
    const lastDay = this.localTime.dayNumber(to - 1);
    for (let day = firstDay; day <= lastDay; day++) resident.push(...this.day(day));
    return applyScenarios(resident, this.scenarios, this.localTime, from, to);
  }

  /** The resident's normal events of local day `dayNumber`, before scenarios. */
  private day(dayNumber: number): readonly WaterEvent[] {
    const cached = this.days.get(dayNumber);
    if (cached) return cached;
    const rng = new Random(deriveSeed(this.seed, dayNumber));
    const events = householdDay(this.spec, isWeekend(dayNumber), rng).map((e): WaterEvent => ({
      start: localMinuteToUtc(this.localTime, dayNumber, e.startMinute),
      end: localMinuteToUtc(this.localTime, dayNumber, e.startMinute + e.minutes),
      liters: e.liters,
      kind: e.kind,
    }));
    if (this.days.size >= DAY_CACHE_SIZE) this.days.delete(this.days.keys().next().value as number);
    this.days.set(dayNumber, events);
    return events;
  }
}
