import { describe, expect, it } from 'vitest';
import { MeterReading } from '../core/readings.ts';
import { fastReading } from './parse-payload.ts';

/** The fast path may only ever say what the schema says: same readings accepted, same values. */
function agrees(item: unknown): void {
  const fast = fastReading(item);
  if (fast === undefined) return;
  const schema = MeterReading.safeParse(item);
  expect(schema.success, JSON.stringify(item)).toBe(true);
  expect(fast, JSON.stringify(item)).toEqual(schema.data);
}

let seed = 7;
const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const DATES = [
  '2026-01-05',
  '2026-02-28',
  '2026-02-29',
  '2024-02-29',
  '2026-02-30',
  '2026-04-31',
  '2026-13-01',
  '1999-12-31',
];
const TIMES = [
  '00:00:00',
  '08:00:00',
  '23:59:59',
  '24:00:00',
  '23:60:00',
  '23:59:60',
  '12:00',
  '12:00:00.5',
  '12:00:00.123456',
];
const ZONES = ['Z', '+08:00', '-03:30', '+24:00', '+08:60', '', 'z', '+0800', ' +08:00'];

describe('fastReading', () => {
  it('takes the common reading without the schema', () => {
    expect(fastReading({ ts: 1_767_571_200_000, totalLiters: 48_211.5 })).toEqual({
      ts: 1_767_571_200_000,
      totalLiters: 48_211.5,
    });
    expect(fastReading(JSON.parse('{"ts":"2026-01-05T08:00:00+08:00","totalLiters":0}'))).toEqual({
      ts: Date.UTC(2026, 0, 5),
      totalLiters: 0,
    });
  });

  it('leaves everything it is not sure of to the schema', () => {
    for (const item of [
      { ts: 1_767_571_200_000, totalLiters: 1, flowLpm: 2 },
      { ts: 1_767_571_200, totalLiters: 1 },
      { ts: '2026-02-30T00:00:00Z', totalLiters: 1 },
      { ts: '2026-01-05T24:00:00Z', totalLiters: 1 },
      { ts: 1_767_571_200_000, totalLiters: -1 },
      { ts: 1_767_571_200_000 },
      JSON.parse('{"ts":1767571200000,"totalLiters":1,"__proto__":{}}'),
      [1, 2],
    ]) {
      expect(fastReading(item), JSON.stringify(item)).toBeUndefined();
    }
  });

  it('agrees with the schema on the edges of its bounds', () => {
    const edges = [
      Date.UTC(2000, 0, 1) - 1,
      Date.UTC(2000, 0, 1),
      Date.UTC(2100, 0, 1) - 1,
      Date.UTC(2100, 0, 1),
      946_684_800,
      946_684_801,
      4_102_444_799,
      4_102_444_800,
      0,
      -5,
      1.5,
    ];
    for (const ts of edges)
      for (const totalLiters of [0, -0, 1e12, 1e12 + 1, 3.25]) agrees({ ts, totalLiters });
    for (const ts of [
      '1999-12-31T23:59:59.999Z',
      '2000-01-01T00:00:00Z',
      '2099-12-31T23:59:59Z',
      '2100-01-01T00:00:00Z',
    ])
      agrees({ ts, totalLiters: 1 });
  });

  it('agrees with the schema on thousands of generated timestamps', () => {
    let taken = 0;
    for (let i = 0; i < 5_000; i++) {
      const ts = `${pick(DATES)}T${pick(TIMES)}${pick(ZONES)}`;
      const item = { ts, totalLiters: Math.round(rnd() * 1e6) / 100 };
      agrees(item);
      if (fastReading(item)) taken++;
      // And every timestamp the schema accepts, the fast path takes.
      if (MeterReading.safeParse(item).success) expect(fastReading(item), ts).toBeDefined();
    }
    expect(taken).toBeGreaterThan(200);
  });
});
