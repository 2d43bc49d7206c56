import type { WebhookWriter } from '../api/routes/webhooks.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedFollower } from '../core/shared-follower.ts';
import type { Store } from '../core/store/store.ts';
import { deleteWebhookShared, putWebhookShared } from '../registry/shared-webhooks.ts';

/**
 * A cluster worker's `PUT|DELETE /api/webhooks/:id`: the endpoint is written to the shared registry
 * (registry/shared-webhooks.ts) and this worker pulls it at once (the answer shows the stored endpoint); the
 * other workers' notifiers use it once they have pulled it, within `cluster.registryPollMs`.
 */
export function sharedWebhookWriter(
  pool: PgPool,
  store: Pick<Store, 'webhooks'>,
  follower: Pick<SharedFollower, 'poll'>,
): WebhookWriter {
  return {
    async put(e, at, audit) {
      const previous = store.webhooks.get(e.id);
      await putWebhookShared(pool, { ...e, createdAt: previous?.createdAt ?? at });
      audit();
      await follower.poll();
      return previous === undefined;
    },
    async delete(id, by, audit) {
      const removed = await deleteWebhookShared(pool, id, by);
      if (removed) audit();
      await follower.poll();
      return removed;
    },
  };
}
