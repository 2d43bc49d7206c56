import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { PLAIN_RULES } from './rules/default-rules.ts';
import { Rule, type RuleOf } from './rules/index.ts';
import type { Detection } from '../core/streams.ts';
import { serializeHouseholdState } from './household-checkpoint.ts';
import { createHouseholdState, HOUR_UNKNOWN, pushBucket } from './household-state.ts';
import { step } from './step.ts';
import { completeDays, computePeakStart, decodeForTest, HOUR_LITERS, recordHour } from './usage-history.ts';
import { historyDays } from './validate-rules.ts';

const H = 3_600_000;
const DAY = 24 * H;
/** 2026-01-05 00:00 Asia/Shanghai (a Monday). */
const T0 = Date.UTC(2026, 0, 4, 16);
const shanghai = new LocalTime('Asia/Shanghai', 60);

const base = PLAIN_RULES.find((r): r is RuleOf<'zero-at-peak'> => r.id === 'no-water-at-peak')!;
const withParams = (params: Partial<RuleOf<'zero-at-peak'>['params']> = {}) =>
  Rule.parse({ ...base, params: { ...base.params, ...params } }) as RuleOf<'zero-at-peak'>;
/** The rule learning the window of the highest mean use. */
const peakRule = (params: Partial<RuleOf<'zero-at-peak'>['params']> = {}) =>
  withParams({ learnFrom: 'highest-mean', ...params });
const MEAN = { peakHours: 3, learnDays: 21, learnFrom: 'highest-mean', maxLiters: 1 } as const;
const FIRST_USE = { peakHours: 3, learnDays: 21, minDays: 3, learnFrom: 'first-use', maxLiters: 1 } as const;

/** Liters per local hour: 30 L in each of `peak` hours, 2 L otherwise (so every morning uses water too). */
const routine = (peak: number[]) => Array.from({ length: 24 }, (_, h) => (peak.includes(h) ? 30 : 2));
const EVENING = [18, 19, 20];

function household(rule: RuleOf<'zero-at-peak'>, opts: { localTime?: LocalTime; start?: number } = {}) {
  const localTime = opts.localTime ?? shanghai;
  const per = 60 / (localTime.bucketMs / 60_000);
  const state = createHouseholdState(24 * per, historyDays([rule]));
  let next = opts.start ?? T0;
  const ctx = { localTime, rulesVersion: 1 };
  return {
    state,
    /** Feeds whole days of hourly liters (each hour split evenly over its buckets); returns the detections. */
    days(...days: (number | null)[][]): Detection[] {
      const out: Detection[] = [];
      for (const d of days)
        for (const liters of d)
          for (let q = 0; q < per; q++) {
            const end = next + localTime.bucketMs;
            step(
              'h',
              state,
              { kind: 'bucket', start: next, end, liters: liters === null ? null : liters / per },
              [rule],
              ctx,
              out,
            );
            next = end;
          }
      return out;
    },
  };
}

const opened = (ds: Detection[]) => ds.filter((d) => d.kind === 'opened');
const repeatDays = (day: (number | null)[], n: number) => Array.from({ length: n }, () => day);

