import {
  bucketMl,
  mod,
  NO_DAY,
  pushMilliliters,
  resetSlot,
  setSlotTimes,
  setSlotTimesFrom,
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

/** What a restore needs, whatever the format it came from. */
interface Parts {
  /** Milliliters, oldest first. */
  ring: ArrayLike<number>;
  lastBucketStart: number | null;
  lastBucketEnd: number | null;
  lastReceivedAt: number | null;
  lastReadingTs: number | null;
  arrivalGaps: number[];
  longestGap: [number, number] | null;
  active: Record<string, number>;
  /** `days` rows of 24 codes, oldest day first, ending with local day `day`. */
  history: { day: number; days: number; rows: Uint8Array } | null;
}

/**
 * Loads a checkpointed household into the slot `s` (whatever its capacities: the newest data is kept). Takes
 * the binary form (`encodeHouseholdState`, version 3) and the JSON forms older checkpoints hold (versions 1
 * and 2): a store written before the binary format restores the same, and is rewritten in binary as its
 * households change.
 */
export function restoreHouseholdState(
  s: HouseholdState,
  v: Uint8Array | SerializedHouseholdState | SerializedV1,
): void {
  if (v instanceof Uint8Array)
    restoreBinary(s, v, new DataView(v.buffer, v.byteOffset, v.byteLength), 0, v.length);
  else restoreParts(s, fromJson(v));
}

function fromJson(v: SerializedHouseholdState | SerializedV1): Parts {
  const h = 'history' in v ? v.history : null;
  return {
    ring: Array.isArray(v.ring)
      ? v.ring.map((x) => (x === null ? UNKNOWN_ML : Math.round(x * 1000)))
      : int32FromBase64(v.ring),
    lastBucketStart: v.lastBucketStart,
    lastBucketEnd: v.lastBucketEnd,
    lastReceivedAt: v.lastReceivedAt,
    lastReadingTs: v.lastReadingTs,
    arrivalGaps: 'arrivalGaps' in v ? (v.arrivalGaps ?? []) : [],
    longestGap: 'longestGap' in v ? (v.longestGap ?? null) : null,
    active: v.active,
    history: h ? { day: h.day, days: h.days, rows: Buffer.from(h.hours, 'base64') } : null,
  };
}

function restoreParts(s: HouseholdState, v: Parts): void {
  resetSlot(s);
  const { c, i } = s;
  for (let k = Math.max(0, v.ring.length - c.ringCapacity); k < v.ring.length; k++)
    pushMilliliters(s, v.ring[k]!);
  setSlotTimes(s, {
    bucketStart: v.lastBucketStart,
    bucketEnd: v.lastBucketEnd,
    receivedAt: v.lastReceivedAt,
    readingTs: v.lastReadingTs,
    arrivalGaps: v.arrivalGaps,
    longestGap: v.longestGap,
  });
  if (Object.keys(v.active).length > 0) c.active[i] = { ...v.active };
  const h = v.history;
  if (h && c.historyDays > 0) {
    c.historyDay[i] = h.day;
    for (let k = 0; k < Math.min(h.days, c.historyDays); k++) {
      const from = (h.days - 1 - k) * 24;
      c.history.set(
        h.rows.subarray(from, from + 24),
        (i * c.historyDays + mod(h.day - k, c.historyDays)) * 24,
      );
    }
  }
}

/**
 * Binary checkpoint of one household (version 3), little-endian:
 *
 *   u8 version (3) · u8 arrival gaps (n) · u16 ring buckets (r) · u16 history days (d, 0 = none)
 *   · u16 bytes of the firing rules (a) · i32 history day
 *   · f64 × 6: last bucket start, last bucket end, last arrival, last reading, longest gap, its end (NaN = none)
 *   · f64 × n arrival gaps (newest first) · i32 × r ring (milliliters, oldest first)
 *   · u8 × 24d history (oldest day first) · a bytes of JSON: the firing rules and since when
 *
 * About 700 bytes for a household with a day's ring (hourly buckets) and three weeks of history, against about
 * 1,070 as JSON; decoded without parsing text.
 */
const V3 = 3;
const V3_HEADER = 12 + 6 * 8;

export function encodeHouseholdState(s: HouseholdState): Uint8Array {
  const { c, i } = s;
  const r = c.ringCapacity;
  const day = c.historyDay[i]!;
  const d = c.historyDays > 0 && day !== NO_DAY ? c.historyDays : 0;
  const gaps = s.arrivalGaps;
  const activeRecord = c.active[i];
  const active =
    activeRecord && Object.keys(activeRecord).length > 0 ? Buffer.from(JSON.stringify(activeRecord)) : null;
  const a = active?.length ?? 0;
  const ringAt = V3_HEADER + gaps.length * 8;
  const historyAt = ringAt + r * 4;
  const bytes = new Uint8Array(historyAt + d * 24 + a);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, V3);
  view.setUint8(1, gaps.length);
  view.setUint16(2, r, true);
  view.setUint16(4, d, true);
  view.setUint16(6, a, true);
  view.setInt32(8, d > 0 ? day : NO_DAY, true);
  const times = [
    s.lastBucketStart,
    s.lastBucketEnd,
    s.lastReceivedAt,
    s.lastReadingTs,
    s.longestRecentGapAt === null ? null : s.longestRecentGapMs,
    s.longestRecentGapMs === null ? null : s.longestRecentGapAt,
  ];
  for (let k = 0; k < 6; k++) view.setFloat64(12 + k * 8, times[k] ?? Number.NaN, true);
  for (let k = 0; k < gaps.length; k++) view.setFloat64(V3_HEADER + k * 8, gaps[k]!, true);
  for (let k = 0; k < r; k++) view.setInt32(ringAt + (r - 1 - k) * 4, bucketMl(s, k), true);
  for (let k = 0; k < d; k++) {
    const from = (i * c.historyDays + mod(day - k, c.historyDays)) * 24;
    bytes.set(c.history.subarray(from, from + 24), historyAt + (d - 1 - k) * 24);
  }
  if (active) bytes.set(active, historyAt + d * 24);
  return bytes;
}

