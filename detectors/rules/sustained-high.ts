import { UNKNOWN_ML } from '../household-state.ts';
import { asWindow, toMl, type BucketWindow, type Condition } from './condition.ts';

/**
 * True when every bucket of the trailing window is known and at least the bar. A known bucket below the bar
 * makes it false; an unknown bucket otherwise means "cannot tell". `totalLiters` is the window's known total
 * (with `needTotal` false, a false answer comes as soon as it is certain and its total is NaN).
 */
export function sustainedHigh(
  window: BucketWindow | readonly (number | null)[],
  minLitersPerBucket: number,
  needTotal = true,
  toleratedBelow = 0,
): Condition {
  const w = asWindow(window);
  const bar = toMl(minLitersPerBucket);
  let total = 0;
  let unknown = false;
  let below = false;
  let belowCount = 0;
  // Newest first: a recent bucket below the bar is the common case, and it settles the answer.
  for (let i = w.length - 1; i >= 0; i--) {
    const v = w.ml(i);
    if (v === UNKNOWN_ML) unknown = true;
    else {
      if (v < bar && ++belowCount > toleratedBelow) {
        if (!needTotal) return { state: 'false', totalLiters: Number.NaN };
        below = true;
      }
      total += v;
    }
  }
  return { state: below ? 'false' : unknown ? 'unknown' : 'true', totalLiters: total / 1000 };
}
