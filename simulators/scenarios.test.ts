import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { HouseholdModel } from './household-model.ts';
import { HOUR_MS, MINUTE_MS, localMinuteToUtc } from './local-day.ts';
import { Scenario, type ScenarioInput, groundTruth } from './scenarios.ts';
import { litersInRange } from './water-event.ts';

const localTime = new LocalTime('Asia/Shanghai', 60);
const MONDAY = localTime.dayNumber(Date.UTC(2026, 0, 5, 0));
const at = (day: number, hour: number) => localMinuteToUtc(localTime, day, hour * 60);

const model = (scenarios: ScenarioInput[] = [], seed = 17) =>
  new HouseholdModel({
    profile: 'couple',
    seed,
    localTime,
    scenarios: scenarios.map((s) => Scenario.parse(s)),
  });
const usage = (m: HouseholdModel, from: number, to: number) => litersInRange(m.events(from, to), from, to);
const hours = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i * HOUR_MS);

describe('Scenario schema', () => {
  it('accepts ISO 8601 with an offset or epoch ms and parses both to epoch ms', () => {
    const iso = Scenario.parse({ type: 'leak', start: '2026-01-06T03:00:00+08:00', litersPerHour: 6 });
    const ms = Scenario.parse({ type: 'leak', start: Date.UTC(2026, 0, 5, 19), litersPerHour: 6 });
    expect(iso).toEqual(ms);
    expect(iso).toMatchObject({ start: Date.UTC(2026, 0, 5, 19) });
  });

  it('rejects scenarios that would not be what they claim, naming the field', () => {
    const bad: unknown[] = [
      { type: 'heavy-use', start: '2026-01-06T08:00:00Z', durationMinutes: 180, litersPerHour: 60 },
      { type: 'low-use', start: '2026-01-06T08:00:00Z', durationHours: 12 },
      { type: 'no-morning-water', day: '2026-1-6' },
      { type: 'leak', start: '2026-01-06 08:00', litersPerHour: 5 },
      { type: 'leak', start: '2026-01-06T08:00:00Z', litersPerHour: 0 },
      { type: 'flood', start: '2026-01-06T08:00:00Z' },
    ];
    for (const input of bad) expect(Scenario.safeParse(input).success, JSON.stringify(input)).toBe(false);
    const err = Scenario.safeParse(bad[0]);
    expect(err.error?.issues[0]?.path).toEqual(['litersPerHour']);
  });
});

