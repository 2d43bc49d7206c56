import type { ApiKeyWriter } from '../api/routes/api-keys.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedFollower } from '../core/shared-follower.ts';
import { changeApiKeysShared } from '../registry/api-key-tables.ts';

/**
 * A cluster worker's `POST|DELETE /api/api-keys`: the key (its hash) is made or revoked once for the cluster
 * (registry/api-key-tables.ts), and this worker pulls it at once, so the key works here as soon as it is shown;
 * the other workers take it (or stop taking it) within `cluster.registryPollMs`.
 */
export function sharedApiKeyWriter(pool: PgPool, follower: Pick<SharedFollower, 'poll'>): ApiKeyWriter {
  return {
    async create(record, keyHash) {
      await changeApiKeysShared(pool, { actor: record.createdBy, at: record.createdAt }, (keys) => {
        keys.create(record, keyHash);
        return true;
      });
      await follower.poll();
    },
    async revoke(id, at, by) {
      const revoked = await changeApiKeysShared(pool, { actor: by, at }, (keys) => keys.revoke(id, at));
      await follower.poll();
      return revoked;
    },
  };
}
