import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { Rule } from './rules/index.ts';
import type { Detection } from '../core/streams.ts';
import { createHouseholdState } from './household-state.ts';
import { step, type AwayLookup } from './step.ts';
import { historyDays } from './validate-rules.ts';
import { zeroAtPeakType, type ZeroAtPeakRule } from './rules/zero-at-peak.ts';

/** The usual-share gates: a dry morning or a low day is news only where it is unusual for the household. */
const H = 3_600_000;
const DAY = 24 * H;
/** 2026-01-05 00:00 Asia/Shanghai (a Monday). */
const T0 = Date.UTC(2026, 0, 4, 16);
const shanghai = new LocalTime('Asia/Shanghai', 60);
const rule = (id: string, params: Record<string, unknown> = {}) => {
  const r = DEFAULT_RULES.find((x) => x.id === id)!;
  return Rule.parse({ ...r, params: { ...r.params, ...params } });
};

function household(rules: Rule[], away?: AwayLookup) {
  const state = createHouseholdState(24, Math.max(historyDays(rules), 1));
  let next = T0;
  const ctx = { localTime: shanghai, rulesVersion: 1, away };
  return {
    state,
    hours(liters: readonly number[]): Detection[] {
      const out: Detection[] = [];
      for (const l of liters) {
        step('h', state, { kind: 'bucket', start: next, end: next + H, liters: l }, rules, ctx, out);
        next += H;
      }
      return out;
    },
  };
}
/** A day with water from 07:00 to 21:00 (2 L an hour), dry at night. */
const lived = () => Array.from({ length: 24 }, (_, h) => (h >= 7 && h < 21 ? 2 : 0));
/** A day whose first water is at `hour` (2 L an hour until 22:00). */
const upAt = (hour: number) => Array.from({ length: 24 }, (_, h) => (h >= hour && h < 22 ? 2 : 0));
const dry = () => new Array<number>(24).fill(0);
const opened = (ds: Detection[], id: string) => ds.filter((d) => d.ruleId === id && d.kind === 'opened');

