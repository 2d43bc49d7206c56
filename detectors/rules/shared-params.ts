import { z } from 'zod';
import type { FieldIssue } from '../../core/errors.ts';

/**
 * Schema fragments that several rule types share, written once: the sustained-rule lifecycle (clear-hold and
 * re-open window, read by detectors/transition.ts for every rule type that sets them), the trailing window of
 * the sustained rules and a local time of day.
 */
export const lifecycleParams = {
  /**
   * Clear-hold: an alert clears only once the condition has stayed false for this long (unknown hours keep
   * the hold running but never clear on their own). 0: it clears at the first known bucket that is not true.
   * For `silent` rules (one ticket per meter): once readings have come in without a new silence for this
   * long; 0: at the first reading.
   */
  clearHoldMinutes: z
    .number()
    .int()
    .min(0)
    .max(14 * 24 * 60)
    .default(0),
  /**
   * Re-open window: when the rule fires again within this long after its alert cleared, the detection says
   * so (`reopen`) and the notifier re-opens that alert on its timeline instead of opening a new one. 0: off.
   */
  reopenWithinMinutes: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 60)
    .default(0),
};

/** The trailing window a sustained rule looks at (a multiple of the bucket size, checked with the buckets). */
export const windowMinutes = z
  .number()
  .int()
  .min(15)
  .max(7 * 24 * 60);

/** A local time of day, `HH:MM`. */
export const localTimeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected local time as HH:MM');

/** The check every windowed rule type makes: its trailing window must be a whole number of buckets. */
export function windowFitsBuckets(
  windowMinutes: number,
  bucketMinutes: number,
  at: (field: string) => string,
): FieldIssue[] {
  return windowMinutes % bucketMinutes === 0
    ? []
    : [
        {
          path: at('windowMinutes'),
          kind: 'multiple-of',
          limit: bucketMinutes,
          message: `must be a multiple of the bucket size (${bucketMinutes} minutes); got ${windowMinutes}`,
        },
      ];
}
