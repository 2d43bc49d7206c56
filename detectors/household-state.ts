/**
 * Compact detector state, kept as a struct of typed arrays: a `StateChunk` holds up to `size` households,
 * one slot each, and a `HouseholdState` is a handle on one slot. Per household:
 *
 * - a ring of the latest closed buckets in milliliters (Int32, `UNKNOWN_ML` = no data), newest at `head`;
 * - the newest bucket's start and end, the latest reading's arrival and event time, and the meter's last
 *   three intervals between arrivals (Float64, NaN = none);
 * - the hourly history the learned peak and the baseline come from (see usage-history.ts), when a rule needs it;
 * - which rules are firing since when: an object only for households where some rule is firing.
 *
 * Nothing here allocates per household beyond its slot, so 300,000 households fit in a few hundred MB.
 */
export const UNKNOWN_ML = -2147483648;
/** A history hour with no (or incomplete) data. */
export const HOUR_UNKNOWN = 255;
export const NO_DAY = -2147483648;

const T_BUCKET_START = 0;
const T_BUCKET_END = 1;
const T_RECEIVED = 2;
const T_READING = 3;
/** The last three intervals between a meter's messages (ms, newest first; NaN = not seen yet). */
const T_GAP = 4;
const GAPS = 3;
/** The meter's longest recent interval between messages, and when it ended (its learned reliability). */
const T_LONGEST = T_GAP + GAPS;
const T_LONGEST_AT = T_LONGEST + 1;
const TIMES = T_LONGEST_AT + 1;
/** A longest interval is forgotten after this long (a meter that was repaired is trusted again). */
export const RELIABILITY_MEMORY_MS = 30 * 86_400_000;
/** Readings that arrive within a minute of each other are one message (a batch, a retry). */
const SAME_ARRIVAL_MS = 60_000;

export class StateChunk {
  ring: Int32Array;
  head: Uint16Array;
  readonly times: Float64Array;
  /** `historyDays` rows of 24 hourly codes per slot; row = day mod historyDays. */
  history: Uint8Array;
  /** Newest local day the history holds (its row may be partly filled). */
  historyDay: Int32Array;
  /** Moves whenever a slot's history is replaced wholesale (reset, restore): caches over past days compare it. */
  historyVersion = 0;
  /** Learned-peak cache: the day and parameters it was computed for, and the start hour (-1 = none). */
  readonly peakDay: Int32Array;
  readonly peakKey: Uint32Array;
  readonly peakStart: Int8Array;
  /** Baseline cache (allocated when a rule first needs it): 48 values per slot, see baseline.ts. */
  baseline: Uint16Array | null = null;
  baseDay: Int32Array | null = null;
  readonly active: (Record<string, number> | undefined)[];

  /**
   * `memory`: where to lay the arrays (`chunkBytes` from `offset`), for chunks allocated many at once;
   * otherwise each array is allocated on its own.
   */
  constructor(
    readonly size: number,
    public ringCapacity: number,
    public historyDays: number,
    memory?: { buffer: ArrayBuffer; offset: number },
  ) {
    let at = memory?.offset ?? 0;
    const take = <T>(
      make: { new (n: number): T; new (b: ArrayBuffer, offset: number, n: number): T },
      n: number,
      bytesEach: number,
    ): T => {
      if (!memory) return new make(n);
      const a = new make(memory.buffer, at, n);
      at += align8(n * bytesEach);
      return a;
    };
    this.times = take(Float64Array, size * TIMES, 8).fill(Number.NaN);
    this.ring = take(Int32Array, size * ringCapacity, 4).fill(UNKNOWN_ML);
    this.historyDay = take(Int32Array, size, 4).fill(NO_DAY);
    this.peakDay = take(Int32Array, size, 4).fill(NO_DAY);
    this.peakKey = take(Uint32Array, size, 4);
    this.head = take(Uint16Array, size, 2).fill(ringCapacity - 1);
    this.peakStart = take(Int8Array, size, 1).fill(-1);
    this.history = take(Uint8Array, size * historyDays * 24, 1).fill(HOUR_UNKNOWN);
    this.active = new Array<Record<string, number> | undefined>(size);
  }

