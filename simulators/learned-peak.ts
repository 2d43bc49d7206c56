import type { LocalTime } from '../core/local-time.ts';
import { FIRST_USE_AFTER_HOUR } from '../core/rules.ts';
import type { RuleOf } from '../detectors/rules/index.ts';
import { SAME_KIND_MIN_DAYS } from '../detectors/usage-history.ts';
import { HOUR_MS, isWeekend, localMinuteToUtc } from './local-day.ts';
import { type WaterEvent, litersInRange } from './water-event.ts';

/**
 * An estimate, from a household model's own water use, of the peak window the zero-at-peak rule learns
 * (README, "Learned peak windows"): the `peakHours` hours from the household's usual first use after 04:00
 * (`first-use`: the median over the last `learnDays` days) or with the highest mean use
 * (`highest-mean`), used once `minDays` complete days exist (with `weekendApart`, from the days of the same
 * kind — weekday or weekend day — once enough of them exist). The ground truth of peak scenarios
 * uses it; it is an estimate (the service sees buckets smeared by the reading interval), so close calls
 * between two windows can go the other way.
 */
export interface PeakWindow {
  startMinute: number;
  endMinute: number;
}

export interface WaterModel {
  events(from: number, to: number): WaterEvent[];
}

export class LearnedPeak {
  private readonly hourly = new Map<number, Float64Array>();
  private readonly windows = new Map<number, PeakWindow | null>();

  constructor(
    private readonly model: WaterModel,
    private readonly localTime: LocalTime,
    private readonly params: RuleOf<'zero-at-peak'>['params'],
    /** The first local day with complete data (the day after the meter was installed). */
    private readonly firstCompleteDay: number,
  ) {}

  /** The learned window in force on local day `dayNumber`, or null while the fallback applies. */
  on(dayNumber: number): PeakWindow | null {
    if (!this.params.learn) return null;
    const cached = this.windows.get(dayNumber);
    if (cached !== undefined) return cached;
    const from = Math.max(this.firstCompleteDay, dayNumber - this.params.learnDays);
    const all = (_d: number) => true;
    const weekend = isWeekend(dayNumber);
    const kind = (d: number) => isWeekend(d) === weekend;
    // With `weekendApart`, from the days of the same kind once there are enough of them (as the rule does).
    const own = this.params.weekendApart
      ? this.startOf(
          from,
          dayNumber,
          weekend ? Math.min(this.params.minDays, SAME_KIND_MIN_DAYS) : this.params.minDays,
          kind,
        )
      : null;
    const start = own ?? this.startOf(from, dayNumber, this.params.minDays, all);
    const window =
      start === null ? null : { startMinute: start * 60, endMinute: (start + this.params.peakHours) * 60 };
    this.windows.set(dayNumber, window);
    return window;
  }

  private startOf(from: number, to: number, minDays: number, kind: (d: number) => boolean): number | null {
    let days = 0;
    for (let d = from; d < to; d++) if (kind(d)) days++;
    if (days < minDays) return null;
    return this.params.learnFrom === 'first-use'
      ? this.firstUse(from, to, kind)
      : this.highestMean(from, to, kind);
  }

  /** The upper median of the days' first hour from 04:00 with more than `maxLiters` (null: none). */
  private firstUse(from: number, to: number, kind: (d: number) => boolean): number | null {
    const firsts: number[] = [];
    for (let d = from; d < to; d++) {
      if (!kind(d)) continue;
      const first = this.day(d).findIndex((v, h) => h >= FIRST_USE_AFTER_HOUR && v > this.params.maxLiters);
      if (first >= 0) firsts.push(first);
    }
    firsts.sort((a, b) => a - b);
    return firsts.length > 0 ? firsts[firsts.length >> 1]! : null;
  }

  private highestMean(from: number, to: number, kind: (d: number) => boolean): number {
    let days = 0;
    for (let d = from; d < to; d++) if (kind(d)) days++;
    const mean = new Float64Array(24);
    for (let d = from; d < to; d++) if (kind(d)) this.day(d).forEach((v, h) => (mean[h]! += v / days));
    let best = -1;
    let bestStart = 0;
    for (let h = 0; h < 24; h++) {
      let sum = 0;
      for (let k = 0; k < this.params.peakHours; k++) sum += mean[(h + k) % 24]!;
      if (sum > best + 1e-9) {
        best = sum;
        bestStart = h;
      }
    }
    return bestStart;
  }

  private day(dayNumber: number): Float64Array {
    let hours = this.hourly.get(dayNumber);
    if (!hours) {
      hours = new Float64Array(24);
      const start = localMinuteToUtc(this.localTime, dayNumber, 0);
      const events = this.model.events(start, start + 24 * HOUR_MS);
      for (let h = 0; h < 24; h++)
        hours[h] = litersInRange(events, start + h * HOUR_MS, start + (h + 1) * HOUR_MS);
      this.hourly.set(dayNumber, hours);
    }
    return hours;
  }
}
