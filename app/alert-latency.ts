import type { Observable } from 'rxjs';
import type { AlertFeed } from '../core/alerts.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import type { Detection } from '../core/streams.ts';

/** Alerts waiting for their first delivery at most (older ones are forgotten: a worker app long offline). */
const MAX_WAITING = 10_000;

/**
 * Feeds the alert latency metrics: the time from the reading that completed an alert's evidence to the
 * detection, and on to the first delivery of its message (from the committed timeline). Detections from clock
 * ticks (`meter-silent`) have no such reading and are not timed.
 * Returns the function that stops it.
 */
export function observeAlertLatency(
  metrics: ServiceMetrics,
  processingSince: () => number | undefined,
  detections: Observable<Detection>,
  feed: AlertFeed,
): () => void {
  /** `household|rule` → performance.now() of the reading's arrival, until the first delivery. */
  const waiting = new Map<string, number>();
  const subscription = detections.subscribe((d) => {
    if (d.kind !== 'opened') return;
    const since = processingSince();
    if (since === undefined) return;
    metrics.detectionSeconds.observe({ rule: d.ruleId }, (performance.now() - since) / 1000);
    if (waiting.size >= MAX_WAITING) waiting.delete(waiting.keys().next().value!);
    waiting.set(`${d.householdId}|${d.ruleId}`, since);
  });
  const unsubscribe = feed.subscribe((events) => {
    for (const e of events) {
      if (e.kind !== 'delivered') continue;
      const key = `${e.alert.householdId}|${e.alert.ruleId}`;
      const since = waiting.get(key);
      if (since === undefined) continue;
      waiting.delete(key);
      metrics.firstDeliverySeconds.observe({ rule: e.alert.ruleId }, (performance.now() - since) / 1000);
    }
  });
  return () => {
    subscription.unsubscribe();
    unsubscribe();
  };
}