/**
 * Restores the binary state (version 3) at `bytes[from, to)` into the slot `s`, straight from the bytes: nothing
 * is allocated but the firing rules (rare), so a batch of a start-up restore is one `view` over its buffer.
 * `view` covers the same memory as `bytes`, from the same offset.
 */
export function restoreBinary(
  s: HouseholdState,
  bytes: Uint8Array,
  view: DataView,
  from: number,
  to: number,
): void {
  if (to - from < V3_HEADER || bytes[from] !== V3)
    throw new Error(`household checkpoint of unknown version ${to > from ? bytes[from] : '(empty)'}`);
  const n = bytes[from + 1]!;
  const r = view.getUint16(from + 2, true);
  const d = view.getUint16(from + 4, true);
  const a = view.getUint16(from + 6, true);
  const ringAt = from + V3_HEADER + n * 8;
  const historyAt = ringAt + r * 4;
  if (to !== historyAt + d * 24 + a) throw new Error('household checkpoint of the wrong length');
  resetSlot(s);
  const { c, i } = s;
  // The newest `ringCapacity` buckets, oldest first, as pushing them one by one would leave them.
  for (let k = Math.max(0, r - c.ringCapacity); k < r; k++)
    pushMilliliters(s, view.getInt32(ringAt + k * 4, true));
  setSlotTimesFrom(s, view, from + 12, from + V3_HEADER, n);
  if (a > 0) {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset + historyAt + d * 24, a).toString('utf8');
    const active = JSON.parse(text) as Record<string, number>;
    if (Object.keys(active).length > 0) c.active[i] = active;
  }
  const days = c.historyDays;
  if (d > 0 && days > 0) {
    // Rows oldest first; the newest `days` of them go to their rows of the slot (day mod days).
    const day = view.getInt32(from + 8, true);
    c.historyDay[i] = day;
    const m = Math.min(d, days);
    const history = c.history;
    const base = i * days * 24;
    let row = mod(day - m + 1, days);
    let src = historyAt + (d - m) * 24;
    for (let k = 0; k < m; k++) {
      const dst = base + row * 24;
      for (let h = 0; h < 24; h++) history[dst + h] = bytes[src + h]!;
      src += 24;
      if (++row === days) row = 0;
    }
  }
}

function int32FromBase64(b64: string): Int32Array {
  const bytes = Buffer.from(b64, 'base64');
  const copy = new Uint8Array(bytes.length - (bytes.length % 4));
  copy.set(bytes.subarray(0, copy.length));
  return new Int32Array(copy.buffer);
}
