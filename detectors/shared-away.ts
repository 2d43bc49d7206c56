import type { PgPool } from '../core/postgres.ts';
import type { AwaySpan } from '../core/store/away-repo.ts';
import { copyTablesFromPg, publishTables, withLockedScratchStore } from '../core/table-copy.ts';
import { AWAY_SET } from './away-tables.ts';

/** One away change to the shared store at a time (an advisory lock; 'away' in ASCII). */
export const AWAY_LOCK_KEY = '97119097121';

export interface SharedAwayChange {
  householdId: string;
  /** A new mark from `by.at` until then, or null: end the mark in force now. */
  mark: { until: number; reason: string } | null;
  by: { actor: string; at: number };
}

/**
 * Marks a household away, or ends its mark, for the whole cluster: under an advisory lock the shared spans are
 * copied into a scratch embedded store, the embedded away repository ends the span in force (a new mark replaces
 * it, as in the embedded service) and adds the new one there, and the spans are published to PostgreSQL in one
 * transaction that raises `away_version`; every worker pulls them within `cluster.registryPollMs` and its
 * detectors' away book reads them again. The household's existence and the caller's right to it are checked by
 * the caller, against the registry it follows. Returns the span that was in force before (if any) and the version.
 */
export async function setAwayShared(
  pool: PgPool,
  change: SharedAwayChange,
): Promise<{ previous: AwaySpan | undefined; version: number }> {
  await AWAY_SET.migrate(pool);
  return withLockedScratchStore(pool, AWAY_LOCK_KEY, async (client, store) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await copyTablesFromPg(AWAY_SET.tables, client, store.db);
    await client.query('COMMIT');
    const { householdId, by } = change;
    const previous = store.away.current(householdId, by.at);
    if (!previous && !change.mark) return { previous, version: -1 };
    store.transaction(() => {
      if (previous) store.away.clear(previous.id, by.at, by.actor);
      if (change.mark)
        store.away.add({
          householdId,
          from: by.at,
          until: change.mark.until,
          reason: change.mark.reason,
          setBy: by.actor,
          setAt: by.at,
        });
    });
    const version = await publishTables(client, AWAY_SET, store.db, {
      sql: 'UPDATE away_version SET version = version + 1, changed_at = $1, changed_by = $2 RETURNING version',
      params: [by.at, by.actor],
    });
    return { previous, version };
  });
}
