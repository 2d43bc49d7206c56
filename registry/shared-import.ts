import { migratePg, type PgPool } from '../core/postgres.ts';
import {
  importRegistry,
  type ImportActor,
  type ImportOptions,
  type ImportReport,
} from '../core/registry-import.ts';
import { REGISTRY_PG_MIGRATIONS } from './postgres-migrations.ts';
import { copyTablesFromPg, publishTables, withLockedScratchStore } from '../core/table-copy.ts';
import { REGISTRY_SET, REGISTRY_TABLES } from './tables.ts';

/** One import into the shared store at a time (an advisory lock; the key is 'registry' in ASCII). */
/** One writer of the shared registry at a time: imports, and the API's writes of single rows (webhooks, consent). */
export const REGISTRY_LOCK_KEY = '8243108395577799289';

export interface SharedImportReport extends ImportReport {
  /** The shared registry's version after this import (workers pull it when they see it). */
  version: number;
}

/**
 * `careflow import --cluster`: imports a registry file into the shared PostgreSQL store, once for every worker.
 *
 * Steps: `[lock, stage, importRegistry, publish]`. Under an advisory lock (imports one at a time), the shared
 * registry is copied into a scratch embedded store, the file is imported there by the embedded import itself
 * (core/registry-import.ts: the same validation, references checked against the registry in force, the same
 * upsert and replacement semantics, secrets hashed), and the result replaces the shared registry's tables in one
 * PostgreSQL transaction that also raises `registry_version`. An invalid file publishes nothing and leaves the
 * version as it was. The scratch store is deleted afterwards.
 */
export async function importRegistryShared(
  pool: PgPool,
  input: unknown,
  opts: ImportOptions & ImportActor = {},
): Promise<SharedImportReport> {
  await migratePg(pool, 'registry', REGISTRY_PG_MIGRATIONS);
  return withLockedScratchStore(pool, REGISTRY_LOCK_KEY, async (client, store) => {
    // Nobody else writes the shared registry while the lock is held: this read is the registry in force.
    await copyTablesFromPg(REGISTRY_TABLES, client, store.db);
    const report = await importRegistry(store, input, opts);
    const version = await publishTables(client, REGISTRY_SET, store.db, {
      sql: `UPDATE registry_version SET version = version + 1, imported_at = $1, imported_by = $2
            RETURNING version`,
      params: [opts.now ?? Date.now(), opts.actor ?? 'import'],
    });
    return { ...report, version };
  });
}
