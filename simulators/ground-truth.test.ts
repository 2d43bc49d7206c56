import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { attribute } from './alert-matching.ts';
import { type TruthContext, expectationOf } from './ground-truth.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './local-day.ts';
import { Scenario, type ScenarioInput } from './scenarios.ts';

const localTime = new LocalTime('Asia/Shanghai', 60);
/** 2026-03-02 00:00 local (a Monday). */
const T0 = Date.parse('2026-03-02T00:00:00+08:00');
const local = (day: number, hh: number, mm = 0) => T0 + day * DAY_MS + hh * HOUR_MS + mm * MINUTE_MS;
/** The fixed 06:00–09:00 peak (learning has no history in these examples). */
const ctx: TruthContext = { localTime, runEnd: local(10, 0), rules: DEFAULT_RULES };
const truth = (s: ScenarioInput, c: Partial<TruthContext> = {}) =>
  expectationOf(Scenario.parse(s), { ...ctx, ...c });

describe('expectationOf', () => {
  it('a leak is observable when 24 whole buckets carry at least 1 L from it', () => {
    const e = truth({ type: 'leak', start: local(1, 3, 10), litersPerHour: 4 });
    expect(e).toMatchObject({
      expect: 'alert',
      rules: ['continuous-flow'],
      from: local(1, 3, 10),
      until: null,
      windowEnd: null,
    });
    // 03:00–04:00 gets 50 min × 4 L/h ≥ 1 L, so the 24 buckets end at 03:00 the next day.
    expect(e.observableAt).toBe(local(2, 3));
    expect(truth({ type: 'leak', start: local(1, 3, 59), litersPerHour: 4 }).observableAt).toBe(local(2, 4));
  });

  it('a leak under the rule’s 1 L per bucket is never observable; one too late for the run is “run-ended”', () => {
    expect(truth({ type: 'leak', start: local(1, 3), litersPerHour: 0.5 })).toMatchObject({
      observableAt: null,
      unobservable: 'rules-cannot-see',
    });
    expect(truth({ type: 'leak', start: local(9, 3), litersPerHour: 5 })).toMatchObject({
      observableAt: null,
      unobservable: 'run-ended',
    });
  });

  it('heavy use needs two consecutive buckets of 120 L from it; a burst also counts continuous-flow', () => {
    expect(
      truth({ type: 'heavy-use', start: local(2, 14, 10), durationMinutes: 200, litersPerHour: 300 })
        .observableAt,
    ).toBe(local(2, 16));
    // 14:40–16:10 at 120 L/h: 40 L, 120 L, 20 L — never two buckets of 120 L.
    expect(
      truth({ type: 'heavy-use', start: local(2, 14, 40), durationMinutes: 90, litersPerHour: 120 }),
    ).toMatchObject({
      observableAt: null,
      unobservable: 'rules-cannot-see',
    });
    expect(
      truth({ type: 'burst', start: local(1, 14, 20), durationMinutes: 180, litersPerHour: 900 }).rules,
    ).toEqual(['heavy-use', 'continuous-flow']);
  });

  it('a fall is observable after the next whole morning peak and its 2-hour confirmation, or after 24 dry buckets, whichever is first', () => {
    expect(truth({ type: 'fall', start: local(1, 10, 30) }).observableAt).toBe(local(2, 11));
    expect(truth({ type: 'fall', start: local(1, 5, 30) }).observableAt).toBe(local(1, 11));
    expect(truth({ type: 'fall', start: local(1, 6, 30) })).toMatchObject({
      observableAt: local(2, 7),
      rules: ['low-use', 'no-water-at-peak'],
    });
  });

  it('an illness with 10 L or more a day cannot be seen by low-use, only at the peak', () => {
    expect(
      truth({ type: 'illness', start: local(1, 11), durationHours: 30, residualLitersPerDay: 12 })
        .observableAt,
    ).toBe(local(2, 11));
    // 06:30 to 06:30: no whole 06:00–09:00 peak inside, and 12 L a day is too much for low-use.
    expect(
      truth({ type: 'illness', start: local(1, 6, 30), durationHours: 24, residualLitersPerDay: 12 })
        .unobservable,
    ).toBe('rules-cannot-see');
  });

  it('late waking is an alert only when the resident sleeps past the end of the peak and its confirmation', () => {
    expect(truth({ type: 'late-waking', day: '2026-03-04', wakeAt: '11:20' })).toMatchObject({
      expect: 'alert',
      observableAt: local(2, 11),
    });
    // Up at 10:20: after the 06:00–09:00 peak, but within the 2 hours the rule waits for confirmation.
    expect(truth({ type: 'late-waking', day: '2026-03-04', wakeAt: '10:20' })).toMatchObject({
      expect: 'no-alert',
      note: 'up before the peak ends',
    });
    expect(truth({ type: 'late-waking', day: '2026-03-04', wakeAt: '08:10' })).toMatchObject({
      expect: 'no-alert',
      rules: ['no-water-at-peak'],
    });
  });

  it('follows the household’s learned peak window when the rule learns one', () => {
    const evening = () => ({ startMinute: 19 * 60, endMinute: 22 * 60 });
    expect(truth({ type: 'fall', start: local(1, 10, 30) }, { peakWindowOn: evening }).observableAt).toBe(
      local(2, 0),
    );
    // Up at 11:00, before the household's evening peak: it used water in its usual peak, no alert expected.
    expect(truth({ type: 'no-morning-water', day: '2026-03-04' }, { peakWindowOn: evening })).toMatchObject({
      expect: 'no-alert',
      note: 'up before the peak ends',
    });
  });

  it('a silent meter is observable six hours after its last report before the silence', () => {
    const e = truth(
      { type: 'silent', start: local(1, 6), durationMinutes: 600 },
      { lastTransmissionBefore: () => local(1, 5, 52) },
    );
    expect(e).toMatchObject({
      rules: ['meter-silent', 'welfare-silent'],
      observableAt: local(1, 11, 52),
      windowEnd: local(1, 17),
    });
    expect(truth({ type: 'silent', start: local(1, 6), durationMinutes: 300 }).unobservable).toBe(
      'rules-cannot-see',
    );
  });

  it('a meter that uploads once a day is observable 30 h after its last upload, once careflow knows its schedule', () => {
    const upload = local(1, 3, 10);
    const daily = (known: boolean) =>
      truth(
        { type: 'silent', start: local(1, 6), durationMinutes: 3 * 24 * 60 },
        { lastTransmissionBefore: () => upload, usualIntervalAt: () => (known ? DAY_MS : null) },
      ).observableAt;
    expect(daily(true)).toBe(upload + 30 * 3_600_000);
    expect(daily(false)).toBe(upload + 6 * 3_600_000);
  });

  it('marked away forbids the welfare rules away mode silences; guests and faults forbid more', () => {
    expect(truth({ type: 'marked-away', start: local(1, 9), durationHours: 48 })).toMatchObject({
      expect: 'no-alert',
      rules: ['low-use', 'no-water-at-peak', 'welfare-silent'],
      windowEnd: local(3, 9) + DAY_MS,
    });
    expect(truth({ type: 'guests', day: '2026-03-03', days: 2, count: 2 }).rules).toEqual([
      'low-use',
      'heavy-use',
      'no-water-at-peak',
      'welfare-silent',
    ]);
    expect(truth({ type: 'glitch', at: local(1, 15) }).rules).toEqual([
      'low-use',
      'continuous-flow',
      'heavy-use',
      'no-water-at-peak',
    ]);
  });
});

describe('attribute', () => {
  const fall = truth({ type: 'fall', start: local(1, 10, 30) });
  const guests = truth({ type: 'guests', day: '2026-03-05', days: 2, count: 2 });

  it('an alert of an expected rule inside the window is a hit', () => {
    expect(attribute({ ruleId: 'no-water-at-peak', openedAt: local(2, 9) }, [guests, fall])).toEqual({
      kind: 'hit',
      expectation: 1,
    });
  });

  it('an alert before the condition began, or of another rule, is false', () => {
    expect(attribute({ ruleId: 'low-use', openedAt: local(1, 9) }, [fall])).toEqual({
      kind: 'false',
      expectation: null,
    });
    expect(attribute({ ruleId: 'heavy-use', openedAt: local(3, 20) }, [fall])).toEqual({
      kind: 'false',
      expectation: null,
    });
  });

  it('a false alert inside a no-alert scenario is charged to that scenario', () => {
    expect(attribute({ ruleId: 'heavy-use', openedAt: local(3, 21) }, [guests])).toEqual({
      kind: 'false',
      expectation: 0,
    });
  });
});
