import { describe, expect, it } from 'vitest';
import { H, M, params, run, T0 } from './normalizer-fixture.ts';
import { LocalTime } from '../core/local-time.ts';
import { reconcileMeter, type ClosedBucket, type NormalizerParams } from './normalizer.ts';

const S = 1_000;

const knownSum = (buckets: ClosedBucket[]) => buckets.reduce((s, b) => s + (b.liters ?? 0), 0);

describe('normalize: readings off bucket edges (clock drift)', () => {
  it('spreads hourly readings whose minute drifts over the two buckets each interval overlaps', () => {
    // A meter reporting at :03:26, drifting +2 s an hour, like the DAIAD meters.
    const readings: [number, number][] = [];
    let total = 117_279;
    const uses = [8, 9, 0, 0, 12, 3, 40, 5];
    readings.push([T0 + 3 * M + 26 * S, total]);
    uses.forEach((u, i) => {
      total += u;
      readings.push([T0 + (i + 1) * H + 3 * M + (26 + 2 * (i + 1)) * S, total]);
    });
    const { buckets, state } = run(readings);
    expect(buckets[0]!.liters).toBeNull(); // coverage starts inside the first hour
    // Hour k+1 (k ≥ 0) holds the tail of interval k and the head of interval k+1.
    for (let k = 0; k < uses.length - 1; k++) {
      const a = readings[k + 1]![0];
      const b = readings[k + 2]![0];
      const hourEnd = T0 + (k + 2) * H;
      const prevA = readings[k]![0];
      const tail = (uses[k]! * (a - (T0 + (k + 1) * H))) / (a - prevA);
      const head = (uses[k + 1]! * (hourEnd - a)) / (b - a);
      // Rounded to 0.001 L with the remainder carried: within 0.001 L of the exact share.
      expect(Math.abs(buckets[k + 1]!.liters! - (tail + head))).toBeLessThanOrEqual(0.001);
    }
    expect(buckets.every((b, i) => i === 0 || b.start === buckets[i - 1]!.end)).toBe(true);
    expect(Math.abs(reconcileMeter(state).residual)).toBeLessThan(1e-9);
  });

  it('carries rounding remainders so that emitted buckets add up to the register', () => {
    // 1 L every 3 h, readings on the hour: every bucket holds 1/3 L.
    const readings: [number, number][] = Array.from({ length: 301 }, (_, i) => [T0 + i * 3 * H, i]);
    const { buckets, state } = run(readings);
    expect(buckets).toHaveLength(900);
    expect(buckets.every((b) => b.liters === 0.333 || b.liters === 0.334)).toBe(true);
    expect(knownSum(buckets) + state.bucketLiters).toBeCloseTo(300, 9);
  });
});

