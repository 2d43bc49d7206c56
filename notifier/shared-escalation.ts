import type { EscalationScopeLevel, EscalationSettings } from '../core/alerts.ts';
import { CareflowError } from '../core/errors.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedTableSet } from '../core/shared-follower.ts';
import { copyTablesFromPg, publishTables, withLockedScratchStore } from '../core/table-copy.ts';
import { ESCALATION_SET } from './escalation-tables.ts';

/** One escalation change to the shared store at a time (an advisory lock; 'escalate' in ASCII). */
const LOCK_KEY = '7310595027';

export interface SharedEscalationChange {
  level: EscalationScopeLevel;
  code: string;
  /** What the scope sets from now on (`{}` removes it). */
  settings: EscalationSettings;
  by: { actor: string; at: number };
  /** What scopes exist (the shared registry): read to check the scope, never written. */
  places: readonly SharedTableSet[];
}

/**
 * Sets one scope's escalation chains for the whole cluster: under an advisory lock, the shared settings and the
 * registry are copied into a scratch embedded store, the scope is checked and set there by the embedded
 * repository, and the settings table is published to PostgreSQL in one transaction that raises
 * `escalation_settings_version`; every worker pulls it within `cluster.registryPollMs`. An unknown scope
 * publishes nothing (`ERR_SCOPE_NOT_FOUND`). Returns the published version.
 */
export async function setEscalationShared(pool: PgPool, change: SharedEscalationChange): Promise<number> {
  const sets = [...change.places, ESCALATION_SET];
  for (const set of sets) await set.migrate(pool);
  return withLockedScratchStore(pool, LOCK_KEY, async (client, store) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (const set of sets) await copyTablesFromPg(set.tables, client, store.db);
    await client.query('COMMIT');
    if (change.level !== 'global' && !store.escalation.scopeExists(change.level, change.code))
      throw new CareflowError('ERR_SCOPE_NOT_FOUND', `No ${change.level} ${change.code}`);
    store.escalation.putSettings(change.level, change.code, change.settings, change.by.at, change.by.actor);
    return publishTables(client, ESCALATION_SET, store.db, {
      sql: `UPDATE escalation_settings_version SET version = version + 1, changed_at = $1, changed_by = $2
            RETURNING version`,
      params: [change.by.at, change.by.actor],
    });
  });
}
