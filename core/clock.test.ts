import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from './clock.ts';

const START = Date.UTC(2026, 0, 5, 0, 0, 0);

describe('ManualClock', () => {
  it('starts at the given time and moves only when told to', () => {
    const clock = new ManualClock(START);
    expect(clock.now()).toBe(START);
    clock.advance(1_500);
    expect(clock.now()).toBe(START + 1_500);
    clock.advanceTo(START + 60_000);
    expect(clock.now()).toBe(START + 60_000);
  });

  it('fires due timers in order of due time, each at its due time', () => {
    const clock = new ManualClock(START);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['c', clock.now()]), 3_000);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 1_000);
    clock.setTimeout(() => fired.push(['b', clock.now()]), 2_000);
    clock.setTimeout(() => fired.push(['late', clock.now()]), 10_000);

    clock.advance(5_000);

    expect(fired).toEqual([
      ['a', START + 1_000],
      ['b', START + 2_000],
      ['c', START + 3_000],
    ]);
    expect(clock.now()).toBe(START + 5_000);
    expect(clock.pendingTimers()).toBe(1);
  });

  it('fires timers due at the same time in the order they were created', () => {
    const clock = new ManualClock(START);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('first'), 1_000);
    clock.setTimeout(() => fired.push('second'), 1_000);

    clock.advance(1_000);

    expect(fired).toEqual(['first', 'second']);
  });

  it('fires a timer set by another timer within the same advance, at its own due time', () => {
    const clock = new ManualClock(START);
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 500);
    }, 1_000);

    clock.advance(2_000);

    expect(fired).toEqual([START + 1_000, START + 1_500]);
  });

  it('repeats intervals at every period until cancelled', () => {
    const clock = new ManualClock(START);
    const ticks: number[] = [];
    const handle = clock.setInterval(() => ticks.push(clock.now() - START), 1_000);

    clock.advance(3_500);
    expect(ticks).toEqual([1_000, 2_000, 3_000]);

    clock.advance(500);
    expect(ticks).toEqual([1_000, 2_000, 3_000, 4_000]);

    handle.cancel();
    clock.advance(10_000);
    expect(ticks).toHaveLength(4);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('lets an interval cancel itself from its own callback', () => {
    const clock = new ManualClock(START);
    let count = 0;
    const handle = clock.setInterval(() => {
      if (++count === 2) handle.cancel();
    }, 100);

    clock.advance(1_000);

    expect(count).toBe(2);
  });

  it('does not fire a cancelled timeout', () => {
    const clock = new ManualClock(START);
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 1_000);

    handle.cancel();
    clock.advance(5_000);

    expect(fired).toBe(false);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('cannot go back in time', () => {
    const clock = new ManualClock(START);
    clock.advance(1_000);
    expect(() => clock.advanceTo(START)).toThrow(RangeError);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(clock.now()).toBe(START + 1_000);
  });
});

describe('systemClock', () => {
  it('reads the system time', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('runs and cancels real timers', async () => {
    let cancelledFired = false;
    systemClock.setTimeout(() => (cancelledFired = true), 1).cancel();
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 5));
    expect(cancelledFired).toBe(false);
  });
});

describe('ManualClock.rebase', () => {
  it('moves time without firing the timers in between, keeping their offsets', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setInterval(() => fired.push(clock.now()), 1_000);
    clock.setTimeout(() => fired.push(-clock.now()), 2_500);
    clock.rebase(1_000_000);
    expect(fired).toEqual([]);
    clock.advance(3_000);
    expect(fired).toEqual([1_001_000, 1_002_000, -1_002_500, 1_003_000]);
    expect(() => clock.rebase(5)).toThrow(RangeError);
  });
});
