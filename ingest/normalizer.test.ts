import { describe, expect, it } from 'vitest';
import { H, M, params, run, T0 } from './normalizer-fixture.ts';
import { advance, initialMeterState, normalize } from './normalizer.ts';
import { LocalTime } from '../core/local-time.ts';

describe('normalize', () => {
  it('turns hourly readings on bucket edges into known buckets of their differences', () => {
    const { buckets, events } = run([
      [T0, 1000],
      [T0 + H, 1010],
      [T0 + 2 * H, 1010],
      [T0 + 3 * H, 1025.5],
    ]);
    expect(events).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    expect(buckets.map((b) => b.liters)).toEqual([10, 0, 15.5]);
    expect(buckets[0]).toMatchObject({ start: T0, end: T0 + H });
  });

  it('spreads an interval over buckets in proportion to overlap', () => {
    const { buckets } = run([
      [T0, 0],
      [T0 + 30 * M, 0],
      [T0 + 90 * M, 60],
      [T0 + 2 * H, 90],
    ]);
    // 60 L over 00:30-01:30 → 30 L in each hour; 30 L in 01:30-02:00.
    expect(buckets.map((b) => b.liters)).toEqual([30, 60]);
  });

  it('leaves the first bucket unknown when coverage starts inside it', () => {
    const { buckets } = run([
      [T0 + 10 * M, 0],
      [T0 + H, 5],
      [T0 + 2 * H, 9],
    ]);
    expect(buckets.map((b) => b.liters)).toEqual([null, 4]);
  });

  it('marks the buckets of a gap unknown, never zero, and reports the gap', () => {
    const { buckets, events } = run([
      [T0, 0],
      [T0 + H, 10],
      [T0 + 9 * H, 200],
      [T0 + 10 * H, 210],
    ]);
    expect(events[2]).toBe('gap');
    expect(buckets.map((b) => b.liters)).toEqual([10, null, null, null, null, null, null, null, null, 10]);
  });

  it('ignores duplicates and records late readings without re-bucketing', () => {
    const { buckets, events } = run([
      [T0, 0],
      [T0 + H, 10],
      [T0 + H, 10],
      [T0 + 30 * M, 3],
      [T0 + 2 * H, 20],
    ]);
    expect(events).toEqual(['accepted', 'accepted', 'duplicate', 'late', 'accepted']);
    expect(buckets.map((b) => b.liters)).toEqual([10, 10]);
  });

  it('treats a drop to near zero as a reset counted from zero', () => {
    const { buckets, events } = run([
      [T0, 5000],
      [T0 + H, 5010],
      [T0 + 2 * H, 4],
    ]);
    expect(events[2]).toBe('reset');
    expect(buckets.map((b) => b.liters)).toEqual([10, 4]);
  });

  it('unwraps a register that rolls over at its configured value', () => {
    const { buckets, events } = run(
      [
        [T0, 99_990],
        [T0 + H, 5],
      ],
      params({ rolloverLiters: 100_000 }),
    );
    expect(events[1]).toBe('rollover');
    expect(buckets.map((b) => b.liters)).toEqual([15]);
  });

  it('drops a spike that reverts and keeps counting from the last good reading', () => {
    const { buckets, events } = run([
      [T0, 100],
      [T0 + H, 248_620],
      [T0 + 2 * H, 104],
      [T0 + 3 * H, 110],
    ]);
    expect(events).toEqual(['accepted', 'glitch-flow', 'accepted', 'accepted']);
    expect(buckets.map((b) => b.liters)).toEqual([2, 2, 6]);
  });

  it('drops a drop that is not a reset', () => {
    const { events, buckets } = run([
      [T0, 5000],
      [T0 + H, 4000],
      [T0 + 2 * H, 5003],
    ]);
    expect(events).toEqual(['accepted', 'glitch-drop', 'accepted']);
    expect(buckets.map((b) => b.liters)).toEqual([1.5, 1.5]);
  });

  it('rebases on a jump that does not revert, leaving the jump interval unknown', () => {
    const { buckets, events, state } = run([
      [T0, 100],
      [T0 + H, 110],
      [T0 + 2 * H, 500_000],
      [T0 + 3 * H, 500_007],
    ]);
    expect(events).toEqual(['accepted', 'accepted', 'glitch-flow', 'rebase']);
    expect(buckets.map((b) => b.liters)).toEqual([10, null, 7]);
    expect(state.lastTotal).toBe(500_007);
  });

  it('buckets by local time in the configured zone and size', () => {
    const p = params({ localTime: new LocalTime('Asia/Kolkata', 60) });
    // Kolkata is +05:30: local hours start at UTC :30.
    const start = Date.UTC(2026, 0, 5, 0, 30);
    const { buckets } = run(
      [
        [start, 0],
        [start + H, 8],
      ],
      p,
    );
    expect(buckets).toHaveLength(1);
    expect(buckets[0]!.start).toBe(start);
    expect(new LocalTime('Asia/Kolkata', 60).minuteOfDay(buckets[0]!.start)).toBe(6 * 60);
  });

  it('supports 15-minute buckets', () => {
    const p = params({ localTime: new LocalTime('Asia/Shanghai', 15) });
    const { buckets } = run(
      [
        [T0, 0],
        [T0 + H, 40],
      ],
      p,
    );
    expect(buckets.map((b) => b.liters)).toEqual([10, 10, 10, 10]);
  });

  it('caps the unknown buckets of a very long gap but keeps the buckets around it', () => {
    const { buckets } = run([
      [T0, 0],
      [T0 + H, 1],
      [T0 + 60 * 24 * H, 50],
      [T0 + 60 * 24 * H + H, 53],
    ]);
    expect(buckets[0]!.liters).toBe(1);
    expect(buckets.at(-1)).toMatchObject({ liters: 3, start: T0 + 60 * 24 * H });
    expect(buckets.length).toBeLessThan(24 * 4 * 8 + 5);
    expect(buckets.slice(1, -1).every((b) => b.liters === null)).toBe(true);
  });
});

