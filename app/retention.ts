import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';

const DAY_MS = 86_400_000;
const EVERY_MS = 6 * 3_600_000;

/** How long each kind of personal data is kept (config `privacy.*RetentionDays`). */
export interface RetentionPolicy {
  readingRetentionDays: number;
  welfareAlertRetentionDays: number;
  leakAlertRetentionDays: number;
  maintenanceAlertRetentionDays: number;
}

export interface Retention {
  /** Prunes now; returns what was deleted. */
  runNow(): { buckets: number; readings: number; alerts: number };
  stop(): void;
}

/**
 * Keeps the store's usage buckets to `store.bucketRetentionDays`, raw readings (once processed and
 * archived) to `privacy.readingRetentionDays` and resolved alerts to their audience's retention: prunes at
 * start and every six hours of service time.
 */
export function startRetention(
  retentionDays: number,
  deps: {
    store: Pick<Store, 'usage' | 'personalData' | 'transaction'>;
    clock: Clock;
    logger: Logger;
    policy?: RetentionPolicy;
  },
): Retention {
  const logger = deps.logger.child({ module: 'retention' });
  const runNow = () => {
    const now = deps.clock.now();
    const cutoff = now - retentionDays * DAY_MS;
    const buckets = deps.store.usage.deleteBefore(cutoff);
    if (buckets > 0) logger.info({ buckets, cutoff }, 'old usage buckets pruned');
    const p = deps.policy;
    if (!p) return { buckets, readings: 0, alerts: 0 };
    const pd = deps.store.personalData;
    const readings = pd.pruneReadings(now - p.readingRetentionDays * DAY_MS);
    const alerts = deps.store.transaction(
      () =>
        pd.pruneAlerts('welfare', now - p.welfareAlertRetentionDays * DAY_MS) +
        pd.pruneAlerts('leak', now - p.leakAlertRetentionDays * DAY_MS) +
        pd.pruneAlerts('maintenance', now - p.maintenanceAlertRetentionDays * DAY_MS),
    );
    if (readings + alerts > 0) logger.info({ readings, alerts }, 'old readings and alerts pruned');
    return { buckets, readings, alerts };
  };
  runNow();
  const timer: TimerHandle = deps.clock.setInterval(() => {
    try {
      runNow();
    } catch (err) {
      logger.error({ err }, 'retention failed');
    }
  }, EVERY_MS);
  return { runNow, stop: () => timer.cancel() };
}
