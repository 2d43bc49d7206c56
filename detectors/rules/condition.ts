import { UNKNOWN_ML, type HouseholdState } from '../household-state.ts';

/** The three-valued answer of a rule's condition: no data never counts as zero use. */
export interface Condition {
  state: 'true' | 'false' | 'unknown';
  totalLiters: number;
}

/**
 * The trailing buckets a rule looks at, oldest first, in milliliters (`UNKNOWN_ML` = no data). Liters are
 * compared at milliliter precision, so 0.1 + … + 0.6 adds up to exactly 10 L.
 */
export interface BucketWindow {
  readonly length: number;
  ml(index: number): number;
}

/** The newest `length` buckets of a household, read straight from its ring (reused: one at a time). */
export class RingWindow implements BucketWindow {
  private ring: Int32Array = new Int32Array(0);
  private base = 0;
  private cap = 1;
  /** Ring position of the oldest bucket of the window (may be negative: wraps). */
  private first = 0;
  length = 0;

  of(s: HouseholdState, length: number): this {
    const c = s.c;
    this.ring = c.ring;
    this.cap = c.ringCapacity;
    this.base = s.i * c.ringCapacity;
    this.first = c.head[s.i]! - length + 1;
    this.length = length;
    return this;
  }

  ml(index: number): number {
    if (index < this.length - this.cap) return UNKNOWN_ML; // older than the ring holds
    let p = this.first + index;
    if (p < 0) p += this.cap;
    return this.ring[this.base + p]!;
  }
}

/** A window over given liters (null = unknown). */
export function litersWindow(liters: readonly (number | null)[]): BucketWindow {
  const ml = liters.map((l) => (l === null ? UNKNOWN_ML : Math.round(l * 1000)));
  return { length: ml.length, ml: (i) => ml[i]! };
}

export function asWindow(w: BucketWindow | readonly (number | null)[]): BucketWindow {
  return Array.isArray(w) ? litersWindow(w as readonly (number | null)[]) : (w as BucketWindow);
}

/** A threshold in whole milliliters. */
export function toMl(liters: number): number {
  return Math.round(liters * 1000);
}