describe('learned peak windows: the highest mean use (learnFrom highest-mean)', () => {
  it('uses the 06:00–09:00 fallback until 7 complete days are known', () => {
    const hh = household(peakRule());
    hh.days(...repeatDays(routine(EVENING), 6));
    const emptyMorning = routine(EVENING).map((l, h) => (h >= 6 && h < 9 ? 0 : l));
    const [d] = opened(hh.days(emptyMorning));
    expect(d).toMatchObject({ ruleId: 'no-water-at-peak', at: T0 + 6 * DAY + 9 * H });
    expect(d!.evidence.thresholds).toMatchObject({ start: '06:00', end: '09:00', peak: 'fallback' });
  });

  it('learns the evening peak from 7 complete days and checks that window from then on', () => {
    const hh = household(peakRule());
    hh.days(...repeatDays(routine(EVENING), 7));
    // Day 8: water in the morning as usual, none in the evening peak.
    const ds = opened(hh.days(routine(EVENING).map((l, h) => (EVENING.includes(h) ? 0 : l))));
    expect(ds).toHaveLength(1);
    expect(ds[0]!.at).toBe(T0 + 7 * DAY + 21 * H);
    expect(ds[0]!.evidence).toMatchObject({
      windowStart: T0 + 7 * DAY + 18 * H,
      windowEnd: T0 + 7 * DAY + 21 * H,
      buckets: [0, 0, 0],
      thresholds: { start: '18:00', end: '21:00', maxLiters: 1, peak: 'learned' },
    });
  });

  it('no longer raises the fallback window once the peak is learned', () => {
    const hh = household(peakRule());
    hh.days(...repeatDays(routine(EVENING), 7));
    expect(hh.days(routine(EVENING).map((l, h) => (h >= 6 && h < 9 ? 0 : l)))).toEqual([]);
  });

  it('does not count a day with an unknown hour as known data', () => {
    const hh = household(peakRule());
    const gappy = routine(EVENING).map((l, h) => (h === 3 ? null : l));
    hh.days(...repeatDays(routine(EVENING), 6), gappy);
    expect(completeDays(hh.state, Math.floor(shanghai.toLocalMs(T0 + 7 * DAY) / DAY), 21)).toBe(6);
    const ds = opened(hh.days(routine(EVENING).map((l, h) => (h >= 6 && h < 9 ? 0 : l))));
    expect(ds.map((d) => d.evidence.thresholds.peak)).toEqual(['fallback']);
  });

  it('waits for minDays as configured', () => {
    const hh = household(peakRule({ minDays: 2 }));
    hh.days(...repeatDays(routine(EVENING), 2));
    const [d] = opened(hh.days(routine(EVENING).map((l, h) => (EVENING.includes(h) ? 0 : l))));
    expect(d!.evidence.thresholds).toMatchObject({ start: '18:00', end: '21:00', peak: 'learned' });
  });

  it('is recomputed daily: after a change of routine the window follows within learnDays', () => {
    const hh = household(peakRule({ learnDays: 7, minDays: 3 }));
    hh.days(...repeatDays(routine(EVENING), 7), ...repeatDays(routine([10, 11, 12]), 7));
    const [d] = opened(hh.days(routine([10, 11, 12]).map((l, h) => (h >= 10 && h < 13 ? 0 : l))));
    expect(d!.evidence.thresholds).toMatchObject({ start: '10:00', end: '13:00', peak: 'learned' });
  });

  it('learns a window running past midnight and fires when it ends', () => {
    const hh = household(peakRule({ minDays: 3 }));
    hh.days(...repeatDays(routine([22, 23, 0]), 3));
    const ds = opened(
      hh.days(
        routine([22, 23, 0]).map((l, h) => (h >= 22 ? 0 : l)),
        routine([22, 23, 0]).map((l, h) => (h === 0 ? 0 : l)),
      ),
    );
    expect(ds.map((d) => d.evidence.thresholds)).toEqual([
      expect.objectContaining({ start: '22:00', end: '01:00', peak: 'learned' }),
    ]);
    expect(ds[0]!.at).toBe(T0 + 4 * DAY + 1 * H);
  });

  it('picks the earliest window when two are equally busy, and keeps the fallback for a household without any use', () => {
    const twoPeaks = Array.from({ length: 24 }, (_, h) => ([7, 8, 9, 19, 20, 21].includes(h) ? 20 : 0));
    const hh = household(peakRule({ minDays: 3 }));
    hh.days(...repeatDays(twoPeaks, 3));
    const day = Math.floor(shanghai.toLocalMs(T0 + 3 * DAY) / DAY);
    expect(computePeakStart(hh.state, day, { ...MEAN, minDays: 3 })).toBe(7);
    const dry = household(peakRule({ minDays: 3 }));
    dry.days(...repeatDays(new Array<number>(24).fill(0), 3));
    expect(computePeakStart(dry.state, day, { ...MEAN, minDays: 3 })).toBe(-1);
  });

  it('keeps the configured window when learning is off', () => {
    const hh = household(peakRule({ learn: false }));
    hh.days(...repeatDays(routine(EVENING), 8));
    const [d] = opened(hh.days(routine(EVENING).map((l, h) => (h >= 6 && h < 9 ? 0 : l))));
    expect(d!.evidence.thresholds).toMatchObject({ start: '06:00', end: '09:00', peak: 'fixed' });
  });

  it('learns in local time: Asia/Kolkata (+05:30)', () => {
    const kolkata = new LocalTime('Asia/Kolkata', 60);
    const midnight = Date.UTC(2026, 0, 4, 18, 30);
    const hh = household(peakRule({ minDays: 3 }), { localTime: kolkata, start: midnight });
    hh.days(...repeatDays(routine(EVENING), 3));
    const [d] = opened(hh.days(routine(EVENING).map((l, h) => (EVENING.includes(h) ? 0 : l))));
    expect(kolkata.formatTime(d!.evidence.windowStart)).toBe('18:00');
    expect(kolkata.formatTime(d!.at)).toBe('21:00');
  });

  it('counts an hour of quarter-hour buckets as unknown when one quarter is', () => {
    const s = createHouseholdState(4, 2);
    for (const q of [1, null, 1, 1]) pushBucket(s, q);
    recordHour(s, 100, 60, 15);
    for (const q of [1, 1, 1, 1]) pushBucket(s, q);
    recordHour(s, 100, 120, 15);
    const hours = Buffer.from(serializeHouseholdState(s).history!.hours, 'base64').subarray(24, 26);
    expect(hours[0]).toBe(HOUR_UNKNOWN);
    expect(decodeForTest(4)).toBe(HOUR_LITERS[hours[1]!]);
  });

  it('builds the hourly history from quarter hours', () => {
    const quarter = new LocalTime('Asia/Shanghai', 15);
    const hh = household(peakRule({ minDays: 3 }), { localTime: quarter });
    hh.days(...repeatDays(routine(EVENING), 3));
    const [d] = opened(hh.days(routine(EVENING).map((l, h) => (EVENING.includes(h) ? 0 : l))));
    expect(d!.evidence.thresholds).toMatchObject({ start: '18:00', end: '21:00', bucketMinutes: 15 });
    expect(d!.evidence.buckets).toHaveLength(12);
  });

  it('does not count the short day of a clock change as complete (Europe/Berlin, 2026-03-29 has 23 hours)', () => {
    const berlin = new LocalTime('Europe/Berlin', 60);
    const midnight = Date.UTC(2026, 2, 26, 23); // 2026-03-27 00:00 CET
    const rule = peakRule({ minDays: 3 });
    const state = createHouseholdState(24, historyDays([rule]));
    const ctx = { localTime: berlin, rulesVersion: 1 };
    const hours = 24 + 24 + 23 + 24; // 27th, 28th, the 29th (02:00 is skipped), 30th
    for (let k = 0; k < hours; k++) {
      const start = midnight + k * H;
      step('h', state, { kind: 'bucket', start, end: start + H, liters: 5 }, [rule], ctx);
    }
    const day = Math.floor(berlin.toLocalMs(midnight + hours * H) / DAY);
    expect(berlin.format(midnight + hours * H)).toBe('2026-03-31 00:00');
    expect(completeDays(state, day, 21)).toBe(3);
    expect(computePeakStart(state, day, { ...MEAN, minDays: 4 })).toBe(-1);
  });

  it('keeps hourly use to within ±2.2 % (one byte an hour)', () => {
    for (const liters of [0.05, 0.5, 1, 2.5, 10, 60, 240, 1000, 2900]) {
      const back = decodeForTest(liters);
      expect(Math.abs(back - liters) / liters).toBeLessThan(0.022);
    }
    expect(decodeForTest(0)).toBe(0);
  });
});

