import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { HouseholdModel } from './household-model.ts';
import type { Profile } from './household-profiles.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS, localMinuteToUtc } from './local-day.ts';
import { Scenario, type ScenarioInput } from './scenarios.ts';
import { SimulatedMeter, type SimulatedReading } from './simulated-meter.ts';
import { litersInRange } from './water-event.ts';

const localTime = new LocalTime('Asia/Shanghai', 60);
const START = localMinuteToUtc(localTime, localTime.dayNumber(Date.UTC(2026, 0, 5, 0)), 0);

function meterOver(
  opts: { seed?: number; profile?: Profile; every?: number; scenarios?: ScenarioInput[] } = {},
) {
  const model = new HouseholdModel({
    profile: opts.profile ?? 'elderly-alone',
    seed: opts.seed ?? 1,
    localTime,
    scenarios: (opts.scenarios ?? []).map((s) => Scenario.parse(s)),
  });
  const meter = new SimulatedMeter({
    source: model,
    seed: opts.seed ?? 1,
    startAt: START,
    reportEveryMinutes: opts.every ?? 15,
  });
  return { model, meter };
}

const pairs = (rs: SimulatedReading[]) => rs.slice(1).map((r, i) => [rs[i] as SimulatedReading, r] as const);

describe('SimulatedMeter', () => {
  it('is deterministic for a seed and has its own phase and starting register', () => {
    const a = meterOver({ seed: 5 }).meter.readingsUntil(START + 2 * DAY_MS);
    const b = meterOver({ seed: 5 }).meter.readingsUntil(START + 2 * DAY_MS);
    const c = meterOver({ seed: 6 });
    expect(b).toEqual(a);
    expect(c.meter.phaseMs).not.toBe(meterOver({ seed: 5 }).meter.phaseMs);
    expect(c.meter.initialLiters).not.toBe(meterOver({ seed: 5 }).meter.initialLiters);
    for (let seed = 0; seed < 50; seed++) {
      const { meter } = meterOver({ seed });
      expect(meter.initialLiters).toBeGreaterThanOrEqual(10_000);
      expect(meter.initialLiters).toBeLessThanOrEqual(90_000);
      expect(meter.phaseMs % 1000).toBe(0);
      expect(meter.phaseMs).toBeLessThan(15 * MINUTE_MS);
    }
  });

  for (const every of [15, 60]) {
    it(`reports every ${every} minutes on its own phase, from installation on`, () => {
      const { meter } = meterOver({ seed: 9, every });
      const readings = meter.readingsUntil(START + 3 * DAY_MS);
      const period = every * MINUTE_MS;
      expect(readings.length).toBe((3 * DAY_MS) / period);
      expect(readings[0]?.ts).toBeGreaterThanOrEqual(START);
      expect(readings[0]?.ts).toBeLessThan(START + period);
      for (const r of readings) expect(((r.ts % period) + period) % period).toBe(meter.phaseMs);
      for (const [prev, next] of pairs(readings)) expect(next.ts - prev.ts).toBe(period);
    });
  }

  for (const profile of ['elderly-alone', 'family'] as const) {
    it(`keeps a monotonic register that counts exactly the ${profile} household's water`, () => {
      const { model, meter } = meterOver({ seed: 3, profile });
      const readings = meter.readingsUntil(START + 7 * DAY_MS);
      for (const [prev, next] of pairs(readings)) {
        expect(next.totalLiters).toBeGreaterThanOrEqual(prev.totalLiters);
        const used = litersInRange(model.events(prev.ts, next.ts), prev.ts, next.ts);
        expect(Math.abs(next.totalLiters - prev.totalLiters - used)).toBeLessThan(0.01);
      }
      const last = readings[readings.length - 1] as SimulatedReading;
      const total = litersInRange(model.events(START, last.ts), START, last.ts);
      expect(last.totalLiters).toBeCloseTo(meter.initialLiters + total, 3);
      expect(meter.totalLiters).toBe(last.totalLiters);
      for (const r of readings) expect(Math.round(r.totalLiters * 1000) / 1000).toBe(r.totalLiters);
    });
  }

  it('returns each reading once, however the time is advanced', () => {
    const whole = meterOver({ seed: 4 }).meter.readingsUntil(START + 2 * DAY_MS);
    const { meter } = meterOver({ seed: 4 });
    const stepped: SimulatedReading[] = [];
    for (let t = START - HOUR_MS; t <= START + 2 * DAY_MS; t += 7 * MINUTE_MS + 13_000) {
      stepped.push(...meter.readingsUntil(t));
    }
    stepped.push(...meter.readingsUntil(START + 2 * DAY_MS));
    expect(stepped.map((r) => r.ts)).toEqual(whole.map((r) => r.ts));
    for (let i = 0; i < whole.length; i++) {
      expect(stepped[i]?.totalLiters).toBeCloseTo(whole[i]?.totalLiters ?? NaN, 3);
    }
    expect(meter.readingsUntil(START + 2 * DAY_MS)).toEqual([]);
  });

  it('publishes nothing while silent but keeps counting, and resumes with the full register', () => {
    const silentFrom = START + DAY_MS + 5 * HOUR_MS;
    const silentUntil = silentFrom + 10 * HOUR_MS;
    const scenarios: ScenarioInput[] = [{ type: 'silent', start: silentFrom, durationMinutes: 600 }];
    const { model, meter } = meterOver({ seed: 2, scenarios });
    const readings = meter.readingsUntil(START + 3 * DAY_MS);
    expect(readings.filter((r) => r.ts >= silentFrom && r.ts < silentUntil)).toEqual([]);
    const before = readings.filter((r) => r.ts < silentFrom).at(-1) as SimulatedReading;
    const after = readings.find((r) => r.ts >= silentUntil) as SimulatedReading;
    expect(after.ts - before.ts).toBeGreaterThan(10 * HOUR_MS - 15 * MINUTE_MS);
    const used = litersInRange(model.events(before.ts, after.ts), before.ts, after.ts);
    expect(used).toBeGreaterThan(5);
    expect(after.totalLiters - before.totalLiters).toBeCloseTo(used, 2);
    expect(readings.length).toBe(3 * 96 - 40);
  });

  it('never reports again after a silent scenario without a duration', () => {
    const silentFrom = START + DAY_MS;
    const { meter } = meterOver({ seed: 2, scenarios: [{ type: 'silent', start: silentFrom }] });
    const readings = meter.readingsUntil(START + 5 * DAY_MS);
    expect(readings.length).toBe(96);
    expect(readings.every((r) => r.ts < silentFrom)).toBe(true);
  });

  it('counts scenario flow like any other water', () => {
    const scenarios: ScenarioInput[] = [{ type: 'leak', start: START + 6 * HOUR_MS, litersPerHour: 12 }];
    const leaking = meterOver({ seed: 8, scenarios }).meter.readingsUntil(START + 2 * DAY_MS);
    const normal = meterOver({ seed: 8 }).meter.readingsUntil(START + 2 * DAY_MS);
    const extra = (leaking.at(-1)?.totalLiters ?? 0) - (normal.at(-1)?.totalLiters ?? 0);
    const leakHours = (START + 2 * DAY_MS - 15 * MINUTE_MS - (START + 6 * HOUR_MS)) / HOUR_MS;
    expect(extra).toBeGreaterThan(12 * (leakHours - 0.25));
    expect(extra).toBeLessThan(12 * (leakHours + 0.25));
  });

  it('rejects a report period that is not a whole number of minutes in a day', () => {
    const source = { events: () => [] };
    expect(() => new SimulatedMeter({ source, seed: 1, startAt: START, reportEveryMinutes: 0 })).toThrow(
      RangeError,
    );
    expect(() => new SimulatedMeter({ source, seed: 1, startAt: START, reportEveryMinutes: 7.5 })).toThrow(
      RangeError,
    );
  });

  it('reads whole liters when its register counts whole liters, never losing water', () => {
    const model = new HouseholdModel({ profile: 'family', seed: 4, localTime });
    const meter = new SimulatedMeter({ source: model, seed: 4, startAt: START, resolutionLiters: 1 });
    const readings = meter.readingsUntil(START + 2 * DAY_MS);
    for (const r of readings) expect(Number.isInteger(r.totalLiters)).toBe(true);
    const exact =
      meter.initialLiters +
      litersInRange(model.events(START, readings.at(-1)!.ts), START, readings.at(-1)!.ts);
    expect(exact - readings.at(-1)!.totalLiters).toBeGreaterThanOrEqual(0);
    expect(exact - readings.at(-1)!.totalLiters).toBeLessThan(1);
  });

  it('starts again from zero after a meter-reset and jumps by 248,520 L for one reading on a glitch', () => {
    const reset = START + DAY_MS + 3 * HOUR_MS;
    const glitch = START + DAY_MS + 15 * HOUR_MS;
    const { meter } = meterOver({
      seed: 6,
      scenarios: [
        { type: 'meter-reset', at: reset },
        { type: 'glitch', at: glitch },
      ],
    });
    const readings = meter.readingsUntil(START + 2 * DAY_MS);
    const before = readings.filter((r) => r.ts < reset).at(-1)!;
    const after = readings.find((r) => r.ts >= reset)!;
    expect(before.totalLiters).toBeGreaterThan(10_000);
    expect(after.totalLiters).toBeLessThan(100);
    const i = readings.findIndex((r) => r.ts >= glitch);
    expect(readings[i]!.totalLiters - readings[i - 1]!.totalLiters).toBeGreaterThan(248_520);
    expect(readings[i + 1]!.totalLiters - readings[i - 1]!.totalLiters).toBeGreaterThanOrEqual(0);
    expect(readings[i + 1]!.totalLiters - readings[i - 1]!.totalLiters).toBeLessThan(200);
  });

  it('knows its report schedule: the last report before a time and the first from it', () => {
    const { meter } = meterOver({ seed: 9, every: 60 });
    const t = START + DAY_MS + 10 * HOUR_MS + 7 * MINUTE_MS;
    expect(meter.lastReportBefore(t)).toBeLessThan(t);
    expect(meter.firstReportFrom(t)).toBeGreaterThanOrEqual(t);
    expect(meter.firstReportFrom(t) - meter.lastReportBefore(t)).toBe(HOUR_MS);
    expect(((meter.firstReportFrom(t) % HOUR_MS) + HOUR_MS) % HOUR_MS).toBe(meter.phaseMs);
  });
});
