import { describe, expect, it } from 'vitest';
import {
  activeSince,
  clearActive,
  createHouseholdState,
  HOUR_UNKNOWN,
  lastBuckets,
  noteReading,
  pushBucket,
  setActive,
  setBucketTimes,
  StateChunk,
  HouseholdState,
} from './household-state.ts';
import { restoreHouseholdState, serializeHouseholdState } from './household-checkpoint.ts';
import { recordHour } from './usage-history.ts';

function filled(capacity: number, values: readonly (number | null)[], historyDays = 0): HouseholdState {
  const s = createHouseholdState(capacity, historyDays);
  for (const v of values) pushBucket(s, v);
  return s;
}

const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

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
    expect(lastBuckets(filled(3, [1, 2, 3, 4, 5]), 3)).toEqual([3, 4, 5]);
  });

  it('reports buckets older than the ring holds as unknown', () => {
    expect(lastBuckets(filled(2, [1, 2, 3]), 4)).toEqual([null, null, 2, 3]);
  });

  it('gives back decimal liters exactly, to the milliliter', () => {
    const values = [0.1, 0.33, 59.999, 1234.567, 250_000.001];
    expect(lastBuckets(filled(5, values), 5)).toEqual(values);
  });

  it('keeps the latest reading arrival and event time, whatever order they are reported in', () => {
    const s = createHouseholdState(2);
    noteReading(s, 500, 1000);
    noteReading(s, 400, 900);
    expect([s.lastReadingTs, s.lastReceivedAt]).toEqual([500, 1000]);
  });

  it('allocates nothing for rules that are not firing, and forgets a rule once it clears', () => {
    const s = createHouseholdState(2);
    expect(s.c.active[0]).toBeUndefined();
    setActive(s, 'low-use', 7);
    setActive(s, 'heavy-use', 8);
    expect(activeSince(s, 'low-use')).toBe(7);
    clearActive(s, 'low-use');
    clearActive(s, 'heavy-use');
    expect(s.c.active[0]).toBeUndefined();
    expect(activeSince(s, 'low-use')).toBeUndefined();
  });

  it('keeps households of one chunk apart', () => {
    const chunk = new StateChunk(3, 2, 0);
    const a = new HouseholdState(chunk, 0);
    const b = new HouseholdState(chunk, 2);
    pushBucket(a, 1);
    pushBucket(b, 9);
    setActive(b, 'low-use', 1);
    expect(lastBuckets(a, 2)).toEqual([null, 1]);
    expect(lastBuckets(b, 2)).toEqual([null, 9]);
    expect(a.active).toEqual({});
  });

  it('grows a chunk’s ring keeping the newest values in order', () => {
    const s = filled(3, [1, 2, 3, 4]);
    s.c.reshape(6, 0);
    expect(s.ringCapacity).toBe(6);
    expect(lastBuckets(s, 6)).toEqual([null, null, null, 2, 3, 4]);
    pushBucket(s, 5);
    expect(lastBuckets(s, 6)).toEqual([null, null, 2, 3, 4, 5]);
  });

  it('grows a chunk’s history keeping every day it held', () => {
    const s = createHouseholdState(1, 2);
    for (const day of [10, 11]) {
      pushBucket(s, day);
      recordHour(s, day, 60, 60); // hour 0 of the day
    }
    s.c.reshape(1, 5);
    const saved = serializeHouseholdState(s);
    const rows = Buffer.from(saved.history!.hours, 'base64');
    expect(saved.history).toMatchObject({ day: 11, days: 5 });
    expect([rows[0], rows[24], rows[48]]).toEqual([HOUR_UNKNOWN, HOUR_UNKNOWN, HOUR_UNKNOWN]);
    expect([rows[72], rows[96]]).not.toContain(HOUR_UNKNOWN);
  });

  it('serializes to plain JSON: the ring exactly (base64 milliliters), times, firing rules', () => {
    const s = filled(4, [1, null, 2.5]);
    setBucketTimes(s, 1000, 2000);
    noteReading(s, 1400, 1500);
    setActive(s, 'low-use', 2000);
    const v = serializeHouseholdState(s);
    expect(v).toMatchObject({
      v: 2,
      lastBucketStart: 1000,
      lastBucketEnd: 2000,
      lastReceivedAt: 1500,
      lastReadingTs: 1400,
      active: { 'low-use': 2000 },
      history: null,
    });
    expect(typeof v.ring).toBe('string');
    expect(roundTrip(v)).toEqual(v);
  });

  it('comes back from its serialized form with the same buckets, history and firing rules', () => {
    const s = filled(4, [1, null, 2.5, 0], 3);
    recordHour(s, 100, 60, 60);
    setBucketTimes(s, 4000, 5000);
    for (const at of [0, 3_600_000, 7_200_000, 90_000_000]) noteReading(s, at, at);
    setActive(s, 'continuous-flow', 4000);
    const back = createHouseholdState(4, 3);
    restoreHouseholdState(back, roundTrip(serializeHouseholdState(s)));
    expect(back.arrivalGaps).toEqual([82_800_000, 3_600_000, 3_600_000]);
    expect(back.usualIntervalMs).toBe(3_600_000);
    expect(lastBuckets(back, 4)).toEqual(lastBuckets(s, 4));
    expect(serializeHouseholdState(back)).toEqual(serializeHouseholdState(s));
    pushBucket(back, 9);
    pushBucket(s, 9);
    expect(lastBuckets(back, 4)).toEqual(lastBuckets(s, 4));
  });

  it('comes back into a larger ring when more history is now needed', () => {
    const back = createHouseholdState(4);
    restoreHouseholdState(back, serializeHouseholdState(filled(2, [1, 2])));
    expect(lastBuckets(back, 4)).toEqual([null, null, 1, 2]);
  });

  it('keeps the newest buckets when restored into a smaller ring', () => {
    const back = createHouseholdState(2);
    restoreHouseholdState(back, serializeHouseholdState(filled(4, [1, 2, 3, 4])));
    expect(lastBuckets(back, 2)).toEqual([3, 4]);
  });

  it('reads checkpoints of the earlier format (ring as liters)', () => {
    const back = createHouseholdState(3);
    restoreHouseholdState(back, {
      ring: [null, 1.5, 0],
      lastBucketStart: 1,
      lastBucketEnd: 2,
      lastReceivedAt: null,
      lastReadingTs: null,
      active: { 'low-use': 2 },
    } as never);
    expect(lastBuckets(back, 3)).toEqual([null, 1.5, 0]);
    expect(back.active).toEqual({ 'low-use': 2 });
  });

  it('does not share its firing rules with the state it was saved from', () => {
    const s = filled(2, [0]);
    setActive(s, 'low-use', 1);
    const saved = serializeHouseholdState(s);
    const back = createHouseholdState(2);
    restoreHouseholdState(back, saved);
    setActive(back, 'heavy-use', 2);
    clearActive(back, 'low-use');
    expect(s.active).toEqual({ 'low-use': 1 });
    expect(saved.active).toEqual({ 'low-use': 1 });
  });
});
