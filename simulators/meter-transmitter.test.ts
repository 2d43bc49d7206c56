import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { ReadingPayload } from '../core/readings.ts';
import { HouseholdModel } from './household-model.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './local-day.ts';
import {
  type MeterMessage,
  type MeterMode,
  MINUTES_PER_READING,
  MeterTransmitter,
} from './meter-transmitter.ts';
import { Scenario, type ScenarioInput } from './scenarios.ts';
import { SimulatedMeter } from './simulated-meter.ts';

const localTime = new LocalTime('Asia/Shanghai', 60);
const T0 = Date.parse('2026-03-02T00:00:00+08:00');

function transmitter(mode: MeterMode, scenarios: ScenarioInput[] = [], seed = 3) {
  const parsed = scenarios.map((s) => Scenario.parse(s));
  const model = new HouseholdModel({ profile: 'elderly-couple', seed, localTime, scenarios: parsed });
  const meter = new SimulatedMeter({
    source: model,
    seed,
    startAt: T0,
    reportEveryMinutes: MINUTES_PER_READING[mode],
    resolutionLiters: 1,
  });
  return new MeterTransmitter({ meter, mode, seed, localTime, scenarios: parsed });
}

/** Messages sent while time advances in 15-minute steps. */
function run(t: MeterTransmitter, days: number): MeterMessage[] {
  const out: MeterMessage[] = [];
  for (let at = T0 + 15 * MINUTE_MS; at <= T0 + days * DAY_MS; at += 15 * MINUTE_MS)
    out.push(...t.messagesUntil(at));
  return out;
}

const readingsOf = (messages: MeterMessage[]) =>
  messages.flatMap((m) => {
    const parsed = ReadingPayload.parse(JSON.parse(String(m.payload)));
    return 'readings' in parsed ? parsed.readings : [parsed];
  });

