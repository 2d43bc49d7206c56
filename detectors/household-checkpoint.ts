import {
  bucketMl,
  mod,
  NO_DAY,
  pushMilliliters,
  resetSlot,
  setSlotTimes,
  UNKNOWN_ML,
  type HouseholdState,
} from './household-state.ts';

/**
 * A household's detector state as a checkpoint stores it (plain JSON, exact), and back. The checkpoint is
 * written with the inbox cursor; after a restart the inbox is re-processed from there.
 */
/** What a checkpoint stores of one household: exact, compact (base64 of the typed arrays). */
export interface SerializedHouseholdState {
  v: 2;
  /** Int32 little-endian milliliters, oldest first, base64. */
  ring: string;
  lastBucketStart: number | null;
  lastBucketEnd: number | null;
  lastReceivedAt: number | null;
  lastReadingTs: number | null;
  /** The meter's last intervals between arrivals (ms, newest first); absent in older checkpoints. */
  arrivalGaps?: number[];
  /** The meter's longest recent interval between messages and when it ended; absent in older checkpoints. */
  longestGap?: [number, number] | null;
  active: Record<string, number>;
  /** Hourly history: `days` rows of 24 codes, oldest day first, ending with local day `day`. */
  history: { day: number; days: number; hours: string } | null;
}

export function serializeHouseholdState(s: HouseholdState): SerializedHouseholdState {
  const { c, i } = s;
  const ring = new Int32Array(c.ringCapacity);
  for (let k = 0; k < c.ringCapacity; k++) ring[c.ringCapacity - 1 - k] = bucketMl(s, k);
  let history: SerializedHouseholdState['history'] = null;
  const day = c.historyDay[i]!;
  if (c.historyDays > 0 && day !== NO_DAY) {
    const rows = new Uint8Array(c.historyDays * 24);
    for (let k = 0; k < c.historyDays; k++) {
      const from = (i * c.historyDays + mod(day - k, c.historyDays)) * 24;
      rows.set(c.history.subarray(from, from + 24), (c.historyDays - 1 - k) * 24);
    }
    history = { day, days: c.historyDays, hours: Buffer.from(rows).toString('base64') };
  }
  return {
    v: 2,
    ring: Buffer.from(ring.buffer).toString('base64'),
    lastBucketStart: s.lastBucketStart,
    lastBucketEnd: s.lastBucketEnd,
    lastReceivedAt: s.lastReceivedAt,
    lastReadingTs: s.lastReadingTs,
    arrivalGaps: s.arrivalGaps,
    longestGap:
      s.longestRecentGapMs === null || s.longestRecentGapAt === null
        ? null
        : [s.longestRecentGapMs, s.longestRecentGapAt],
    active: s.active,
    history,
  };
}

/** Version 1 checkpoints (before the compact format) kept the ring as liters. */
interface SerializedV1 {
  ring: (number | null)[];
  lastBucketStart: number | null;
  lastBucketEnd: number | null;
  lastReceivedAt: number | null;
  lastReadingTs: number | null;
  active: Record<string, number>;
}

/** Loads a checkpointed household into the slot `s` (whatever its capacities: the newest data is kept). */
export function restoreHouseholdState(s: HouseholdState, v: SerializedHouseholdState | SerializedV1): void {
  resetSlot(s);
  const ml = Array.isArray(v.ring)
    ? v.ring.map((x) => (x === null ? UNKNOWN_ML : Math.round(x * 1000)))
    : Array.from(int32FromBase64(v.ring));
  for (const x of ml.slice(-s.c.ringCapacity)) pushMilliliters(s, x);
  setSlotTimes(s, {
    bucketStart: v.lastBucketStart,
    bucketEnd: v.lastBucketEnd,
    receivedAt: v.lastReceivedAt,
    readingTs: v.lastReadingTs,
    arrivalGaps: 'arrivalGaps' in v ? (v.arrivalGaps ?? []) : [],
    longestGap: 'longestGap' in v ? (v.longestGap ?? null) : null,
  });
  if (Object.keys(v.active).length > 0) s.c.active[s.i] = { ...v.active };
  const h = 'history' in v ? v.history : null;
  const { c, i } = s;
  if (h && c.historyDays > 0) {
    const rows = Buffer.from(h.hours, 'base64');
    c.historyDay[i] = h.day;
    for (let k = 0; k < Math.min(h.days, c.historyDays); k++) {
      const from = (h.days - 1 - k) * 24;
      c.history.set(rows.subarray(from, from + 24), (i * c.historyDays + mod(h.day - k, c.historyDays)) * 24);
    }
  }
}

function int32FromBase64(b64: string): Int32Array {
  const bytes = Buffer.from(b64, 'base64');
  const copy = new Uint8Array(bytes.length - (bytes.length % 4));
  copy.set(bytes.subarray(0, copy.length));
  return new Int32Array(copy.buffer);
}
