import type { RuleOf } from '../../core/rules.ts';
import { toMilliliters, type Condition } from './condition.ts';

/** True when the whole peak window is known and its use is at most `maxLiters`. */
export function zeroAtPeak(rule: RuleOf<'zero-at-peak'>, window: (number | null)[]): Condition {
  let total = 0;
  let unknown = false;
  for (const v of window) {
    if (v === null) unknown = true;
    else total += v;
  }
  total = toMilliliters(total);
  if (total > rule.params.maxLiters) return { state: 'false', totalLiters: total };
  return { state: unknown ? 'unknown' : 'true', totalLiters: total };
}
