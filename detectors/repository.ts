import type { Io, Mode } from '../core/repository.ts';

/**
 * The detectors' checkpoints: each household's detector state (a binary record, `encodeHouseholdState`; states
 * of earlier releases are JSON). `M` is 'sync' for the embedded SQLite store, 'async' for PostgreSQL.
 */
export interface DetectorStateRepository<M extends Mode = 'sync'> {
  /** Saves household states atomically: bytes as they are, anything else as JSON. The last state of a household wins. */
  saveStates(states: Iterable<readonly [string, unknown]>): Io<M, void>;
  /**
   * Household states, one entry per household: every household's, or (for a partition taken over) those of the
   * given households. A binary state comes back as its bytes, a JSON one parsed. The embedded store yields rows
   * one at a time (a restore does not hold every row at once).
   */
  states(householdIds?: readonly string[]): Io<M, Iterable<[string, unknown]>>;
}
