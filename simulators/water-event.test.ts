import { describe, expect, it } from 'vitest';
import { cutSpan, litersInRange, litersOverlapping, type WaterEvent } from './water-event.ts';

const shower: WaterEvent = { start: 1000, end: 2000, liters: 80, kind: 'shower' };

describe('water events', () => {
  it('counts the share of an event that falls in a range', () => {
    expect(litersOverlapping(shower, 0, 1500)).toBeCloseTo(40);
    expect(litersOverlapping(shower, 1250, 1500)).toBeCloseTo(20);
    expect(litersOverlapping(shower, 2000, 3000)).toBe(0);
    expect(litersInRange([shower, { ...shower, start: 1500, end: 2500 }], 1000, 2000)).toBeCloseTo(120);
  });

  it('cuts a span out of an event, keeping each piece its share of the liters', () => {
    expect(cutSpan(shower, { start: 1200, end: 1700 })).toEqual([
      { start: 1000, end: 1200, liters: 16, kind: 'shower' },
      { start: 1700, end: 2000, liters: 24, kind: 'shower' },
    ]);
    expect(cutSpan(shower, { start: 0, end: Infinity })).toEqual([]);
    expect(cutSpan(shower, { start: 2000, end: 3000 })).toEqual([shower]);
  });
});
