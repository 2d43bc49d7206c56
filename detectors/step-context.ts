import type { LocalTime } from '../core/local-time.ts';

/** What the detector core's `step` is given besides a household's state, its input and its rules. */
/** Whether the household was marked away at any time in [from, to). */
export type AwayLookup = (householdId: string, from: number, to: number) => boolean;

export interface StepContext {
  localTime: LocalTime;
  rulesVersion: number;
  /**
   * Away mode: a rule with `suppressedWhenAway` neither opens nor updates while its evidence window touches
   * an away span (nobody home is not a welfare case); it still clears.
   */
  away?: AwayLookup;
  /** Whether a household is registered as elderly or living alone (`silent` rules for `welfare` households). */
  welfare?: (householdId: string) => boolean;
  /**
   * Whether an outage of the household's grid (many meters silent together) explains a silence that began
   * at `lastReadingAt`: its `silent` rules then stay quiet.
   */
  outage?: (householdId: string, lastReadingAt: number) => boolean;
}

export type HouseholdInput =
  | { kind: 'bucket'; start: number; end: number; liters: number | null }
  | { kind: 'reading'; ts: number; receivedAt: number; declaredIntervalMs?: number | null }
  | { kind: 'tick'; now: number };