  /** Re-lays the ring and history for new capacities, keeping the newest buckets and days. */
  reshape(ringCapacity: number, historyDays: number): void {
    if (ringCapacity !== this.ringCapacity) {
      const old = this.ringCapacity;
      const ring = new Int32Array(this.size * ringCapacity).fill(UNKNOWN_ML);
      const keep = Math.min(old, ringCapacity);
      for (let slot = 0; slot < this.size; slot++) {
        const head = this.head[slot]!;
        for (let k = 0; k < keep; k++) {
          ring[slot * ringCapacity + ringCapacity - 1 - k] =
            this.ring[slot * old + ((head - k + old) % old)]!;
        }
        this.head[slot] = ringCapacity - 1;
      }
      this.ring = ring;
      this.ringCapacity = ringCapacity;
    }
    if (historyDays !== this.historyDays) {
      const old = this.historyDays;
      const history = new Uint8Array(this.size * historyDays * 24).fill(HOUR_UNKNOWN);
      for (let slot = 0; slot < this.size; slot++) {
        const newest = this.historyDay[slot]!;
        if (newest === NO_DAY) continue;
        for (let k = 0; k < Math.min(old, historyDays); k++) {
          const day = newest - k;
          const from = (slot * old + mod(day, old)) * 24;
          history.set(
            this.history.subarray(from, from + 24),
            (slot * historyDays + mod(day, historyDays)) * 24,
          );
        }
      }
      this.history = history;
      this.historyDays = historyDays;
      this.peakDay.fill(NO_DAY);
      this.baseDay?.fill(NO_DAY);
    }
  }
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** The bytes a chunk's arrays take when laid in one buffer (`StateChunk`'s `memory`). */
export function chunkBytes(size: number, ringCapacity: number, historyDays: number): number {
  return (
    align8(size * TIMES * 8) +
    align8(size * ringCapacity * 4) +
    3 * align8(size * 4) +
    align8(size * 2) +
    align8(size) +
    align8(size * historyDays * 24)
  );
}

/** A handle on one household's slot. The engine reuses handles; do not keep one past the call you got it in. */
export class HouseholdState {
  constructor(
    public c: StateChunk,
    public i: number,
  ) {}

  get ringCapacity(): number {
    return this.c.ringCapacity;
  }
  get lastBucketStart(): number | null {
    return orNull(this.c.times[this.i * TIMES + T_BUCKET_START]!);
  }
  get lastBucketEnd(): number | null {
    return orNull(this.c.times[this.i * TIMES + T_BUCKET_END]!);
  }
  get lastReceivedAt(): number | null {
    return orNull(this.c.times[this.i * TIMES + T_RECEIVED]!);
  }
  get lastReadingTs(): number | null {
    return orNull(this.c.times[this.i * TIMES + T_READING]!);
  }
  /** The meter's last intervals between arrivals in ms, newest first (at most three). */
  get arrivalGaps(): number[] {
    const out: number[] = [];
    for (let k = 0; k < GAPS; k++) {
      const g = this.c.times[this.i * TIMES + T_GAP + k]!;
      if (!Number.isNaN(g)) out.push(g);
    }
    return out;
  }
  /**
   * How often the meter usually sends, in ms: the median of its last three intervals between arrivals (the
   * longer one of two, the only one of one); null until it has sent twice.
   */
  get usualIntervalMs(): number | null {
    const o = this.i * TIMES + T_GAP;
    const t = this.c.times;
    const a = t[o]!;
    const b = t[o + 1]!;
    const c = t[o + 2]!;
    if (Number.isNaN(a)) return null;
    if (Number.isNaN(b)) return a;
    if (Number.isNaN(c)) return Math.max(a, b);
    return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
  }
  /**
   * The meter's longest interval between messages within the last 30 days (ms), or null: how long this meter
   * has been known to drop out and come back by itself.
   */
  get longestRecentGapMs(): number | null {
    return orNull(this.c.times[this.i * TIMES + T_LONGEST]!);
  }
  get longestRecentGapAt(): number | null {
    return orNull(this.c.times[this.i * TIMES + T_LONGEST_AT]!);
  }
  /** Rule id → event time its condition became true (a copy). */
  get active(): Record<string, number> {
    return { ...this.c.active[this.i] };
  }
}

