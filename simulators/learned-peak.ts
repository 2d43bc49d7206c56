import type { LocalTime } from '../core/local-time.ts';
import type { RuleOf } from '../core/rules.ts';
import { HOUR_MS, localMinuteToUtc } from './local-day.ts';
import { type WaterEvent, litersInRange } from './water-event.ts';

/**
 * An estimate, from a household model's own water use, of the peak window the zero-at-peak rule learns
 * (docs/detectors.md): the contiguous `peakHours` hours with the highest mean use over the last
 * `learnDays` complete days, used once `minDays` complete days exist. The ground truth of peak scenarios
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
    const days = dayNumber - from;
    let window: PeakWindow | null = null;
    if (days >= this.params.minDays) {
      const mean = new Float64Array(24);
      for (let d = from; d < dayNumber; d++) this.day(d).forEach((v, h) => (mean[h]! += v / days));
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
      window = { startMinute: bestStart * 60, endMinute: (bestStart + this.params.peakHours) * 60 };
    }
    this.windows.set(dayNumber, window);
    return window;
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