/** A day that starts at `hour`: nothing before (but `night` liters at 02:00), 10 L then, 3 L an hour until 22:00. */
const wakes = (hour: number, night = 0) =>
  Array.from({ length: 24 }, (_, h) => (h === 2 ? night : h < hour || h >= 22 ? 0 : h === hour ? 10 : 3));
const dayOf = (t: number) => Math.floor(shanghai.toLocalMs(t) / DAY);

describe('learned peak windows: the usual first use (learnFrom first-use, the default)', () => {
  it('is what the default no-water-at-peak rule learns', () => {
    expect(base.params).toMatchObject({ learn: true, learnFrom: 'first-use', peakHours: 3 });
  });

  it('starts the window at the hour the household usually first uses water, and fires when that window stays dry', () => {
    const hh = household(withParams());
    hh.days(...repeatDays(wakes(7), 7));
    expect(computePeakStart(hh.state, dayOf(T0 + 7 * DAY), FIRST_USE)).toBe(7);
    // Day 8: nobody gets up until 11:00.
    const [d, ...rest] = opened(hh.days(wakes(11)));
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ at: T0 + 7 * DAY + 10 * H });
    expect(d!.evidence.thresholds).toMatchObject({ start: '07:00', end: '10:00', peak: 'learned' });
  });

  it('does not fire on a day the resident gets up a little late, within the window', () => {
    const hh = household(withParams());
    hh.days(...repeatDays(wakes(7), 7));
    expect(opened(hh.days(wakes(9)))).toEqual([]);
  });

  it('takes the median day: an early morning, a late one and night-time use do not move the window', () => {
    const hh = household(withParams());
    hh.days(wakes(7), wakes(5), wakes(7, 400), wakes(12), wakes(8), wakes(7, 2), wakes(6));
    // First uses from 04:00: 7, 5, 7, 12, 8, 7, 6 → median 7 (the 400 L at 02:00 is before the day starts).
    expect(computePeakStart(hh.state, dayOf(T0 + 7 * DAY), FIRST_USE)).toBe(7);
    // The highest mean would have followed the night-time burst.
    expect(computePeakStart(hh.state, dayOf(T0 + 7 * DAY), { ...MEAN, minDays: 3 })).toBe(0);
  });

  it('counts only hours above maxLiters as use, and leaves out days without any', () => {
    const drip = (hour: number) => wakes(hour).map((l, h) => (h < hour ? 1 : l));
    const hh = household(withParams());
    hh.days(drip(8), drip(8), new Array<number>(24).fill(0), drip(8));
    expect(computePeakStart(hh.state, dayOf(T0 + 4 * DAY), FIRST_USE)).toBe(8);
    expect(computePeakStart(hh.state, dayOf(T0 + 4 * DAY), { ...FIRST_USE, maxLiters: 0.5 })).toBe(4);
  });

  it('keeps the fallback until minDays complete days exist, and for a household that never uses water', () => {
    const hh = household(withParams());
    hh.days(...repeatDays(wakes(7), 6));
    expect(computePeakStart(hh.state, dayOf(T0 + 6 * DAY), { ...FIRST_USE, minDays: 7 })).toBe(-1);
    const dry = household(withParams());
    dry.days(...repeatDays(new Array<number>(24).fill(0), 7));
    expect(computePeakStart(dry.state, dayOf(T0 + 7 * DAY), FIRST_USE)).toBe(-1);
    const d = dry.days(new Array<number>(24).fill(0)).at(-1);
    expect(d!.evidence.thresholds).toMatchObject({ start: '06:00', end: '09:00', peak: 'fallback' });
  });

  it('follows a new routine within learnDays', () => {
    const hh = household(withParams({ learnDays: 7, minDays: 3 }));
    hh.days(...repeatDays(wakes(6), 7), ...repeatDays(wakes(9), 4));
    expect(computePeakStart(hh.state, dayOf(T0 + 11 * DAY), { ...FIRST_USE, learnDays: 7 })).toBe(9);
  });
});
