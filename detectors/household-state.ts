/**
 * Compact per-household detector state: a ring of the latest closed bucket values (NaN = unknown),
 * which rules are currently firing, and the latest reading arrival (for silence).
 */
export interface HouseholdState {
  /** Ring buffer of bucket liters, NaN = unknown; `head` is the index of the newest value. */
  ring: Float32Array;
  head: number;
  /** Start and end of the newest bucket in the ring (null before the first). */
  lastBucketStart: number | null;
  lastBucketEnd: number | null;
  /** Clock time of the latest reading arrival and that reading's event time. */
  lastReceivedAt: number | null;
  lastReadingTs: number | null;
  /** Rule id → event time at which its condition became true. */
  active: Record<string, number>;
}

export function createHouseholdState(capacity: number): HouseholdState {
  return {
    ring: new Float32Array(capacity).fill(Number.NaN),
    head: capacity - 1,
    lastBucketStart: null,
    lastBucketEnd: null,
    lastReceivedAt: null,
    lastReadingTs: null,
    active: {},
  };
}

export function pushBucket(s: HouseholdState, liters: number | null): void {
  s.head = (s.head + 1) % s.ring.length;
  s.ring[s.head] = liters === null ? Number.NaN : liters;
}

/** The newest `n` bucket values, oldest first (null = unknown). */
export function lastBuckets(s: HouseholdState, n: number): (number | null)[] {
  const out: (number | null)[] = new Array<number | null>(n);
  const cap = s.ring.length;
  for (let i = 0; i < n; i++) {
    const v = i < cap ? s.ring[(s.head - i + cap * 2) % cap]! : Number.NaN;
    out[n - 1 - i] = Number.isNaN(v) ? null : Math.round(v * 1000) / 1000;
  }
  return out;
}

/** Grows (or keeps) the ring so it holds at least `capacity` buckets, preserving the newest values. */
export function ensureCapacity(s: HouseholdState, capacity: number): void {
  if (s.ring.length >= capacity) return;
  const values = lastBuckets(s, s.ring.length);
  const ring = new Float32Array(capacity).fill(Number.NaN);
  const offset = capacity - values.length;
  values.forEach((v, i) => (ring[offset + i] = v === null ? Number.NaN : v));
  s.ring = ring;
  s.head = capacity - 1;
}

export interface SerializedHouseholdState {
  ring: (number | null)[];
  lastBucketStart: number | null;
  lastBucketEnd: number | null;
  lastReceivedAt: number | null;
  lastReadingTs: number | null;
  active: Record<string, number>;
}

export function serializeHouseholdState(s: HouseholdState): SerializedHouseholdState {
  return {
    ring: lastBuckets(s, s.ring.length),
    lastBucketStart: s.lastBucketStart,
    lastBucketEnd: s.lastBucketEnd,
    lastReceivedAt: s.lastReceivedAt,
    lastReadingTs: s.lastReadingTs,
    active: { ...s.active },
  };
}

export function deserializeHouseholdState(v: SerializedHouseholdState, capacity: number): HouseholdState {
  const s = createHouseholdState(Math.max(capacity, v.ring.length));
  const offset = s.ring.length - v.ring.length;
  v.ring.forEach((x, i) => (s.ring[offset + i] = x === null ? Number.NaN : x));
  s.head = s.ring.length - 1;
  s.lastBucketStart = v.lastBucketStart;
  s.lastBucketEnd = v.lastBucketEnd;
  s.lastReceivedAt = v.lastReceivedAt;
  s.lastReadingTs = v.lastReadingTs;
  s.active = { ...v.active };
  return s;
}
