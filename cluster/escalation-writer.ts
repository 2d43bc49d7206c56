import type { EscalationWriter } from '../api/routes/escalation.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedFollower, SharedTableSet } from '../core/shared-follower.ts';
import { setEscalationShared } from '../notifier/shared-escalation.ts';
import { writeAudit } from './audit-log.ts';

/**
 * A cluster worker's `PUT /api/escalation/:scope/:code`: the change is published to the shared settings
 * (notifier/shared-escalation.ts) and written to the cluster's audit log, and this worker pulls it at once, so
 * that the person reads back what they set; the other workers pull it within `cluster.registryPollMs`.
 */
export function sharedEscalationWriter(
  pool: PgPool,
  places: readonly SharedTableSet[],
  follower: Pick<SharedFollower, 'poll'>,
  now: () => number = Date.now,
): EscalationWriter {
  return {
    async put(change, by, grid) {
      const at = now();
      await setEscalationShared(pool, {
        level: change.level,
        code: change.code,
        settings: change.settings,
        by: { actor: by.actor, at },
        places,
      });
      await writeAudit(pool, {
        at,
        actor: by.actor,
        action: 'escalation.set',
        target: `${change.level}:${change.code}`,
        grid,
        detail: { old: change.old, new: change.settings },
        ip: by.ip,
      });
      await follower.poll();
      return at;
    },
  };
}