describe('advance: normalize in place, for the owner of the state', () => {
  it('gives what normalize gives, reading after reading, and normalize leaves its input as it was', () => {
    const p = params({ rolloverLiters: 100_000 });
    // A meter's life with every kind of step: use, duplicates, late readings, glitches, a jump, a reset, a
    // rollover and a gap (a fixed pseudo-random walk, so that the run is the same every time).
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const readings: [number, number][] = [];
    let ts = T0 + 7 * M;
    let total = 99_000;
    for (let k = 0; k < 400; k++) {
      const r = next();
      if (r < 0.05)
        readings.push([ts, total]); // duplicate
      else if (r < 0.08)
        readings.push([ts - 30 * M, total - 1]); // late
      else if (r < 0.11)
        readings.push([ts + 5 * M, total - 500]); // glitch (drop)
      else if (r < 0.12)
        readings.push([ts + 5 * M, (total = 3)]); // reset
      else if (r < 0.13)
        readings.push([(ts += 9 * H), (total += 40)]); // gap
      else if (r < 0.15)
        readings.push([(ts += 20 * M), (total += 50_000)]); // jump, then consistent
      else
        readings.push([(ts += Math.round(10 + 20 * next()) * M), (total = (total + 30 * next()) % 100_000)]);
    }
    let pure = initialMeterState();
    const moved = initialMeterState();
    for (const [t, v] of readings) {
      const before = JSON.stringify(pure);
      const a = normalize(pure, { ts: t, totalLiters: v }, p);
      expect(JSON.stringify(pure)).toBe(before);
      const b = advance(moved, { ts: t, totalLiters: v }, p);
      expect(b.state).toBe(moved);
      expect(b.buckets).toEqual(a.buckets);
      expect(b.event).toEqual(a.event);
      expect(moved).toEqual(a.state);
      pure = a.state;
    }
    // The walk went through every kind of step.
    expect(new Set(run(readings, p).events)).toEqual(
      new Set([
        'accepted',
        'duplicate',
        'gap',
        'glitch-drop',
        'glitch-flow',
        'late',
        'rebase',
        'reset',
        'rollover',
      ]),
    );
  });
});
