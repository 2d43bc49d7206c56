import { describe, expect, it } from 'vitest';
import { Random, deriveSeed } from './random.ts';

const draws = (rng: Random, n: number) => Array.from({ length: n }, () => rng.next());

describe('Random', () => {
  it('repeats the same sequence for the same seed and a different one for another seed', () => {
    expect(draws(new Random(42), 20)).toEqual(draws(new Random(42), 20));
    expect(draws(new Random(42), 20)).not.toEqual(draws(new Random(43), 20));
  });

  it('draws uniformly in [0, 1) with a mean near one half', () => {
    const xs = draws(new Random(7), 10_000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((a, b) => a + b) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('draws integers in an inclusive range, reaching both ends', () => {
    const rng = new Random(1);
    const seen = new Set(Array.from({ length: 1000 }, () => rng.int(3, 6)));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it('keeps triangular jitter inside its bounds and counts with the asked mean', () => {
    const rng = new Random(5);
    const jitter = Array.from({ length: 2000 }, () => rng.triangular(-30, 30));
    expect(Math.min(...jitter)).toBeGreaterThanOrEqual(-30);
    expect(Math.max(...jitter)).toBeLessThanOrEqual(30);
    const counts = Array.from({ length: 4000 }, () => rng.count(2.25));
    expect(new Set(counts)).toEqual(new Set([2, 3]));
    expect(counts.reduce((a, b) => a + b) / counts.length).toBeCloseTo(2.25, 1);
  });
});

describe('deriveSeed', () => {
  it('gives different seeds for different base seeds and for different parts', () => {
    const seeds = new Set<number>();
    for (let seed = 0; seed < 50; seed++)
      for (let day = 20_000; day < 20_020; day++) seeds.add(deriveSeed(seed, day));
    expect(seeds.size).toBe(50 * 20);
  });

  it('is a pure function of its inputs', () => {
    expect(deriveSeed(9, 20_458, 3)).toBe(deriveSeed(9, 20_458, 3));
    expect(deriveSeed(9, 20_458, 3)).not.toBe(deriveSeed(9, 20_458, 4));
  });
});