/** A standalone household (tests, backtests of one household at a time). */
export function createHouseholdState(ringCapacity: number, historyDays = 0): HouseholdState {
  return new HouseholdState(new StateChunk(1, ringCapacity, historyDays), 0);
}

/** Forgets everything about the slot (used when a chunk slot is reused). */
export function resetSlot(s: HouseholdState): void {
  const { c, i } = s;
  c.ring.fill(UNKNOWN_ML, i * c.ringCapacity, (i + 1) * c.ringCapacity);
  c.head[i] = c.ringCapacity - 1;
  c.times.fill(Number.NaN, i * TIMES, (i + 1) * TIMES);
  c.history.fill(HOUR_UNKNOWN, i * c.historyDays * 24, (i + 1) * c.historyDays * 24);
  c.historyVersion++;
  c.historyDay[i] = NO_DAY;
  c.peakDay[i] = NO_DAY;
  if (c.baseDay) c.baseDay[i] = NO_DAY;
  c.active[i] = undefined;
}

export function setBucketTimes(s: HouseholdState, start: number, end: number): void {
  s.c.times[s.i * TIMES + T_BUCKET_START] = start;
  s.c.times[s.i * TIMES + T_BUCKET_END] = end;
}

/**
 * Records a reading's arrival (clock) and event time, keeping the latest of each, and the interval since the
 * meter's previous message when this reading starts a new one. `declaredIntervalMs` (from the registry) is
 * taken as the first interval on the meter's first message.
 */
export function noteReading(
  s: HouseholdState,
  ts: number,
  receivedAt: number,
  declaredIntervalMs: number | null = null,
): void {
  const t = s.c.times;
  const o = s.i * TIMES;
  const previous = t[o + T_RECEIVED]!;
  // The meter's first message: its declared interval (registry) stands for the intervals not seen yet.
  if (Number.isNaN(previous) && declaredIntervalMs !== null && Number.isNaN(t[o + T_GAP]!))
    t[o + T_GAP] = declaredIntervalMs;
  if (receivedAt - previous > SAME_ARRIVAL_MS) {
    const gap = receivedAt - previous;
    t[o + T_GAP + 2] = t[o + T_GAP + 1]!;
    t[o + T_GAP + 1] = t[o + T_GAP]!;
    t[o + T_GAP] = gap;
    const longest = t[o + T_LONGEST]!;
    if (!(longest > gap) || !(receivedAt - t[o + T_LONGEST_AT]! <= RELIABILITY_MEMORY_MS)) {
      t[o + T_LONGEST] = gap;
      t[o + T_LONGEST_AT] = receivedAt;
    }
  }
  if (!(previous >= receivedAt)) t[o + T_RECEIVED] = receivedAt;
  if (!(t[o + T_READING]! >= ts)) t[o + T_READING] = ts;
}

/** Appends a bucket (liters, null = unknown) as the newest. */
export function pushBucket(s: HouseholdState, liters: number | null): void {
  pushMilliliters(s, liters === null ? UNKNOWN_ML : Math.round(liters * 1000));
}

export function pushMilliliters(s: HouseholdState, ml: number): void {
  const { c, i } = s;
  const head = (c.head[i]! + 1) % c.ringCapacity;
  c.head[i] = head;
  c.ring[i * c.ringCapacity + head] = ml;
}

/** The `k`-th newest bucket (0 = newest) in milliliters; `UNKNOWN_ML` beyond what the ring holds. */
export function bucketMl(s: HouseholdState, k: number): number {
  const { c, i } = s;
  const cap = c.ringCapacity;
  if (k >= cap) return UNKNOWN_ML;
  return c.ring[i * cap + ((c.head[i]! - k + cap) % cap)]!;
}

