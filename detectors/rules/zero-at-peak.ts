import { UNKNOWN_ML } from '../household-state.ts';
import { asWindow, toMl, type BucketWindow, type Condition } from './condition.ts';

/** True when the whole peak window is known and its use is at most `maxLiters`. */
export function zeroAtPeak(window: BucketWindow | readonly (number | null)[], maxLiters: number): Condition {
  const w = asWindow(window);
  let total = 0;
  let unknown = false;
  for (let i = 0; i < w.length; i++) {
    const v = w.ml(i);
    if (v === UNKNOWN_ML) unknown = true;
    else total += v;
  }
  const totalLiters = total / 1000;
  if (total > toMl(maxLiters)) return { state: 'false', totalLiters };
  return { state: unknown ? 'unknown' : 'true', totalLiters };
}
