import type { AwayWriter } from '../api/routes/away.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedFollower } from '../core/shared-follower.ts';
import { setAwayShared } from '../detectors/shared-away.ts';
import { writeAudit } from './audit-log.ts';

/**
 * A cluster worker's `PUT|DELETE /api/households/:id/away`: the mark is published to the shared spans
 * (detectors/shared-away.ts) and written to the cluster's audit log, and this worker pulls it at once (its
 * detectors read the spans again at their next tick); the other workers pull it within `cluster.registryPollMs`.
 * The registry's `awayUntil` (set by an import) is left as the registry file says.
 */
export function sharedAwayWriter(pool: PgPool, follower: Pick<SharedFollower, 'poll'>): AwayWriter {
  return {
    async mark(householdId, m, by, grid) {
      const { previous } = await setAwayShared(pool, {
        householdId,
        mark: { until: m.until, reason: m.reason },
        by: { actor: by.actor, at: m.from },
      });
      const previousUntil = previous?.until ?? null;
      await writeAudit(pool, {
        at: m.from,
        actor: by.actor,
        action: 'household.away',
        target: householdId,
        grid,
        detail: { from: m.from, until: m.until, reason: m.reason, previousUntil },
        ip: by.ip,
      });
      await follower.poll();
      return { previousUntil };
    },
    async clear(householdId, at, by, grid) {
      const { previous } = await setAwayShared(pool, {
        householdId,
        mark: null,
        by: { actor: by.actor, at },
      });
      await writeAudit(pool, {
        at,
        actor: by.actor,
        action: 'household.away-cleared',
        target: householdId,
        grid,
        detail: { until: previous?.until ?? null },
        ip: by.ip,
      });
      await follower.poll();
      return previous !== undefined;
    },
  };
}
