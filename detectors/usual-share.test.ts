import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { Rule } from './rules/index.ts';
import type { Detection } from '../core/streams.ts';
import { createHouseholdState } from './household-state.ts';
import { step, type AwayLookup } from './step.ts';
import { historyDays } from './validate-rules.ts';

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
    expect(opened(ds, 'no-water-at-peak').map((x) => x.at)).toEqual([T0 + DAY + 9 * H]);
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
});