describe('scenarios applied to a household', () => {
  it('leak adds at least litersPerHour in every hour from its start on, and nothing before', () => {
    const start = at(MONDAY + 1, 3) + 17 * MINUTE_MS;
    const base = model();
    const leaking = model([{ type: 'leak', start, litersPerHour: 4 }]);
    for (const h of hours(start, 72)) {
      expect(usage(leaking, h, h + HOUR_MS) - usage(base, h, h + HOUR_MS)).toBeGreaterThanOrEqual(4 - 1e-9);
    }
    for (const h of hours(at(MONDAY, 0), 27))
      expect(usage(leaking, h, h + HOUR_MS)).toBe(usage(base, h, h + HOUR_MS));
    expect(usage(leaking, start - HOUR_MS, start)).toBe(usage(base, start - HOUR_MS, start));
  });

  it('heavy-use adds litersPerHour for its duration only', () => {
    const start = at(MONDAY + 2, 13);
    const base = model();
    const heavy = model([{ type: 'heavy-use', start, durationMinutes: 150, litersPerHour: 240 }]);
    const end = start + 150 * MINUTE_MS;
    expect(usage(heavy, start, end) - usage(base, start, end)).toBeCloseTo(600, 6);
    for (const h of hours(start, 2))
      expect(usage(heavy, h, h + HOUR_MS) - usage(base, h, h + HOUR_MS)).toBeCloseTo(240);
    expect(usage(heavy, end, end + 6 * HOUR_MS)).toBe(usage(base, end, end + 6 * HOUR_MS));
    expect(usage(heavy, start - 6 * HOUR_MS, start)).toBe(usage(base, start - 6 * HOUR_MS, start));
  });

  it('no-morning-water leaves no water from local midnight to 11:00 that day and the rest of the day as usual', () => {
    const base = model();
    const quiet = model([{ type: 'no-morning-water', day: '2026-01-07' }]);
    const day = MONDAY + 2;
    expect(usage(base, at(day, 0), at(day, 11))).toBeGreaterThan(10);
    expect(usage(quiet, at(day, 0), at(day, 11))).toBe(0);
    expect(quiet.events(at(day, 0), at(day, 11))).toEqual([]);
    expect(usage(quiet, at(day, 11), at(day + 1, 0))).toBeCloseTo(
      usage(base, at(day, 11), at(day + 1, 0)),
      9,
    );
    expect(usage(quiet, at(day - 1, 0), at(day, 0))).toBeCloseTo(usage(base, at(day - 1, 0), at(day, 0)), 9);
  });

  it('low-use leaves no water at all in its span and changes nothing outside it', () => {
    const start = at(MONDAY + 1, 14) + 20 * MINUTE_MS;
    const end = start + 36 * HOUR_MS;
    const base = model();
    const ill = model([{ type: 'low-use', start, durationHours: 36 }]);
    expect(usage(base, start, end)).toBeGreaterThan(100);
    expect(usage(ill, start, end)).toBe(0);
    expect(usage(ill, start - 24 * HOUR_MS, start)).toBeCloseTo(usage(base, start - 24 * HOUR_MS, start), 9);
    expect(usage(ill, end, end + 24 * HOUR_MS)).toBeCloseTo(usage(base, end, end + 24 * HOUR_MS), 9);
  });

  it('silent changes no water use (only the meter stops reporting)', () => {
    const from = at(MONDAY, 0);
    const silent = model([{ type: 'silent', start: at(MONDAY + 1, 9) }]);
    expect(silent.events(from, from + 7 * 24 * HOUR_MS)).toEqual(
      model().events(from, from + 7 * 24 * HOUR_MS),
    );
  });

  it('keeps a leak running while the resident uses no water, whatever the order of the list', () => {
    const lowUse: ScenarioInput = { type: 'low-use', start: at(MONDAY + 1, 0), durationHours: 24 };
    const leak: ScenarioInput = { type: 'leak', start: at(MONDAY, 12), litersPerHour: 3 };
    const a = model([lowUse, leak]);
    const b = model([leak, lowUse]);
    const from = at(MONDAY, 0);
    expect(a.events(from, from + 3 * 24 * HOUR_MS)).toEqual(b.events(from, from + 3 * 24 * HOUR_MS));
    expect(usage(a, at(MONDAY + 1, 0), at(MONDAY + 2, 0))).toBeCloseTo(72, 9);
  });
});

describe('groundTruth', () => {
  it('names the rule each scenario should trigger and when the condition begins', () => {
    const start = Date.UTC(2026, 0, 6, 2);
    const truth = (s: ScenarioInput) => groundTruth(Scenario.parse(s), localTime);
    expect(truth({ type: 'leak', start, litersPerHour: 6 })).toEqual({
      ruleId: 'continuous-flow',
      from: start,
      until: null,
    });
    expect(truth({ type: 'heavy-use', start, durationMinutes: 180, litersPerHour: 300 })).toEqual({
      ruleId: 'heavy-use',
      from: start,
      until: start + 3 * HOUR_MS,
    });
    expect(truth({ type: 'no-morning-water', day: '2026-01-07' })).toEqual({
      ruleId: 'no-water-at-peak',
      from: Date.parse('2026-01-07T00:00:00+08:00'),
      until: Date.parse('2026-01-07T11:00:00+08:00'),
    });
    expect(truth({ type: 'low-use', start, durationHours: 48 })).toEqual({
      ruleId: 'low-use',
      from: start,
      until: start + 48 * HOUR_MS,
    });
    expect(truth({ type: 'silent', start })).toEqual({ ruleId: 'meter-silent', from: start, until: null });
    expect(truth({ type: 'silent', start, durationMinutes: 600 })).toEqual({
      ruleId: 'meter-silent',
      from: start,
      until: start + 10 * HOUR_MS,
    });
  });

  it('reads the no-morning-water day in the zone it is given (Asia/Shanghai by default)', () => {
    const scenario = Scenario.parse({ type: 'no-morning-water', day: '2026-01-07' });
    expect(groundTruth(scenario).from).toBe(Date.parse('2026-01-07T00:00:00+08:00'));
    expect(groundTruth(scenario, new LocalTime('Europe/London', 60)).from).toBe(
      Date.parse('2026-01-07T00:00:00Z'),
    );
  });
});
