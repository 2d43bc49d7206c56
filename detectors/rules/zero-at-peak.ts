import type { RuleOf } from '../../core/rules.ts';
import type { Detection } from '../../core/streams.ts';
import {
  activeSince,
  clearActive,
  lastBuckets,
  UNKNOWN_ML,
  type HouseholdState,
} from '../household-state.ts';
import { hhmm, peakWindow, type PeakWindow } from '../peak-window.ts';
import type { StepContext } from '../step-context.ts';
import { awayDays, decide, emit, noteEpisode, round, suppressed, USUAL_MIN_DAYS } from '../transition.ts';
import { usualShare } from '../usage-history.ts';
import { asWindow, RingWindow, toMl, type BucketWindow, type Condition } from './condition.ts';

const ring = new RingWindow();
const win: PeakWindow = { startMinute: 0, endMinute: 0, minutes: 0, source: 'fixed' };

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

/**
 * The `zero-at-peak` rule type (`no-water-at-peak`) on a closed bucket: clears at the first bucket with water
 * after it fired, and checks the household's peak window once a day, when its last bucket closes.
 */
export function peak(
  hid: string,
  s: HouseholdState,
  rule: RuleOf<'zero-at-peak'>,
  b: { start: number; end: number },
  ml: number,
  day: number,
  endMinute: number,
  bucketMinutes: number,
  ctx: StepContext,
  out: Detection[],
): void {
  const p = rule.params;
  const active = activeSince(s, rule.id) !== undefined;
  // Water used again after the detection clears it ("the resident is up").
  if (active && ml !== UNKNOWN_ML && ml > toMl(p.maxLiters)) {
    noteEpisode(s, rule);
    clearActive(s, rule.id);
    peakWindow(s, rule, day, win);
    emit(out, hid, rule, 'cleared', b.end, {
      windowStart: b.start,
      windowEnd: b.end,
      buckets: [ml / 1000],
      totalLiters: ml / 1000,
      thresholds: peakThresholds(rule, win, bucketMinutes),
      ruleVersion: ctx.rulesVersion,
    });
    return;
  }
  peakWindow(s, rule, day, win);
  if (endMinute !== win.endMinute) return;
  const n = Math.round(win.minutes / bucketMinutes);
  const windowStart = b.end - win.minutes * 60_000;
  const cond = zeroAtPeak(ring.of(s, n), p.maxLiters);
  if (cond.state === 'unknown' || (cond.state === 'false' && !active)) return;
  if (cond.state === 'true' && suppressed(hid, rule, windowStart, b.end, ctx)) return;
  // A dry window is news only for a household that usually uses water in it (checked when it would open: a
  // dry window on a later day with no water used since is the same problem, and updates the alert).
  if (cond.state === 'true' && !active && p.minUsualShare > 0) {
    const hours = Math.round(win.minutes / 60);
    const start = Math.floor(win.startMinute / 60);
    // Judged from the second complete day on (a new household is watched from its first morning).
    const share = usualShare(
      s,
      day,
      p.learnDays,
      Math.min(p.minDays, USUAL_MIN_DAYS),
      start,
      hours,
      p.maxLiters,
      awayDays(hid, ctx),
    );
    if (share >= 0 && share < p.minUsualShare) return;
  }
  const kind = decide(hid, s, rule, cond, b.end, windowStart, ctx);
  if (!kind) return;
  emit(out, hid, rule, kind, b.end, {
    windowStart,
    windowEnd: b.end,
    buckets: lastBuckets(s, n),
    totalLiters: round(cond.totalLiters),
    thresholds: peakThresholds(rule, win, bucketMinutes),
    ruleVersion: ctx.rulesVersion,
  });
}

function peakThresholds(rule: RuleOf<'zero-at-peak'>, w: PeakWindow, bucketMinutes: number) {
  return {
    start: hhmm(w.startMinute),
    end: hhmm(w.endMinute),
    maxLiters: rule.params.maxLiters,
    bucketMinutes,
    peak: w.source,
  };
}
