import type { Store } from '../core/store/store.ts';
import type { DetectorStateRepository } from './repository.ts';

/** The embedded store's tables the detectors' checkpoints live in. */
export type DetectorStateTables = Pick<Store, 'checkpoints' | 'transaction'>;

/** The detectors' checkpoints on the embedded SQLite store (synchronous; joins the caller's transaction). */
export class SqliteDetectorStateRepository implements DetectorStateRepository<'sync'> {
  constructor(private readonly t: DetectorStateTables) {}

  saveStates(states: Iterable<readonly [string, unknown]>): void {
    const { checkpoints } = this.t;
    this.t.transaction(() => {
      for (const [id, state] of states) checkpoints.saveHouseholdState(id, state);
    });
  }

  states(householdIds?: readonly string[]): Iterable<[string, unknown]> {
    return householdIds === undefined
      ? this.t.checkpoints.householdStates()
      : this.t.checkpoints.householdStatesOf(householdIds);
  }

  /** One household's state (undefined: none), for a restore that runs while inputs flow. */
  state(householdId: string): unknown {
    return this.t.checkpoints.householdState(householdId);
  }

  /** Whether the states are many (read by a second thread): worth restoring while the service takes input. */
  many(): boolean {
    return this.t.checkpoints.manyHouseholdStates();
  }

  /**
   * Every household's state in batches, for the start-up restore: with many households read by a second thread
   * while the caller restores the batches already read.
   */
  stateBatches(): AsyncIterable<Iterable<[string, unknown]>> {
    return this.t.checkpoints.householdStateBatches();
  }
}
