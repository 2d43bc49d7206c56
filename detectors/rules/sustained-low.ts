import type { RuleOf } from '../../core/rules.ts';
import { toMilliliters, type Condition } from './condition.ts';

/**
 * True when the trailing window is fully known and its total is below the limit. Any unknown bucket means
 * "cannot tell", unless the known buckets alone already reach the limit (then it is certainly not low).
 */
export function sustainedLow(rule: RuleOf<'sustained-low'>, window: (number | null)[]): Condition {
  let total = 0;
  let unknown = false;
  for (const v of window) {
    if (v === null) unknown = true;
    else total += v;
  }
  total = toMilliliters(total);
  const limit = rule.params.maxTotalLiters;
  if (total >= limit) return { state: 'false', totalLiters: total };
  return unknown ? { state: 'unknown', totalLiters: total } : { state: 'true', totalLiters: total };
}
