import { describe, expect, it } from 'vitest';
import { MeterRateLimiter } from './meter-rate-limiter.ts';

const MIN = 60_000;

describe('MeterRateLimiter', () => {
  it('lets a full bucket through at once, then only the refill', () => {
    const limiter = new MeterRateLimiter(60, 60);
    expect(limiter.take('m1', 50, 0)).toBe(50);
    expect(limiter.take('m1', 50, 0)).toBe(10);
    expect(limiter.take('m1', 5, 1_000)).toBe(1); // one reading a second
    expect(limiter.take('m1', 100, 1_000 + MIN)).toBe(60); // never more than the burst
  });

  it('keeps one allowance per meter', () => {
    const limiter = new MeterRateLimiter(10, 10);
    expect(limiter.take('a', 20, 0)).toBe(10);
    expect(limiter.take('b', 20, 0)).toBe(10);
    expect(limiter.take('a', 1, 0)).toBe(0);
  });

  it('refills continuously, with fractions carried', () => {
    const limiter = new MeterRateLimiter(6, 6); // one per 10 s
    limiter.take('m', 6, 0);
    expect(limiter.take('m', 1, 5_000)).toBe(0);
    expect(limiter.take('m', 1, 10_000)).toBe(1);
    expect(limiter.take('m', 1, 19_999)).toBe(0);
    expect(limiter.take('m', 1, 20_000)).toBe(1);
  });

  it('warns about a meter at most once a minute', () => {
    const limiter = new MeterRateLimiter(1, 1);
    limiter.take('m', 2, 0);
    expect(limiter.shouldWarn('m', 0)).toBe(true);
    expect(limiter.shouldWarn('m', 30_000)).toBe(false);
    expect(limiter.shouldWarn('m', MIN)).toBe(true);
  });
});
