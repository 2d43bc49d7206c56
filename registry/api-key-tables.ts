import { migratePg } from '../core/postgres.ts';
import type { SharedTableSet } from '../core/shared-follower.ts';
import { copyTablesFromPg, publishTables, withLockedScratchStore } from '../core/table-copy.ts';
import type { ApiKeyRecord } from '../core/store/access-repo.ts';
import type { PgPool } from '../core/postgres.ts';
import { REGISTRY_PG_MIGRATIONS } from './postgres-migrations.ts';

/**
 * API keys (integrations, monitoring) as a set of shared tables (core/shared-follower.ts): made and revoked once
 * for the cluster through any worker's `/api/api-keys` (below), pulled by every worker into its embedded store,
 * where its API's authentication finds them. Only the keys' hashes are stored. Until the first change (version 0)
 * each worker keeps the keys of its own data directory.
 */
export const API_KEYS_SET: SharedTableSet = {
  name: 'apiKeys',
  tables: [
    {
      name: 'api_keys',
      key: ['id'],
      columns: [
        ['id', 'text'],
        ['name', 'text'],
        ['role', 'text'],
        ['scope', 'text'],
        ['key_hash', 'text'],
        ['created_at', 'bigint'],
        ['created_by', 'text'],
        ['revoked_at', 'bigint'],
      ],
    },
  ],
  versionTable: 'api_keys_version',
  removedTable: 'api_keys_removed',
  migrate: (pool) => migratePg(pool, 'registry', REGISTRY_PG_MIGRATIONS),
};

/** One API key change to the shared store at a time (an advisory lock; 'apikey' in ASCII). */
const LOCK_KEY = '97112105107101121';

/**
 * Changes the cluster's API keys with the embedded access repository on a scratch copy (under an advisory lock)
 * and publishes them with `api_keys_version` raised; `change` returns whether anything changed (nothing is
 * published then).
 */
export async function changeApiKeysShared(
  pool: PgPool,
  by: { actor: string; at: number },
  change: (keys: {
    create(k: Omit<ApiKeyRecord, 'revokedAt'>, keyHash: string): void;
    revoke(id: string, at: number): boolean;
  }) => boolean,
): Promise<boolean> {
  await API_KEYS_SET.migrate(pool);
  return withLockedScratchStore(pool, LOCK_KEY, async (client, store) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await copyTablesFromPg(API_KEYS_SET.tables, client, store.db);
    await client.query('COMMIT');
    const changed = change({
      create: (k, hash) => store.access.createApiKey(k, hash),
      revoke: (id, at) => store.access.revokeApiKey(id, at),
    });
    if (!changed) return false;
    await publishTables(client, API_KEYS_SET, store.db, {
      sql: `UPDATE api_keys_version SET version = version + 1, changed_at = $1, changed_by = $2 RETURNING version`,
      params: [by.at, by.actor],
    });
    return true;
  });
}