/** The newest `n` bucket values in liters, oldest first (null = unknown). */
export function lastBuckets(s: HouseholdState, n: number): (number | null)[] {
  const out = new Array<number | null>(n);
  for (let k = 0; k < n; k++) {
    const v = bucketMl(s, k);
    out[n - 1 - k] = v === UNKNOWN_ML ? null : v / 1000;
  }
  return out;
}

export function activeSince(s: HouseholdState, ruleId: string): number | undefined {
  return s.c.active[s.i]?.[ruleId];
}

export function setActive(s: HouseholdState, ruleId: string, at: number): void {
  const a = s.c.active[s.i];
  if (a) a[ruleId] = at;
  else s.c.active[s.i] = { [ruleId]: at };
}

export function clearActive(s: HouseholdState, ruleId: string): void {
  const a = s.c.active[s.i];
  if (!a || !(ruleId in a)) return;
  delete a[ruleId];
  if (Object.keys(a).length === 0) s.c.active[s.i] = undefined;
}

/** The slot's times as a checkpoint keeps them (NaN = none); see household-checkpoint.ts. */
export interface SlotTimes {
  bucketStart: number | null;
  bucketEnd: number | null;
  receivedAt: number | null;
  readingTs: number | null;
  /** The meter's last intervals between arrivals, newest first (at most three are kept). */
  arrivalGaps: readonly number[];
  /** Its longest recent interval and when that ended (absent in older checkpoints). */
  longestGap?: readonly [number, number] | null;
}

/** Sets the slot's times (restoring a checkpoint). */
export function setSlotTimes(s: HouseholdState, v: SlotTimes): void {
  const t = s.c.times;
  const o = s.i * TIMES;
  t[o + T_BUCKET_START] = v.bucketStart ?? Number.NaN;
  t[o + T_BUCKET_END] = v.bucketEnd ?? Number.NaN;
  t[o + T_RECEIVED] = v.receivedAt ?? Number.NaN;
  t[o + T_READING] = v.readingTs ?? Number.NaN;
  for (let k = 0; k < GAPS; k++) t[o + T_GAP + k] = v.arrivalGaps[k] ?? Number.NaN;
  t[o + T_LONGEST] = v.longestGap?.[0] ?? Number.NaN;
  t[o + T_LONGEST_AT] = v.longestGap?.[1] ?? Number.NaN;
}

/**
 * Sets the slot's times straight from a binary checkpoint (`view`, little-endian, see household-checkpoint.ts):
 * six f64 at `timesAt` (bucket start, bucket end, arrival, reading, longest gap, its end) and `gaps` f64 arrival
 * gaps at `gapsAt`, newest first. The same as `setSlotTimes` with what they hold, without allocating.
 */
export function setSlotTimesFrom(
  s: HouseholdState,
  view: DataView,
  timesAt: number,
  gapsAt: number,
  gaps: number,
): void {
  const t = s.c.times;
  const o = s.i * TIMES;
  t[o + T_BUCKET_START] = view.getFloat64(timesAt, true);
  t[o + T_BUCKET_END] = view.getFloat64(timesAt + 8, true);
  t[o + T_RECEIVED] = view.getFloat64(timesAt + 16, true);
  t[o + T_READING] = view.getFloat64(timesAt + 24, true);
  for (let k = 0; k < GAPS; k++)
    t[o + T_GAP + k] = k < gaps ? view.getFloat64(gapsAt + k * 8, true) : Number.NaN;
  const longest = view.getFloat64(timesAt + 32, true);
  const longestAt = view.getFloat64(timesAt + 40, true);
  const both = !Number.isNaN(longest) && !Number.isNaN(longestAt);
  t[o + T_LONGEST] = both ? longest : Number.NaN;
  t[o + T_LONGEST_AT] = both ? longestAt : Number.NaN;
}

function orNull(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

export function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}
