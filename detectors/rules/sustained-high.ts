import type { RuleOf } from '../../core/rules.ts';
import type { Condition } from './condition.ts';

/**
 * True when every bucket of the trailing window is known and at least the bar. A known bucket below the bar
 * makes it false; an unknown bucket otherwise means "cannot tell".
 */
export function sustainedHigh(rule: RuleOf<'sustained-high'>, window: (number | null)[]): Condition {
  let total = 0;
  let unknown = false;
  for (const v of window) {
    if (v === null) unknown = true;
    else if (v < rule.params.minLitersPerBucket) return { state: 'false', totalLiters: total + v };
    else total += v;
  }
  return { state: unknown ? 'unknown' : 'true', totalLiters: total };
}
