import { UNKNOWN_ML } from '../household-state.ts';
import { asWindow, toMl, type BucketWindow, type Condition } from './condition.ts';

/**
 * True when the trailing window is fully known and its total is below `limitLiters`. Any unknown bucket
 * means "cannot tell", unless the known buckets alone already reach the limit (then it is certainly not low).
 * With `needTotal` false, a false answer comes as soon as it is certain (newest buckets first; total NaN).
 */
export function sustainedLow(
  window: BucketWindow | readonly (number | null)[],
  limitLiters: number,
  needTotal = true,
): Condition {
  const w = asWindow(window);
  const limit = toMl(limitLiters);
  let total = 0;
  let unknown = false;
  for (let i = w.length - 1; i >= 0; i--) {
    const v = w.ml(i);
    if (v === UNKNOWN_ML) unknown = true;
    else {
      total += v;
      if (!needTotal && total >= limit) return { state: 'false', totalLiters: Number.NaN };
    }
  }
  const totalLiters = total / 1000;
  if (total >= limit) return { state: 'false', totalLiters };
  return { state: unknown ? 'unknown' : 'true', totalLiters };
}
