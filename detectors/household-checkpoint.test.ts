import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { READER_THREAD_FROM } from '../core/store/checkpoint-reader.ts';
import { openStore } from '../core/store/store.ts';
import {
  encodeHouseholdState,
  restoreHouseholdState,
  serializeHouseholdState,
} from './household-checkpoint.ts';
import {
  createHouseholdState,
  lastBuckets,
  noteReading,
  pushBucket,
  setActive,
  setBucketTimes,
  type HouseholdState,
} from './household-state.ts';
import { recordHour } from './usage-history.ts';

const H = 3_600_000;

/** A household with a full ring (some hours unknown), a week of history, arrival gaps and a firing rule. */
function busy(seed: number, historyDays = 7): HouseholdState {
  const s = createHouseholdState(24, historyDays);
  for (let h = 0; h < 24 * historyDays; h++) {
    const liters = (h * 7 + seed) % 23 === 0 ? null : ((h * 13 + seed) % 17) / 4;
    pushBucket(s, liters);
    if (liters !== null) recordHour(s, 100 + Math.floor(h / 24), (h % 24) * 60, 60);
  }
  setBucketTimes(s, 24 * historyDays * H, (24 * historyDays + 1) * H);
  for (const at of [0, H, 2 * H, 26 * H]) noteReading(s, at - 5_000, at + seed);
  setActive(s, 'low-use', 3 * H + seed);
  return s;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('binary household checkpoint (version 3)', () => {
  it('restores exactly what it encoded: ring, times, gaps, history, firing rules', () => {
    const s = busy(1);
    const back = createHouseholdState(24, 7);
    restoreHouseholdState(back, encodeHouseholdState(s));
    expect(serializeHouseholdState(back)).toEqual(serializeHouseholdState(s));
    expect(back.active).toEqual({ 'low-use': 3 * H + 1 });
    expect(back.arrivalGaps).toEqual(s.arrivalGaps);
    pushBucket(back, 9);
    pushBucket(s, 9);
    expect(lastBuckets(back, 24)).toEqual(lastBuckets(s, 24));
  });

  it('is about two thirds of the JSON form or less', () => {
    const s = busy(2, 21);
    const json = JSON.stringify(serializeHouseholdState(s)).length;
    expect(encodeHouseholdState(s).length).toBeLessThan(json * 0.7);
  });

  it('keeps the newest data when restored into smaller capacities', () => {
    const s = busy(3);
    const small = createHouseholdState(4, 2);
    restoreHouseholdState(small, encodeHouseholdState(s));
    const fromJson = createHouseholdState(4, 2);
    restoreHouseholdState(fromJson, serializeHouseholdState(s));
    expect(serializeHouseholdState(small)).toEqual(serializeHouseholdState(fromJson));
    expect(lastBuckets(small, 4)).toEqual(lastBuckets(s, 4));
  });

  it('refuses bytes of another version or length with a clear error', () => {
    const bytes = encodeHouseholdState(busy(4));
    expect(() => restoreHouseholdState(createHouseholdState(24, 7), bytes.subarray(0, 40))).toThrow(
      /household checkpoint/,
    );
    const other = Uint8Array.from(bytes);
    other[0] = 9;
    expect(() => restoreHouseholdState(createHouseholdState(24, 7), other)).toThrow(/unknown version 9/);
  });

  it('restores a store written before the binary format (JSON, version 2) exactly, next to binary rows', () => {
    const dir = mkdtempSync(join(tmpdir(), 'careflow-checkpoint-'));
    dirs.push(dir);
    const path = join(dir, 'careflow.db');
    const old = busy(5);
    const recent = busy(6);
    let store = openStore({ path });
    store.transaction(() => {
      // What the previous release wrote: the JSON object of serializeHouseholdState.
      store.checkpoints.saveHouseholdState('h-old', serializeHouseholdState(old));
      store.checkpoints.saveHouseholdState('h-new', encodeHouseholdState(recent));
    });
    store.close();

    store = openStore({ path });
    const rows = new Map(store.checkpoints.householdStates());
    store.close();
    expect(rows.get('h-new')).toBeInstanceOf(Uint8Array);
    expect(rows.get('h-old')).toMatchObject({ v: 2 });
    for (const [id, original] of [
      ['h-old', old],
      ['h-new', recent],
    ] as const) {
      const back = createHouseholdState(24, 7);
      restoreHouseholdState(back, rows.get(id) as Uint8Array);
      expect(serializeHouseholdState(back)).toEqual(serializeHouseholdState(original));
      // Rewritten in binary at its next checkpoint: the same bytes as the household encoded directly.
      expect(Buffer.from(encodeHouseholdState(back))).toEqual(Buffer.from(encodeHouseholdState(original)));
    }
  });

  it('reads a large checkpoint in a second thread: every household once, restored exactly, old rows too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careflow-checkpoint-'));
    dirs.push(dir);
    const path = join(dir, 'careflow.db');
    // Enough households for the reader thread, with states of different lengths and some old JSON rows.
    const n = READER_THREAD_FROM + 3_000;
    const templates = Array.from({ length: 16 }, (_, k) => busy(k, 3 + (k % 5)));
    let store = openStore({ path, synchronous: 'NORMAL' });
    store.transaction(() => {
      for (let k = 0; k < n; k++) {
        const t = templates[k % 16]!;
        store.checkpoints.saveHouseholdState(
          `h-${k}`,
          k % 997 === 0 ? serializeHouseholdState(t) : encodeHouseholdState(t),
        );
      }
    });
    store.close();

    store = openStore({ path });
    const seen = new Map<string, string>();
    let batches = 0;
    for await (const batch of store.checkpoints.householdStateBatches()) {
      batches++;
      // Restored before the next batch is asked for (a binary state is a view the next batch may reuse).
      for (const [id, state] of batch) {
        const back = createHouseholdState(24, 7);
        restoreHouseholdState(back, state as Uint8Array);
        expect(seen.has(id)).toBe(false);
        seen.set(id, JSON.stringify(serializeHouseholdState(back)));
      }
    }
    store.close();
    expect(batches).toBeGreaterThan(1);
    expect(seen.size).toBe(n);
    for (const k of [0, 1, 997, 12_345, n - 1]) {
      const back = createHouseholdState(24, 7);
      restoreHouseholdState(back, encodeHouseholdState(templates[k % 16]!));
      expect(seen.get(`h-${k}`)).toBe(JSON.stringify(serializeHouseholdState(back)));
    }
  });
});
