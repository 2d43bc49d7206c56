import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migratePg, type PgPool } from '../core/postgres.ts';
import {
  importRegistry,
  type ImportActor,
  type ImportOptions,
  type ImportReport,
} from '../core/registry-import.ts';
import { openStore } from '../core/store/store.ts';
import { REGISTRY_PG_MIGRATIONS } from './postgres-migrations.ts';
import { copyTablesFromPg, copyTablesToPg } from '../core/table-copy.ts';
import { REGISTRY_TABLES } from './tables.ts';

/** One import into the shared store at a time (an advisory lock; the key is 'registry' in ASCII). */
const LOCK = 'pg_advisory_lock(8243108395577799289)';
const UNLOCK = 'pg_advisory_unlock(8243108395577799289)';

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
  const client = await pool.connect();
  const dir = mkdtempSync(join(tmpdir(), 'careflow-import-'));
  let locked = false;
  try {
    await client.query(`SELECT ${LOCK}`);
    locked = true;
    const store = openStore({ path: join(dir, 'careflow.db'), synchronous: 'NORMAL' });
    try {
      // Nobody else writes the shared registry while the lock is held: this read is the registry in force.
      await copyTablesFromPg(REGISTRY_TABLES, client, store.db);
      const report = await importRegistry(store, input, opts);
      await client.query('BEGIN');
      try {
        await copyTablesToPg(REGISTRY_TABLES, store.db, client);
        const { rows } = await client.query<{ version: number }>(
          `UPDATE registry_version SET version = version + 1, imported_at = $1, imported_by = $2
           RETURNING version`,
          [opts.now ?? Date.now(), opts.actor ?? 'import'],
        );
        await client.query('COMMIT');
        return { ...report, version: Number(rows[0]!.version) };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      store.close();
    }
  } finally {
    if (locked) await client.query(`SELECT ${UNLOCK}`).catch(() => undefined);
    client.release();
    rmSync(dir, { recursive: true, force: true });
  }
}