describe('normalize: the ledger accounts for every liter', () => {
  const cases: [string, [number, number][], Partial<NormalizerParams>?][] = [
    [
      'accepted, duplicate, late',
      [
        [T0 + 10 * M, 50],
        [T0 + H, 55],
        [T0 + H, 55],
        [T0 + 30 * M, 52],
        [T0 + 2 * H + 7 * M, 70],
      ],
    ],
    [
      'a gap',
      [
        [T0, 0],
        [T0 + H, 10],
        [T0 + 9 * H + 20 * M, 200],
        [T0 + 10 * H, 210],
      ],
    ],
    [
      'a reset',
      [
        [T0, 5000],
        [T0 + H, 5010],
        [T0 + 2 * H, 4],
        [T0 + 3 * H, 9],
      ],
    ],
    [
      'a rollover',
      [
        [T0, 99_900],
        [T0 + H, 99_990],
        [T0 + 2 * H, 5],
      ],
      { rolloverLiters: 100_000 },
    ],
    [
      'a spike that reverts and a drop that is not a reset',
      [
        [T0, 100],
        [T0 + H, 248_620],
        [T0 + 2 * H, 104],
        [T0 + 3 * H, 50],
        [T0 + 4 * H, 110],
      ],
    ],
    [
      'a rebase',
      [
        [T0, 100],
        [T0 + H, 110],
        [T0 + 2 * H + 5 * M, 500_000],
        [T0 + 3 * H, 500_007],
      ],
    ],
    [
      'a very long gap',
      [
        [T0, 0],
        [T0 + H, 1],
        [T0 + 60 * 24 * H, 50],
        [T0 + 60 * 24 * H + 90 * M, 53],
      ],
    ],
    [
      'a trailing glitch',
      [
        [T0, 10],
        [T0 + H, 20],
        [T0 + 2 * H, 900_000],
      ],
    ],
  ];

  for (const [name, readings, over] of cases) {
    it(`balances ${name}`, () => {
      const { state, buckets } = run(readings, params(over));
      const r = reconcileMeter(state);
      expect(Math.abs(r.residual)).toBeLessThan(1e-9);
      const stranded = buckets.reduce((s, b) => s + b.strandedLiters, 0);
      expect(state.ledger!.knownLiters).toBeCloseTo(knownSum(buckets), 9);
      expect(state.ledger!.strandedLiters).toBeCloseTo(stranded, 9);
      expect(buckets.every((b) => b.liters === null || b.liters >= 0)).toBe(true);
    });
  }

  it('books a reset as −(register before it) and a rollover as −(rollover value)', () => {
    const reset = run([
      [T0, 5000],
      [T0 + H, 4],
    ]).state;
    expect(reset.ledger).toMatchObject({ firstTotal: 5000, knownLiters: 4, jumpLiters: -5000 });
    const rollover = run(
      [
        [T0, 99_990],
        [T0 + H, 5],
      ],
      params({ rolloverLiters: 100_000 }),
    ).state;
    expect(rollover.ledger).toMatchObject({ knownLiters: 15, jumpLiters: -100_000 });
  });

  it('books a rebase jump and the gap total separately from bucket usage', () => {
    const { state } = run([
      [T0, 0],
      [T0 + H, 10],
      [T0 + 2 * H, 400_000],
      [T0 + 3 * H, 400_006],
      [T0 + 12 * H, 400_106],
    ]);
    expect(state.ledger).toMatchObject({ knownLiters: 16, jumpLiters: 399_990, gapLiters: 100 });
  });

  it('keeps buckets unknown when a reset or a post-rebase interval spans a gap', () => {
    const reset = run([
      [T0, 5000],
      [T0 + H, 5010],
      [T0 + 10 * H, 40],
    ]);
    expect(reset.events[2]).toBe('reset');
    expect(reset.buckets.slice(1).every((b) => b.liters === null)).toBe(true);
    expect(reset.state.ledger!.gapLiters).toBe(40);

    const rebase = run([
      [T0, 100],
      [T0 + H, 110],
      [T0 + 2 * H, 500_000],
      [T0 + 12 * H, 500_040],
    ]);
    expect(rebase.events[3]).toBe('rebase');
    expect(rebase.buckets.slice(1).every((b) => b.liters === null)).toBe(true);
  });

  it('does not unwrap a drop from above the configured rollover value (negative usage)', () => {
    const { events } = run(
      [
        [T0, 120_000],
        [T0 + H, 5],
      ],
      params({ rolloverLiters: 100_000, resetNearZeroLiters: 0 }),
    );
    expect(events[1]).toBe('glitch-drop');
  });

  it('balances a long random history with every kind of event, with contiguous buckets and none negative', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const readings: [number, number][] = [];
    let ts = T0 + 17 * M;
    let total = 80_000;
    for (let i = 0; i < 5_000; i++) {
      ts += rnd() < 0.02 ? Math.round(rnd() * 40 * H) : Math.round((50 + rnd() * 20) * M);
      const x = rnd();
      if (x < 0.01)
        total = Math.round(rnd() * 90); // reset
      else if (x < 0.02)
        total += 248_520; // a jump that stays
      else total += Math.round(rnd() * 30 * 1000) / 1000;
      const y = rnd();
      if (y < 0.01)
        readings.push([ts, total + 248_520]); // spike that reverts
      else if (y < 0.02)
        readings.push([ts - 3 * H, total]); // late
      else if (y < 0.03)
        readings.push([ts, total - 5]); // drop that is not a reset
      else readings.push([ts, total]);
      if (rnd() < 0.01) readings.push([ts, total]); // duplicate
    }
    const p = params({ localTime: new LocalTime('Europe/Madrid', 15) });
    const { state, buckets, events } = run(readings, p);
    expect(new Set(events)).toEqual(
      new Set(['accepted', 'duplicate', 'late', 'glitch-flow', 'glitch-drop', 'reset', 'rebase', 'gap']),
    );
    expect(Math.abs(reconcileMeter(state).residual)).toBeLessThan(1e-6);
    expect(buckets.every((b) => b.liters === null || b.liters >= 0)).toBe(true);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.start).toBe(buckets[i - 1]!.end);
  });
});