describe('MeterTransmitter', () => {
  it('sends each reading of a 15-minute or hourly meter as its own message', () => {
    expect(run(transmitter('15min'), 2)).toHaveLength(2 * 96);
    const hourly = run(transmitter('hourly'), 2);
    expect(hourly).toHaveLength(48);
    expect(hourly.every((m) => m.kind === 'reading' && m.readings === 1)).toBe(true);
  });

  it('uploads a daily-batch meter’s hourly readings once a day, between 01:00 and 05:00, as one batch', () => {
    const t = transmitter('daily-batch');
    const sent: { at: number; m: MeterMessage }[] = [];
    for (let at = T0 + 15 * MINUTE_MS; at <= T0 + 3 * DAY_MS; at += 15 * MINUTE_MS) {
      for (const m of t.messagesUntil(at)) sent.push({ at, m });
    }
    expect(sent).toHaveLength(3);
    for (const { at, m } of sent) {
      expect(m.kind).toBe('batch');
      const hour = localTime.minuteOfDay(at) / 60;
      expect(hour).toBeGreaterThanOrEqual(1);
      expect(hour).toBeLessThanOrEqual(5.25);
      expect(readingsOf([m]).every((r) => r.ts <= at)).toBe(true);
    }
    expect(readingsOf(sent.map((s) => s.m))).toHaveLength(
      readingsOf(run(transmitter('hourly'), 3)).filter((r) => r.ts <= sent[2]!.at).length,
    );
    expect(t.lastTransmissionBefore(T0 + 2 * DAY_MS + 12 * HOUR_MS)).toBe(
      T0 + 2 * DAY_MS + t.uploadMinute * MINUTE_MS,
    );
  });

  it('tells when careflow knows the interval between its messages: from the second one on', () => {
    const daily = transmitter('daily-batch');
    const first = T0 + daily.uploadMinute * MINUTE_MS;
    expect(daily.intervalKnownAt(first)).toBeNull();
    expect(daily.intervalKnownAt(first + DAY_MS)).toBe(DAY_MS);
    const hourly = transmitter('hourly');
    const firstReading = readingsOf(run(transmitter('hourly'), 1))[0]!.ts;
    expect(hourly.intervalKnownAt(firstReading)).toBeNull();
    expect(hourly.intervalKnownAt(firstReading + HOUR_MS)).toBe(HOUR_MS);
  });

  it('makes no upload while a daily-batch meter is silent; what it read before waits for the next upload', () => {
    const start = T0 + DAY_MS + 6 * HOUR_MS;
    const t = transmitter('daily-batch', [{ type: 'silent', start, durationMinutes: 36 * 60 }]);
    const sent: number[] = [];
    for (let at = T0 + 15 * MINUTE_MS; at <= T0 + 4 * DAY_MS; at += 15 * MINUTE_MS) {
      for (const m of t.messagesUntil(at)) sent.push(at, readingsOf([m]).length);
    }
    const upload = (day: number) => T0 + day * DAY_MS + t.uploadMinute * MINUTE_MS;
    // Uploads on days 0, 1 and 3; day 2's upload (inside the silence) does not happen.
    const days = sent
      .filter((_, i) => i % 2 === 0)
      .map((at) => localTime.dayNumber(at) - localTime.dayNumber(T0));
    expect(days).toEqual([0, 1, 3]);
    // Day 3's upload carries the readings from day 1's upload to 06:00 and from the end of the silence on.
    const hoursBefore = Math.floor((start - upload(1)) / HOUR_MS) + 1;
    const hoursAfter = Math.floor((upload(3) - (start + 36 * HOUR_MS)) / HOUR_MS) + 1;
    expect(sent[5]).toBeGreaterThanOrEqual(hoursBefore + hoursAfter - 2);
    expect(sent[5]).toBeLessThanOrEqual(hoursBefore + hoursAfter);
  });

  it('sends every message twice during a duplicates fault', () => {
    const start = T0 + DAY_MS;
    const messages = run(transmitter('hourly', [{ type: 'duplicates', start, durationHours: 6 }]), 2);
    expect(messages).toHaveLength(48 + 6);
    const ts = readingsOf(messages).map((r) => r.ts);
    expect(new Set(ts).size).toBe(48);
  });

  it('delivers each message after the next one during an out-of-order fault', () => {
    const start = T0 + DAY_MS;
    const ts = readingsOf(
      run(transmitter('hourly', [{ type: 'out-of-order', start, durationHours: 4 }]), 2),
    ).map((r) => r.ts);
    expect([...ts].sort((a, b) => a - b)).toEqual(readingsOf(run(transmitter('hourly'), 2)).map((r) => r.ts));
    const swapped = ts.filter((t, i) => i > 0 && t < ts[i - 1]!);
    expect(swapped.length).toBe(2);
  });

  it('adds payloads careflow must refuse during a garbage fault, and keeps every good reading', () => {
    const start = T0 + DAY_MS;
    const messages = run(
      transmitter('hourly', [{ type: 'garbage', start, durationHours: 12, everyMessages: 2 }]),
      2,
    );
    const garbage = messages.filter((m) => m.kind === 'garbage');
    expect(garbage).toHaveLength(6);
    for (const g of garbage) {
      let json: unknown;
      try {
        json = JSON.parse(String(g.payload));
      } catch {
        continue; // not JSON: refused as malformed
      }
      expect(ReadingPayload.safeParse(json).success).toBe(false);
    }
    expect(readingsOf(messages.filter((m) => m.kind !== 'garbage'))).toEqual(
      readingsOf(run(transmitter('hourly'), 2)),
    );
  });

  it('is deterministic: the same seed sends the same messages', () => {
    const faults: ScenarioInput[] = [{ type: 'garbage', start: T0 + DAY_MS, durationHours: 24 }];
    expect(run(transmitter('daily-batch', faults, 9), 3)).toEqual(
      run(transmitter('daily-batch', faults, 9), 3),
    );
    expect(run(transmitter('15min', [], 9), 1)).not.toEqual(run(transmitter('15min', [], 10), 1));
  });
});
