import type { PrivacyHooks } from '../api/routes/privacy.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedFollower } from '../core/shared-follower.ts';
import { addConsentShared } from '../registry/shared-consent.ts';
import { eraseHouseholdShared, exportHouseholdShared } from './household-data.ts';

/**
 * A cluster worker's privacy routes: consent recorded once for the cluster (registry/shared-consent.ts) and pulled
 * at once by this worker (the answer shows the record in force); every worker's detectors apply it at their next
 * tick. A household's export reads PostgreSQL in one snapshot; its erasure (cluster/household-data.ts) removes it
 * from the shared sets and the modules' tables and resets the partitions holding its meters; this worker pulls
 * the registry without it at once, and so does every partition owner before it restores.
 */
export function clusterPrivacy(
  pool: PgPool,
  follower: Pick<SharedFollower, 'poll'>,
  clock: () => number = Date.now,
): PrivacyHooks {
  return {
    // The detectors follow consent from the store (their consent gate), on every worker.
    consentChanged: () => {},
    erased: () => {},
    exportData: (householdId) => exportHouseholdShared(pool, householdId),
    async erase(householdId, actor, audit) {
      const report = await eraseHouseholdShared(pool, householdId, { actor, at: clock() });
      audit(report);
      await follower.poll();
      return report;
    },
    async addConsent(record, audit) {
      const id = await addConsentShared(pool, record);
      audit();
      await follower.poll();
      return id;
    },
  };
}
