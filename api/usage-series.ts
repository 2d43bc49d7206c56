import type { LocalTime } from '../core/local-time.ts';
import type { UsageBucket } from '../core/streams.ts';

export interface SeriesBucket {
  start: number;
  end: number;
  /** null = unknown: no data is not zero use. */
  liters: number | null;
}

/**
 * The buckets starting in `[from, to)` with no hole: stored buckets as stored, and every local-time bucket
 * nothing was stored for as `liters: null` (not closed yet, a gap, or no meter), so a chart shows gaps as
 * gaps. Stored buckets off the current grid (the bucket size was changed) are kept; the nulls fit around them.
 */
export function usageSeries(
  stored: UsageBucket[],
  from: number,
  to: number,
  localTime: LocalTime,
): SeriesBucket[] {
  const out: SeriesBucket[] = [];
  let i = 0;
  let t = localTime.bucketStart(from);
  if (t < from) t = nextStart(t, localTime);
  for (;;) {
    const s = stored[i];
    if (s && s.start <= t) {
      out.push({ start: s.start, end: s.end, liters: s.liters });
      i++;
      t = Math.max(t, s.end);
    } else if (t < to) {
      const end = s ? Math.min(nextStart(t, localTime), s.start) : nextStart(t, localTime);
      out.push({ start: t, end, liters: null });
      t = end;
    } else if (s) {
      t = s.start;
    } else {
      return out;
    }
  }
}

/** The first bucket start after `t` (`bucketStart(t + bucket) > t` always, so the walk moves forward). */
function nextStart(t: number, localTime: LocalTime): number {
  return localTime.bucketStart(t + localTime.bucketMs);
}
