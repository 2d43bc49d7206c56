import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';

const DAY_MS = 86_400_000;
const EVERY_MS = 6 * 3_600_000;

export interface Retention {
  /** Prunes now; returns what was deleted. */
  runNow(): { buckets: number };
  stop(): void;
}

/**
 * Keeps the store's usage buckets to `store.bucketRetentionDays`: prunes at start and every six hours of
 * service time. (Raw readings stay in the inbox, which the archive drains.)
 */
export function startRetention(
  retentionDays: number,
  deps: { store: Store; clock: Clock; logger: Logger },
): Retention {
  const logger = deps.logger.child({ module: 'retention' });
  const runNow = () => {
    const cutoff = deps.clock.now() - retentionDays * DAY_MS;
    const buckets = deps.store.usage.deleteBefore(cutoff);
    if (buckets > 0) logger.info({ buckets, cutoff }, 'old usage buckets pruned');
    return { buckets };
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
