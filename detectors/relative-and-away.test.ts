import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { Rule } from './rules/index.ts';
import type { Detection } from '../core/streams.ts';
import { BASELINE_DAYS } from './baseline.ts';
import { createHouseholdState } from './household-state.ts';
import { learnedInfo } from './learned-info.ts';
import { step, type AwayLookup } from './step.ts';
import { historyDays } from './validate-rules.ts';

const H = 3_600_000;
const DAY = 24 * H;
/** 2026-01-05 00:00 Asia/Shanghai (a Monday). */
const T0 = Date.UTC(2026, 0, 4, 16);
const shanghai = new LocalTime('Asia/Shanghai', 60);
const rule = (id: string, params: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => {
  const r = DEFAULT_RULES.find((x) => x.id === id)!;
  return Rule.parse({ ...r, ...extra, params: { ...r.params, ...params } });
};

function household(rules: Rule[], away?: AwayLookup) {
  const state = createHouseholdState(24, Math.max(historyDays(rules), 1));
  let next = T0;
  const ctx = { localTime: shanghai, rulesVersion: 1, away };
  return {
    state,
    get next() {
      return next;
    },
    hours(liters: readonly (number | null)[]): Detection[] {
      const out: Detection[] = [];
      for (const l of liters) {
        step('h', state, { kind: 'bucket', start: next, end: next + H, liters: l }, rules, ctx, out);
        next += H;
      }
      return out;
    },
  };
}
const day = (perHour: number) => new Array<number>(24).fill(perHour);
const days = (perHour: number, n: number) => Array.from({ length: n }, () => day(perHour)).flat();
const summary = (ds: Detection[]) => ds.map((d) => [d.ruleId, d.kind, d.at]);

describe('sustained-low relative to the baseline', () => {
  const relative = rule('low-use', { relativeToBaseline: 0.3 });

  it('uses the absolute limit (10 L) until the baseline is known', () => {
    const hh = household([relative]);
    hh.hours(days(4, 6));
    expect(hh.hours(day(20 / 24))).toEqual([]);
  });

  it('fires below that fraction of the typical use for the same window once 7 complete days exist', () => {
    const hh = household([relative]);
    hh.hours(days(4, 7)); // 96 L a day
    const ds = hh.hours(day(20 / 24)); // 20 L: above 10 L, below 30 % of 96 L
    expect(ds.map((d) => d.kind)).toEqual(['opened', ...new Array<string>(ds.length - 1).fill('updated')]);
    const [first] = ds;
    // The trailing 24 h drop below 30 % of 96 L during the day: 22 h at 0.83 L and 2 h at 4 L = 26.3 L.
    expect(first!.at).toBe(T0 + 7 * DAY + 22 * H);
    expect(first!.evidence.totalLiters).toBeLessThan(28.8);
    expect(first!.evidence.totalLiters).toBeGreaterThan(10);
    expect(first!.evidence.thresholds).toMatchObject({ windowMinutes: 1440, relativeToBaseline: 0.3 });
    // The history keeps hourly use to within ±2.2 %.
    const typical = first!.evidence.thresholds.typicalLiters as number;
    expect(Math.abs(typical - 96) / 96).toBeLessThan(0.022);
    expect(first!.evidence.thresholds.maxTotalLiters).toBe(
      Math.round(0.3 * (first!.evidence.thresholds.typicalLiters as number) * 1000) / 1000,
    );
  });

  it('does not fire for a frugal household that always uses little, where 10 L would', () => {
    const hh = household([relative]);
    hh.hours(days(0.3, 8)); // 7.2 L a day, every day
    expect(hh.hours(day(0.3)).filter((d) => d.kind === 'opened')).toEqual([]);
    const absolute = household([rule('low-use')]);
    expect(absolute.hours(days(0.3, 2)).some((d) => d.kind === 'opened')).toBe(true);
  });

  it('keeps weekdays and weekend days apart', () => {
    const hh = household([relative]);
    // Mon–Fri 1 L/h, Sat–Sun 10 L/h, for three weeks.
    for (let w = 0; w < 3; w++) hh.hours([...days(1, 5), ...days(10, 2)]);
    const info = learnedInfo(hh.state, [relative], shanghai)!;
    expect(info.baseline!.weekday[12]).toBeCloseTo(1, 1);
    expect(info.baseline!.weekend[12]).toBeCloseTo(10, 0);
    expect(info.baseline!.completeDays).toBe(BASELINE_DAYS);
  });

  it('still cannot tell with an unknown bucket in the window', () => {
    const hh = household([relative]);
    hh.hours(days(4, 7));
    expect(hh.hours([null, ...day(0).slice(0, 23)])).toEqual([]);
  });
});

describe('away mode in the detectors', () => {
  const awayFrom = T0 + 2 * DAY;
  const awayUntil = T0 + 4 * DAY;
  const away: AwayLookup = (_hid, from, to) => from < awayUntil && awayFrom < to;

  it('keeps low-use quiet while its window touches the away span, and opens once it no longer does', () => {
    const hh = household([rule('low-use')], away);
    hh.hours(days(3, 2));
    // Dry from T0 + 2 days; the first window that no longer touches the span ends at T0 + 5 days.
    expect(summary(hh.hours(days(0, 3)))).toEqual([['low-use', 'opened', T0 + 5 * DAY]]);
    expect(summary(hh.hours([0]))).toEqual([['low-use', 'updated', T0 + 5 * DAY + H]]);
  });

  it('still raises a leak while away', () => {
    const hh = household([rule('continuous-flow'), rule('low-use')], away);
    const ds = hh.hours(days(2, 4));
    expect(summary(ds.filter((d) => d.kind === 'opened'))).toEqual([['continuous-flow', 'opened', T0 + DAY]]);
  });

  it('keeps no-water-at-peak quiet on an away morning', () => {
    const hh = household([rule('no-water-at-peak')], away);
    hh.hours(days(3, 2));
    expect(hh.hours(day(0))).toEqual([]);
  });

  it('lets a rule that fired before the household left clear while it is away', () => {
    const hh = household([rule('low-use')], away);
    hh.hours(days(0, 1)); // opened at T0 + 1 day, before the away span
    expect(hh.state.active).toEqual({ 'low-use': T0 + DAY, '#episode:low-use': T0 + DAY });
    hh.hours(days(0, 1)); // updates whose window touches the span are left out
    expect(summary(hh.hours([50]))).toEqual([['low-use', 'cleared', T0 + 2 * DAY + H]]);
  });

  it('applies to rules with suppressedWhenAway only: a rule without it fires', () => {
    const hh = household([rule('low-use', {}, { suppressedWhenAway: false })], away);
    hh.hours(days(3, 2));
    const ds = hh.hours(days(0, 1)).filter((d) => d.kind === 'opened');
    expect(summary(ds)).toEqual([['low-use', 'opened', T0 + 2 * DAY + 21 * H]]);
  });
});