describe('usual-share gates', () => {
  it('no-water-at-peak fires for a household whose mornings are always used, not for one out most mornings', () => {
    const peak = rule('no-water-at-peak', { learn: false });
    const always = household([peak]);
    for (let d = 0; d < 8; d++) always.hours(lived());
    expect(opened(always.hours(dry()), 'no-water-at-peak')).toHaveLength(1);

    // Out every other morning: the first dry morning (not judged yet) fires; after that, dry mornings are
    // usual for this household and are no news.
    const outMostMornings = household([peak]);
    const ds: Detection[] = [];
    for (let d = 0; d < 9; d++) ds.push(...outMostMornings.hours(d % 2 === 0 ? lived() : dry()));
    // (At 11:00: the 06:00–09:00 window and its 2-hour confirmation.)
    expect(opened(ds, 'no-water-at-peak').map((x) => x.at)).toEqual([T0 + DAY + 11 * H]);
  });

  it('low-use stays quiet in a vacant flat and fires where low days are unusual', () => {
    const low = rule('low-use');
    const vacant = household([low]);
    expect(opened(vacant.hours([...dry(), ...dry()]), 'low-use')).toHaveLength(1); // not judged yet: it fires
    // A flat someone looks in on once: low from the first day (not judged yet), cleared by the visit, and
    // low again after it — but by then most of its days are low, so that is no news.
    const quiet = household([low]);
    const ds: Detection[] = [];
    for (let d = 0; d < 7; d++) ds.push(...quiet.hours(d === 2 ? lived() : dry()));
    expect(opened(ds, 'low-use').map((x) => x.at)).toEqual([T0 + DAY]);
    expect(ds.some((x) => x.ruleId === 'low-use' && x.kind === 'cleared')).toBe(true);

    const lived7 = household([low]);
    for (let d = 0; d < 7; d++) lived7.hours(lived());
    expect(opened(lived7.hours([...dry(), ...dry()]), 'low-use')).toHaveLength(1);
  });

  it('leaves out the days a household was marked away', () => {
    const peak = rule('no-water-at-peak', { learn: false });
    const awayFrom = T0 + 2 * DAY;
    const awayTo = T0 + 6 * DAY;
    const away: AwayLookup = (_h, from, to) => from < awayTo && to > awayFrom;
    const back = household([peak], away);
    for (let d = 0; d < 8; d++) back.hours(d >= 2 && d < 6 ? dry() : lived());
    // Back home and dry the next morning: the away days do not make dry mornings look usual.
    expect(opened(back.hours(dry()), 'no-water-at-peak')).toHaveLength(1);
    const notMarked = household([peak]);
    for (let d = 0; d < 8; d++) notMarked.hours(d >= 2 && d < 6 ? dry() : lived());
    expect(opened(notMarked.hours(dry()), 'no-water-at-peak')).toEqual([]);
  });

  it('no-water-at-peak waits two hours after the window before a dry morning counts', () => {
    const peak = rule('no-water-at-peak', { learn: false });
    const lateRiser = household([peak]);
    for (let d = 0; d < 8; d++) lateRiser.hours(lived());
    // Up at 10:00, an hour after the 06:00–09:00 window: within the confirmation, no news.
    expect(opened(lateRiser.hours(upAt(10)), 'no-water-at-peak')).toEqual([]);
    const notUp = household([peak]);
    for (let d = 0; d < 8; d++) notUp.hours(lived());
    // Still no water at 11:00: the window and its two hours are dry.
    const ds = opened(notUp.hours(upAt(12)), 'no-water-at-peak');
    expect(ds.map((x) => x.at)).toEqual([T0 + 8 * DAY + 11 * H]);
    expect(ds[0]!.evidence).toMatchObject({ windowStart: T0 + 8 * DAY + 6 * H, buckets: [0, 0, 0, 0, 0] });
    expect(ds[0]!.evidence.thresholds).toMatchObject({ start: '06:00', end: '09:00', confirmMinutes: 120 });
    // Without a confirmation the same morning counts at 09:00.
    const plain = household([rule('no-water-at-peak', { learn: false, confirmMinutes: 0 })]);
    for (let d = 0; d < 8; d++) plain.hours(lived());
    expect(opened(plain.hours(upAt(12)), 'no-water-at-peak').map((x) => x.at)).toEqual([
      T0 + 8 * DAY + 9 * H,
    ]);
  });

  it('no-water-at-peak judges a weekend morning by the recent weekend mornings too', () => {
    // 19 days from a Monday, every morning used but the first Saturday's (away): 18 of 19 days (95 %) used
    // the window, but only 3 of the 4 weekend days (75 %).
    const history = (hh: ReturnType<typeof household>) => {
      for (let d = 0; d < 19; d++) hh.hours(d === 5 ? dry() : lived());
    };
    const apart = household([rule('no-water-at-peak', { learn: false })]);
    history(apart);
    // Day 19 is a Saturday: a dry Saturday morning is not unusual enough here.
    expect(opened(apart.hours(dry()), 'no-water-at-peak')).toEqual([]);
    const together = household([rule('no-water-at-peak', { learn: false, weekendApart: false })]);
    history(together);
    expect(opened(together.hours(dry()), 'no-water-at-peak')).toHaveLength(1);
    // A dry Monday morning is news: every recent weekday morning was used.
    const monday = household([rule('no-water-at-peak', { learn: false })]);
    history(monday);
    monday.hours(lived());
    monday.hours(lived());
    expect(opened(monday.hours(dry()), 'no-water-at-peak').map((x) => x.at)).toEqual([
      T0 + 21 * DAY + 11 * H,
    ]);
  });

  it('low-use judges a dry weekend day by the recent weekend days too', () => {
    // The same 19 days: every day used but the first Saturday (away), so 18 of 19 days (95 %) reached 10 L,
    // but only 3 of the 4 weekend days (75 %).
    const history = (hh: ReturnType<typeof household>) => {
      for (let d = 0; d < 19; d++) hh.hours(d === 5 ? dry() : lived());
    };
    const apart = household([rule('low-use')]);
    history(apart);
    // Day 19 is a Saturday: a dry Saturday is not unusual enough in this household.
    expect(opened(apart.hours(dry()), 'low-use')).toEqual([]);
    const together = household([rule('low-use', { weekendApart: false })]);
    history(together);
    expect(opened(together.hours(dry()), 'low-use')).toHaveLength(1);
    // A dry Monday is news: every recent weekday was used. It counts once the last 24 h hold less than 10 L:
    // at 17:00, when only Sunday's 17:00–21:00 (8 L) is left in the window.
    const monday = household([rule('low-use')]);
    history(monday);
    monday.hours(lived());
    monday.hours(lived());
    expect(opened(monday.hours(dry()), 'low-use').map((x) => x.at)).toEqual([T0 + 21 * DAY + 17 * H]);
  });

  it('learns the peak window of weekend days from the weekend days', () => {
    const apart = rule('no-water-at-peak') as ZeroAtPeakRule;
    const together = rule('no-water-at-peak', { weekendApart: false }) as ZeroAtPeakRule;
    const hh = household([apart]);
    // Two weeks from a Monday: up at 07:00 on weekdays, at 10:00 on Saturdays and Sundays.
    for (let d = 0; d < 14; d++) hh.hours(d % 7 >= 5 ? upAt(10) : upAt(7));
    const day = (d: number) => shanghai.dayNumber(T0 + d * DAY);
    // Day 14 is a Monday, day 19 a Saturday.
    expect(zeroAtPeakType.learnedPeak!(hh.state, apart, day(14))).toMatchObject({
      start: '07:00',
      end: '10:00',
    });
    expect(zeroAtPeakType.learnedPeak!(hh.state, apart, day(19))).toMatchObject({
      start: '10:00',
      end: '13:00',
    });
    expect(zeroAtPeakType.learnedPeak!(hh.state, together, day(19))).toMatchObject({ start: '07:00' });
    // After one weekend only (2 weekend days), a Saturday still gets the window of all days.
    const early = household([apart]);
    for (let d = 0; d < 8; d++) early.hours(d % 7 >= 5 ? upAt(10) : upAt(7));
    expect(zeroAtPeakType.learnedPeak!(early.state, apart, day(12))).toMatchObject({ start: '07:00' });
  });
});
