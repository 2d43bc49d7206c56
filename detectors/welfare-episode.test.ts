import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { Rule } from './rules/index.ts';
import type { Detection } from '../core/streams.ts';
import { createHouseholdState } from './household-state.ts';
import { step } from './step.ts';
import { historyDays } from './validate-rules.ts';

const H = 3_600_000;
const DAY = 24 * H;
/** 2026-01-05 00:00 Asia/Shanghai. */
const T0 = Date.UTC(2026, 0, 4, 16);
const shanghai = new LocalTime('Asia/Shanghai', 60);
/**
 * The default rules without their usual-share gates (a new household is watched from its first hour): a dry
 * morning counts at 11:00, the end of the 06:00–09:00 fallback window and its 2-hour confirmation.
 */
const rules = DEFAULT_RULES.map((r) =>
  'minUsualShare' in r.params ? Rule.parse({ ...r, params: { ...r.params, minUsualShare: 0 } }) : r,
);

function household() {
  const state = createHouseholdState(24, historyDays(rules));
  let next = T0;
  const ctx = { localTime: shanghai, rulesVersion: 1, welfare: () => true };
  return {
    state,
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
const dry = (hours: number) => new Array<number>(hours).fill(0);
const openings = (ds: Detection[]) =>
  ds.filter((d) => d.kind === 'opened').map((d) => [d.ruleId, d.at, d.episode ?? null]);

describe('one welfare episode, one alert', () => {
  it('writes the dry day to the dry morning’s episode: one new problem, not two', () => {
    const hh = household();
    const ds = hh.hours(dry(24));
    expect(openings(ds)).toEqual([
      ['no-water-at-peak', T0 + 11 * H, null],
      ['low-use', T0 + DAY, { ruleId: 'no-water-at-peak', since: T0 + 11 * H }],
    ]);
  });

  it('keeps the episode while any of its rules stays true, even after the one that began it cleared', () => {
    const hh = household();
    hh.hours(dry(24)); // dry morning, then dry day
    // 2 L in an hour: the resident is not "not up" any more (no-water-at-peak clears), the day is still dry.
    const cleared = hh.hours([2]);
    expect(cleared.map((d) => [d.ruleId, d.kind])).toContainEqual(['no-water-at-peak', 'cleared']);
    expect(cleared.map((d) => [d.ruleId, d.kind])).not.toContainEqual(['low-use', 'cleared']);
    // The next morning is dry too: still the same episode (low-use never stopped).
    const next = hh.hours(dry(23));
    expect(openings(next)).toEqual([
      ['no-water-at-peak', T0 + DAY + 11 * H, { ruleId: 'no-water-at-peak', since: T0 + 11 * H }],
    ]);
  });

  it('writes what the joined rule does later to the episode, and ends the episode with its last rule', () => {
    const hh = household();
    hh.hours(dry(24));
    const lead = { ruleId: 'no-water-at-peak', since: T0 + 11 * H };
    const cleared = hh.hours([2]); // the dry morning is over, the dry day is not: the episode goes on
    expect(cleared.find((d) => d.ruleId === 'no-water-at-peak')).toMatchObject({
      kind: 'cleared',
      episode: lead,
    });
    const updated = hh.hours([0]).filter((d) => d.ruleId === 'low-use');
    expect(updated).toMatchObject([{ kind: 'updated', episode: lead }]);
    // 10 L more: the day is not dry any more either, and nothing of the episode is still true.
    const ended = hh.hours([10]).filter((d) => d.ruleId === 'low-use');
    expect(ended).toMatchObject([{ kind: 'cleared', episode: { ...lead, ends: true } }]);
  });

  it('begins a new episode once water use is back: a later dry morning is news again', () => {
    const hh = household();
    hh.hours(dry(24));
    hh.hours(new Array<number>(24).fill(5)); // a normal day: every welfare rule clears
    const ds = hh.hours(dry(12));
    expect(openings(ds)).toEqual([['no-water-at-peak', T0 + 2 * DAY + 11 * H, null]]);
  });

  it('leaves heavy-use and leak alerts out of welfare episodes', () => {
    const hh = household();
    hh.hours(dry(24));
    const ds = hh.hours([200, 200]);
    expect(openings(ds)).toEqual([['heavy-use', T0 + DAY + 2 * H, null]]);
  });
});
