import type { PrivacyHooks } from '../api/routes/privacy.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedFollower } from '../core/shared-follower.ts';
import { addConsentShared } from '../registry/shared-consent.ts';

/**
 * A cluster worker's privacy routes: consent recorded once for the cluster (registry/shared-consent.ts) and pulled
 * at once by this worker (the answer shows the record in force); every worker's detectors apply it at their next
 * tick. The export and erasure of personal data are not served by the workers.
 */
export function clusterPrivacy(pool: PgPool, follower: Pick<SharedFollower, 'poll'>): PrivacyHooks {
  return {
    // The detectors follow consent from the store (their consent gate), on every worker.
    consentChanged: () => {},
    erased: () => {},
    personalData: false,
    async addConsent(record, audit) {
      const id = await addConsentShared(pool, record);
      audit();
      await follower.poll();
      return id;
    },
  };
}
