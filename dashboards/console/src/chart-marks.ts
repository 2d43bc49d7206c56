/**
 * What a usage chart draws besides the hourly use, from an alert's (or a would-be alert's) evidence: the
 * evidence window, the rule's hourly bar, the peak window it watched (learned, fallback or fixed) on every
 * day of the chart, and the household's usual use over the window (the baseline) with the limit it gave.
 */
export type Thresholds = Record<string, number | string | boolean | null>;

export interface ChartMarks {
  window: { start: number; end: number } | null;
  /** Liters per hour: the rule fires above (sustained-high) this. */
  bar: number | null;
  /** The watched window on each day of the chart, and where it came from. */
  peak: { spans: { start: number; end: number }[]; label: string; source: string } | null;
  /** Mean liters per hour over the evidence window: usual use (baseline) and the limit the rule used. */
  baseline: { usualPerHour: number; limitPerHour: number } | null;
}

const DAY = 86_400_000;

export function chartMarks(
  evidence: { windowStart: number; windowEnd: number; thresholds: Thresholds } | null,
  range: { from: number; to: number },
): ChartMarks {
  if (!evidence) return { window: null, bar: null, peak: null, baseline: null };
  const th = evidence.thresholds;
  const window = { start: evidence.windowStart, end: evidence.windowEnd };
  const bar = typeof th.minLitersPerBucket === 'number' ? th.minLitersPerBucket : null;
  let peak: ChartMarks['peak'] = null;
  if (typeof th.start === 'string' && typeof th.end === 'string' && window.end > window.start) {
    // The same local hours every day: the evidence window moved by whole days (no daylight saving in the
    // deployments careflow serves; a day that had one would be off by its hour).
    const spans: { start: number; end: number }[] = [];
    const first = Math.ceil((range.from - window.end) / DAY);
    const last = Math.floor((range.to - window.start) / DAY);
    for (let k = first; k <= last; k++)
      spans.push({ start: window.start + k * DAY, end: window.end + k * DAY });
    peak = { spans, label: `${th.start}–${th.end}`, source: typeof th.peak === 'string' ? th.peak : 'fixed' };
  }
  let baseline: ChartMarks['baseline'] = null;
  const hours = (window.end - window.start) / 3_600_000;
  if (typeof th.typicalLiters === 'number' && typeof th.maxTotalLiters === 'number' && hours > 0)
    baseline = {
      usualPerHour: round(th.typicalLiters / hours),
      limitPerHour: round(th.maxTotalLiters / hours),
    };
  return { window, bar, peak, baseline };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
