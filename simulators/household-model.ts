import type { LocalTime } from '../core/local-time.ts';
import { householdDay } from './household-day.ts';
import { PROFILES, type HouseholdSpec, type Profile } from './household-profiles.ts';
import { type HouseholdStyle, drawStyle } from './household-style.ts';
import { DEFAULT_LOCAL_TIME, isWeekend, localMinuteToUtc } from './local-day.ts';
import { Random, deriveSeed } from './random.ts';
import { type Scenario, applyScenarios, guestsOn } from './scenarios.ts';
import { type WaterEvent, litersOverlapping, overlaps } from './water-event.ts';

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
  /** This household's composition, fixtures and habits (drawn from its seed). */
  readonly style: HouseholdStyle;
  private readonly spec: HouseholdSpec;
  private readonly days = new Map<number, readonly WaterEvent[]>();
  private readonly final = new Map<number, readonly WaterEvent[]>();

  constructor(opts: HouseholdModelOptions) {
    this.profile = opts.profile;
    this.seed = opts.seed;
    this.localTime = opts.localTime ?? DEFAULT_LOCAL_TIME;
    this.scenarios = opts.scenarios ?? [];
    this.spec = PROFILES[opts.profile];
    this.style = drawStyle(this.spec, opts.seed);
  }

  /**
   * Events overlapping [from, to), deterministic for a seed, already modified by scenarios; sorted by
   * start. An event that runs past local midnight comes as two pieces, one per day (each with its share of
   * the liters), so that the water in any window is the same however the time is sliced.
   */
  events(from: number, to: number): WaterEvent[] {
    if (!(to > from)) return [];
    const out: WaterEvent[] = [];
    const lastDay = this.localTime.dayNumber(to - 1);
    for (let day = this.localTime.dayNumber(from); day <= lastDay; day++) {
      for (const e of this.finalDay(day)) if (overlaps(e, from, to)) out.push(e);
    }
    return out;
  }

  /** Everything drawn on local day `dayNumber`, scenarios applied, cut to the day. */
  private finalDay(dayNumber: number): readonly WaterEvent[] {
    const cached = this.final.get(dayNumber);
    if (cached) return cached;
    const from = localMinuteToUtc(this.localTime, dayNumber, 0);
    const to = localMinuteToUtc(this.localTime, dayNumber + 1, 0);
    // A day's events start on that local day but may run past midnight into the next.
    const resident = [...this.day(dayNumber - 1), ...this.day(dayNumber)];
    const events = applyScenarios(resident, this.scenarios, this.localTime, from, to).map((e) =>
      e.start >= from && e.end <= to ? e : clip(e, from, to),
    );
    if (this.final.size >= DAY_CACHE_SIZE) this.final.delete(this.final.keys().next().value as number);
    this.final.set(dayNumber, events);
    return events;
  }

  /** The resident's normal events of local day `dayNumber`, before scenarios. */
  private day(dayNumber: number): readonly WaterEvent[] {
    const cached = this.days.get(dayNumber);
    if (cached) return cached;
    const rng = new Random(deriveSeed(this.seed, dayNumber));
    const context = { weekend: isWeekend(dayNumber), guests: guestsOn(this.scenarios, dayNumber) };
    const events = householdDay(this.spec, this.style, context, rng).map((e): WaterEvent => ({
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

function clip(e: WaterEvent, from: number, to: number): WaterEvent {
  const start = Math.max(e.start, from);
  const end = Math.min(e.end, to);
  return { start, end, liters: litersOverlapping(e, start, end), kind: e.kind };
}
