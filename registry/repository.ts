import type { Io, Mode } from '../core/repository.ts';
import type { Household, Worker } from '../core/registry.ts';
import type { MeterRecord, WorkerRecord } from '../core/store/registry-repo.ts';

export type { MeterRecord, WorkerRecord };

/**
 * What the processing path reads from the registry: a meter's household (ingest), a household's grid, address
 * and flags (detectors, alert texts), the people assigned to a grid (fan-out) and a person (acknowledgements).
 * `M` is 'sync' for the embedded SQLite store (its `RegistryRepo` is this interface, unchanged and as fast as
 * before), 'async' for the shared PostgreSQL store of a cluster. Both are written by `careflow import`
 * (core/registry-import.ts validates the file; registry/shared-import.ts publishes it to PostgreSQL).
 */
export interface RegistryRepository<M extends Mode = 'sync'> {
  meter(id: string): Io<M, MeterRecord | undefined>;
  household(id: string): Io<M, Household | undefined>;
  worker(id: string): Io<M, WorkerRecord | undefined>;
  /** The people assigned to a grid, by id (each with `grids: [grid]`). */
  workersOfGrid(grid: string): Io<M, Worker[]>;
  /** A grid's name, or undefined. */
  gridName(code: string): Io<M, string | undefined>;
  counts(): Io<M, Record<'streets' | 'communities' | 'grids' | 'workers' | 'households' | 'meters', number>>;
  /** Changes whenever the registry may have changed (an import); for caches and for workers that follow it. */
  revision(): Io<M, string>;
}
