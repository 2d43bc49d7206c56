import type { ReadingSource } from './meter-fleet.ts';
import type { RecordedReading, RecordedReadings } from './recorded-readings.ts';
import type { SimulatedReading } from './simulated-meter.ts';

/** A reading of a recording in replay order. `at` is when the meter sent it (see {@link replayOrder}). */
export interface ScheduledReading extends RecordedReading {
  meterId: string;
  /** The latest timestamp of this meter up to and including this row: a late row goes out with its successor. */
  at: number;
}

/**
 * Every reading of a recording in event-time order across meters. Each meter's rows keep their file order
 * (the order the meter sent them); a row older than its predecessor is sent right after it (and arrives late).
 * Ties are broken by meter id, then file order, so the order is deterministic.
 */
export function replayOrder(recording: RecordedReadings): ScheduledReading[] {
  const out: ScheduledReading[] = [];
  for (const [meterId, readings] of recording.meters) {
    let at = -Infinity;
    for (const r of readings) {
      at = Math.max(at, r.ts);
      out.push({ ...r, meterId, at });
    }
  }
  return out.sort(
    (a, b) => a.at - b.at || (a.meterId < b.meterId ? -1 : a.meterId > b.meterId ? 1 : a.line - b.line),
  );
}

/** One recorded meter as a {@link ReadingSource}, so that a fleet can play it like a simulated meter. */
export class RecordedMeter implements ReadingSource {
  private next = 0;
  private readonly schedule: { at: number; reading: SimulatedReading }[];

  constructor(readings: readonly RecordedReading[]) {
    let at = -Infinity;
    this.schedule = readings.map((r) => {
      at = Math.max(at, r.ts);
      return { at, reading: { ts: r.ts, totalLiters: r.totalLiters } };
    });
  }

  readingsUntil(t: number): SimulatedReading[] {
    const out: SimulatedReading[] = [];
    while (this.next < this.schedule.length && this.schedule[this.next]!.at <= t) {
      out.push(this.schedule[this.next++]!.reading);
    }
    return out;
  }
}
