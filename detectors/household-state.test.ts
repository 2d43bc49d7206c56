import { describe, expect, it } from 'vitest';
import {
  createHouseholdState,
  deserializeHouseholdState,
  ensureCapacity,
  lastBuckets,
  pushBucket,
  serializeHouseholdState,
  type HouseholdState,
} from './household-state.ts';

function filled(capacity: number, values: readonly (number | null)[]): HouseholdState {
  const s = createHouseholdState(capacity);
  for (const v of values) pushBucket(s, v);
  return s;
}

describe('household state', () => {
  it('starts with every bucket unknown and nothing firing', () => {
    const s = createHouseholdState(4);
    expect(lastBuckets(s, 4)).toEqual([null, null, null, null]);
    expect(s).toMatchObject({
      lastBucketStart: null,
      lastBucketEnd: null,
      lastReceivedAt: null,
      lastReadingTs: null,
      active: {},
    });
  });

  it('returns the newest buckets oldest first', () => {
    const s = filled(4, [1, 2, 3]);
    expect(lastBuckets(s, 2)).toEqual([2, 3]);
    expect(lastBuckets(s, 4)).toEqual([null, 1, 2, 3]);
  });

  it('keeps an unknown bucket unknown rather than zero', () => {
    expect(lastBuckets(filled(3, [0, null, 0]), 3)).toEqual([0, null, 0]);
  });

  it('overwrites the oldest bucket once the ring is full', () => {
    const s = filled(3, [1, 2, 3, 4, 5]);
    expect(lastBuckets(s, 3)).toEqual([3, 4, 5]);
  });

  it('reports buckets older than the ring holds as unknown', () => {
    expect(lastBuckets(filled(2, [1, 2, 3]), 4)).toEqual([null, null, 2, 3]);
  });

  it('gives back decimal liters to the milliliter', () => {
    const values = [0.1, 0.33, 59.999, 1234.567];
    expect(lastBuckets(filled(4, values), 4)).toEqual(values);
  });

  it('grows the ring keeping the newest values in order', () => {
    const s = filled(3, [1, 2, 3, 4]);
    ensureCapacity(s, 6);
    expect(s.ring.length).toBe(6);
    expect(lastBuckets(s, 6)).toEqual([null, null, null, 2, 3, 4]);
    pushBucket(s, 5);
    expect(lastBuckets(s, 6)).toEqual([null, null, 2, 3, 4, 5]);
  });

  it('never shrinks the ring', () => {
    const s = filled(5, [1, 2, 3, 4, 5]);
    ensureCapacity(s, 2);
    expect(lastBuckets(s, 5)).toEqual([1, 2, 3, 4, 5]);
  });

  it('serializes to plain JSON with null for unknown buckets', () => {
    const s = filled(4, [1, null, 2.5]);
    s.lastBucketStart = 1000;
    s.lastBucketEnd = 2000;
    s.lastReceivedAt = 1500;
    s.lastReadingTs = 1400;
    s.active['low-use'] = 2000;
    const v = serializeHouseholdState(s);
    expect(v).toEqual({
      ring: [null, 1, null, 2.5],
      lastBucketStart: 1000,
      lastBucketEnd: 2000,
      lastReceivedAt: 1500,
      lastReadingTs: 1400,
      active: { 'low-use': 2000 },
    });
    expect(JSON.parse(JSON.stringify(v))).toEqual(v);
  });

  it('comes back from its serialized form with the same buckets and the same firing rules', () => {
    const s = filled(4, [1, null, 2.5, 0]);
    s.lastBucketEnd = 5000;
    s.active['continuous-flow'] = 4000;
    const back = deserializeHouseholdState(JSON.parse(JSON.stringify(serializeHouseholdState(s))), 4);
    expect(lastBuckets(back, 4)).toEqual(lastBuckets(s, 4));
    expect(serializeHouseholdState(back)).toEqual(serializeHouseholdState(s));
    pushBucket(back, 9);
    pushBucket(s, 9);
    expect(lastBuckets(back, 4)).toEqual(lastBuckets(s, 4));
  });

  it('comes back into a larger ring when more history is now needed', () => {
    const back = deserializeHouseholdState(serializeHouseholdState(filled(2, [1, 2])), 4);
    expect(back.ring.length).toBe(4);
    expect(lastBuckets(back, 4)).toEqual([null, null, 1, 2]);
  });

  it('keeps a saved ring that is longer than the capacity asked for', () => {
    const back = deserializeHouseholdState(serializeHouseholdState(filled(4, [1, 2, 3, 4])), 2);
    expect(lastBuckets(back, 4)).toEqual([1, 2, 3, 4]);
  });

  it('does not share its firing rules with the state it was saved from', () => {
    const s = filled(2, [0]);
    s.active['low-use'] = 1;
    const saved = serializeHouseholdState(s);
    const back = deserializeHouseholdState(saved, 2);
    back.active['heavy-use'] = 2;
    delete back.active['low-use'];
    expect(s.active).toEqual({ 'low-use': 1 });
    expect(saved.active).toEqual({ 'low-use': 1 });
  });
});
