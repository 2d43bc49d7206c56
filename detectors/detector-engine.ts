import type { LocalTime } from '../core/local-time.ts';
import type { Rule } from '../core/rules.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import {
  createHouseholdState,
  deserializeHouseholdState,
  ensureCapacity,
  serializeHouseholdState,
  type HouseholdState,
  type SerializedHouseholdState,
} from './household-state.ts';
import { step } from './step.ts';

/** Which rules apply to a household (the rule hierarchy plugs in here). */
export type RulesFor = (householdId: string) => readonly Rule[];

/**
 * Holds every household's detector state in one Map and routes each input to the pure `step`.
 * Keeps track of which households changed since the last checkpoint.
 */
export class DetectorEngine {
  private readonly states = new Map<string, HouseholdState>();
  private readonly dirty = new Set<string>();
  private capacity: number;
  rulesVersion = 1;

  constructor(
    private readonly localTime: LocalTime,
    private rulesFor: RulesFor,
    maxWindowMinutes: number,
  ) {
    this.capacity = this.bucketsFor(maxWindowMinutes);
  }

  apply(input: DetectorInput): Detection[] {
    const ctx = { localTime: this.localTime, rulesVersion: this.rulesVersion };
    if (input.kind === 'tick') {
      const out: Detection[] = [];
      for (const [hid, state] of this.states) {
        const d = step(hid, state, input, this.rulesFor(hid), ctx);
        if (d.length > 0) {
          this.dirty.add(hid);
          out.push(...d);
        }
      }
      return out;
    }
    const hid = input.kind === 'bucket' ? input.bucket.householdId : input.householdId;
    let state = this.states.get(hid);
    if (!state) {
      state = createHouseholdState(this.capacity);
      this.states.set(hid, state);
    }
    this.dirty.add(hid);
    const hInput =
      input.kind === 'bucket'
        ? {
            kind: 'bucket' as const,
            start: input.bucket.start,
            end: input.bucket.end,
            liters: input.bucket.liters,
          }
        : { kind: 'reading' as const, ts: input.ts, receivedAt: input.receivedAt };
    return step(hid, state, hInput, this.rulesFor(hid), ctx);
  }

  /** Replaces the rules; the ring grows if a longer window needs more history. */
  setRules(rulesFor: RulesFor, maxWindowMinutes: number): void {
    this.rulesFor = rulesFor;
    this.rulesVersion++;
    this.capacity = Math.max(this.capacity, this.bucketsFor(maxWindowMinutes));
    for (const s of this.states.values()) ensureCapacity(s, this.capacity);
  }

  load(states: Map<string, unknown>): void {
    for (const [hid, v] of states) {
      this.states.set(hid, deserializeHouseholdState(v as SerializedHouseholdState, this.capacity));
    }
  }

  /** Hands each household changed since the last call to `save`. */
  drainDirty(save: (householdId: string, state: SerializedHouseholdState) => void): number {
    let n = 0;
    for (const hid of this.dirty) {
      const s = this.states.get(hid);
      if (s) {
        save(hid, serializeHouseholdState(s));
        n++;
      }
    }
    this.dirty.clear();
    return n;
  }

  householdCount(): number {
    return this.states.size;
  }

  state(householdId: string): HouseholdState | undefined {
    return this.states.get(householdId);
  }

  private bucketsFor(minutes: number): number {
    return Math.max(1, Math.ceil((minutes * 60_000) / this.localTime.bucketMs));
  }
}
