import type { ErrorCode } from '../core/errors.ts';

/** One reading of a recording, with the line of the file it came from (1 = the header). */
export interface RecordedReading {
  ts: number;
  totalLiters: number;
  line: number;
}

/** Why a row of a recording was not turned into a reading. */
export type RowReason =
  'columns' | 'bad-meter-id' | 'bad-datetime' | 'no-time-zone' | 'bad-number' | 'negative-register';

export interface RowRejection {
  line: number;
  code: ErrorCode;
  reason: RowReason;
  message: string;
  meterId?: string;
}

/**
 * A recorded file turned into readings: every row is either a reading of one meter (kept in file order,
 * which is the order the meter sent them) or a rejection with a reason. `rows` counts the data rows
 * (blank lines are not rows), so `rows === readings + rejected.length`.
 */
export class RecordedReadings {
  readonly meters = new Map<string, RecordedReading[]>();
  readonly rejected: RowRejection[] = [];
  rows = 0;
  /** Wall times that do not exist in the zone (daylight saving start), read with the offset before the change. */
  shiftedLocalTimes = 0;

  constructor(readonly format: 'daiad' | 'csv') {}

  add(meterId: string, reading: RecordedReading): void {
    let list = this.meters.get(meterId);
    if (!list) {
      list = [];
      this.meters.set(meterId, list);
    }
    list.push(reading);
  }

  reject(line: number, reason: RowReason, message: string, meterId?: string): void {
    const r: RowRejection = { line, code: 'ERR_REPLAY_ROW_INVALID', reason, message };
    if (meterId !== undefined) r.meterId = meterId;
    this.rejected.push(r);
  }

  /** The previous reading's time of a meter (to resolve repeated wall times), or -Infinity. */
  lastTs(meterId: string): number {
    const list = this.meters.get(meterId);
    return list && list.length > 0 ? list[list.length - 1]!.ts : -Infinity;
  }

  readingCount(): number {
    let n = 0;
    for (const list of this.meters.values()) n += list.length;
    return n;
  }

  /** Rejections counted by reason. */
  rejectedByReason(): Partial<Record<RowReason, number>> {
    const out: Partial<Record<RowReason, number>> = {};
    for (const r of this.rejected) out[r.reason] = (out[r.reason] ?? 0) + 1;
    return out;
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A number as recorded files write them: `117279`, `12.5`, `4e+05`, `4.0004E5`; null when it is none. */
export function parseRecordedNumber(text: string): number | null {
  const s = text.trim();
  if (!NUMBER.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

/** The largest register the MQTT contract accepts. */
export const MAX_REGISTER_LITERS = 1e12;
