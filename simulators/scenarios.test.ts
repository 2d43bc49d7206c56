import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { HouseholdModel } from './household-model.ts';
import { HOUR_MS, MINUTE_MS, localMinuteToUtc } from './local-day.ts';
import { Scenario, type ScenarioInput } from './scenarios.ts';
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

  it('no-morning-water leaves no water from local midnight to noon that day and the rest of the day as usual', () => {
    const base = model();
    const quiet = model([{ type: 'no-morning-water', day: '2026-01-07' }]);
    const day = MONDAY + 2;
    expect(usage(base, at(day, 0), at(day, 12))).toBeGreaterThan(10);
    expect(usage(quiet, at(day, 0), at(day, 12))).toBe(0);
    expect(quiet.events(at(day, 0), at(day, 12))).toEqual([]);
    expect(usage(quiet, at(day, 12), at(day + 1, 0))).toBeCloseTo(
      usage(base, at(day, 12), at(day + 1, 0)),
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

describe('the newer scenarios applied to a household', () => {
  it('fall stops the resident for good; fixtures (a leak) keep running', () => {
    const start = at(MONDAY + 1, 10) + 17 * MINUTE_MS;
    const fallen = model([
      { type: 'fall', start },
      { type: 'leak', start: at(MONDAY, 2), litersPerHour: 2 },
    ]);
    expect(usage(model(), start, start + 5 * 24 * HOUR_MS)).toBeGreaterThan(500);
    expect(usage(fallen, start, start + 5 * 24 * HOUR_MS)).toBeCloseTo(2 * 5 * 24, 6);
  });

  it('illness leaves only the resident’s few sips, outside the morning peak', () => {
    const start = at(MONDAY + 1, 11);
    const ill = model([{ type: 'illness', start, durationHours: 48, residualLitersPerDay: 4 }]);
    expect(usage(ill, start, start + 48 * HOUR_MS)).toBeCloseTo(8, 6);
    for (const day of [MONDAY + 2, MONDAY + 3]) expect(usage(ill, at(day, 6), at(day, 9))).toBe(0);
  });

  it('hospital-stay and marked-away empty their span like low-use', () => {
    const start = at(MONDAY + 1, 9);
    for (const type of ['hospital-stay', 'marked-away'] as const) {
      const away = model([{ type, start, durationHours: 50 }]);
      expect(usage(away, start, start + 50 * HOUR_MS)).toBe(0);
      expect(usage(away, start + 50 * HOUR_MS, start + 74 * HOUR_MS)).toBeGreaterThan(50);
    }
  });

  it('late-waking leaves the morning dry until the wake time, then the morning routine runs', () => {
    const day = MONDAY + 2;
    const late = model([{ type: 'late-waking', day: '2026-01-07', wakeAt: '10:30' }]);
    expect(usage(late, at(day, 0), at(day, 10.5))).toBe(0);
    expect(usage(late, at(day, 10.5), at(day, 11))).toBeGreaterThan(10);
  });

  it('guests add the water of more people on their days only', () => {
    const base = model([], 5);
    const visited = model([{ type: 'guests', day: '2026-01-06', days: 2, count: 3 }], 5);
    const day = (m: HouseholdModel, d: number) => usage(m, at(d, 0), at(d + 1, 0));
    expect(day(visited, MONDAY + 1) + day(visited, MONDAY + 2)).toBeGreaterThan(
      1.5 * (day(base, MONDAY + 1) + day(base, MONDAY + 2)),
    );
    expect(day(visited, MONDAY)).toBeCloseTo(day(base, MONDAY), 9);
    // (a guest's night-time visit may fall after midnight of their last night)
    expect(day(visited, MONDAY + 4)).toBeCloseTo(day(base, MONDAY + 4), 9);
  });

  it('meter faults change no water use (they act on the meter)', () => {
    const from = at(MONDAY, 0);
    const faults: ScenarioInput[] = [
      { type: 'meter-reset', at: at(MONDAY + 1, 3) },
      { type: 'glitch', at: at(MONDAY + 1, 15) },
      { type: 'duplicates', start: at(MONDAY + 1, 0), durationHours: 24 },
      { type: 'out-of-order', start: at(MONDAY + 1, 0), durationHours: 24 },
      { type: 'garbage', start: at(MONDAY + 1, 0), durationHours: 24 },
    ];
    expect(model(faults).events(from, from + 3 * 24 * HOUR_MS)).toEqual(
      model().events(from, from + 3 * 24 * HOUR_MS),
    );
  });

  it('rejects what a scenario cannot be, naming the field', () => {
    const bad: unknown[] = [
      { type: 'burst', start: '2026-01-06T08:00:00Z', durationMinutes: 60, litersPerHour: 300 },
      { type: 'late-waking', day: '2026-01-06', wakeAt: '25:00' },
      { type: 'guests', day: '2026-01-06', days: 2, count: 0 },
      { type: 'illness', start: '2026-01-06T08:00:00Z', durationHours: 10 },
      { type: 'fall' },
    ];
    for (const input of bad) expect(Scenario.safeParse(input).success, JSON.stringify(input)).toBe(false);
  });
});
