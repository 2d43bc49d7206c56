import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH, HOUR, T0, startFixture, type Fixture } from '../test-fixture.ts';

let f: Fixture;
beforeEach(async () => {
  f = await startFixture();
});
afterEach(async () => {
  await f.close();
});

function get(url: string) {
  return f.app.inject({ method: 'GET', url, headers: AUTH });
}

interface UsageBody {
  householdId: string;
  bucketMinutes: number;
  from: number;
  to: number;
  buckets: { start: number; end: number; liters: number | null }[];
}

describe('GET /api/households/:id', () => {
  it('returns the household and the workers of its grid, without secrets', async () => {
    const res = await get('/api/households/H1');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      household: {
        id: 'H1',
        gridCode: 'G1',
        address: 'Building 3, Unit 2, Room 101',
        livesAlone: true,
        elderly: true,
        awayUntil: null,
        notes: 'lives alone, 72',
      },
      workers: [{ id: 'w-li', name: 'Li Na', role: 'grid-worker', grids: ['G1'] }],
    });
    expect(res.body).not.toContain('not-a-real-hash');
  });

  it('answers an unknown household with 404 ERR_HOUSEHOLD_NOT_FOUND', async () => {
    const res = await get('/api/households/H404');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ code: 'ERR_HOUSEHOLD_NOT_FOUND', message: 'No household H404' });
  });
});

describe('GET /api/households/:id/usage', () => {
  beforeEach(() => {
    f.store.usage.upsert({ householdId: 'H1', start: T0 - 3 * HOUR, end: T0 - 2 * HOUR, liters: 5.5 });
    f.store.usage.upsert({ householdId: 'H1', start: T0 - 2 * HOUR, end: T0 - HOUR, liters: null });
    // T0 - 1 h .. T0: nothing stored (a gap), so unknown as well.
    f.store.usage.upsert({ householdId: 'H2', start: T0 - HOUR, end: T0, liters: 99 });
  });

  it('returns the stored buckets, and unknown or missing buckets as null', async () => {
    const res = await get(`/api/households/H1/usage?from=${T0 - 3 * HOUR}&to=${T0}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      householdId: 'H1',
      bucketMinutes: 60,
      from: T0 - 3 * HOUR,
      to: T0,
      buckets: [
        { start: T0 - 3 * HOUR, end: T0 - 2 * HOUR, liters: 5.5 },
        { start: T0 - 2 * HOUR, end: T0 - HOUR, liters: null },
        { start: T0 - HOUR, end: T0, liters: null },
      ],
    });
  });

  it('accepts ISO 8601 times with a zone', async () => {
    const res = await get(
      '/api/households/H1/usage?from=2026-01-05T05:00:00%2B08:00&to=2026-01-05T00:00:00Z',
    );
    expect(res.statusCode).toBe(200);
    const body = res.json() as UsageBody;
    expect([body.from, body.to]).toEqual([T0 - 3 * HOUR, T0]);
    expect(body.buckets.map((b) => b.liters)).toEqual([5.5, null, null]);
  });

  it('defaults to the 48 hours before now', async () => {
    const res = await get('/api/households/H1/usage');
    expect(res.statusCode).toBe(200);
    const body = res.json() as UsageBody;
    expect([body.from, body.to]).toEqual([T0 - 48 * HOUR, T0]);
    expect(body.buckets).toHaveLength(48);
    expect(body.buckets[0]?.start).toBe(T0 - 48 * HOUR);
    expect(body.buckets.filter((b) => b.liters !== null)).toEqual([
      { start: T0 - 3 * HOUR, end: T0 - 2 * HOUR, liters: 5.5 },
    ]);
  });

  it('with from alone, ends 48 hours later or now, whichever is first', async () => {
    const recent = (await get(`/api/households/H1/usage?from=${T0 - 3 * HOUR}`)).json() as UsageBody;
    expect([recent.from, recent.to]).toEqual([T0 - 3 * HOUR, T0]);
    const older = (await get(`/api/households/H1/usage?from=${T0 - 100 * HOUR}`)).json() as UsageBody;
    expect([older.from, older.to]).toEqual([T0 - 100 * HOUR, T0 - 52 * HOUR]);
    expect(older.buckets).toHaveLength(48);
  });

  it.each([
    ['a date without a zone', 'from=2026-01-05T08:00:00', 'from'],
    ['a date only', 'to=2026-01-05', 'to'],
    ['from after to', `from=${T0}&to=${T0 - HOUR}`, 'to'],
    ['a range over 93 days', `from=${T0 - 94 * 24 * HOUR}&to=${T0}`, 'to'],
    ['an unknown parameter', 'since=1', '(root)'],
  ])('refuses %s with 400 ERR_API_VALIDATION naming the field', async (_label, query, path) => {
    const res = await get(`/api/households/H1/usage?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_API_VALIDATION');
    expect(res.json().issues[0].path).toBe(path);
  });

  it('answers an unknown household with 404 ERR_HOUSEHOLD_NOT_FOUND', async () => {
    const res = await get('/api/households/H404/usage');
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('ERR_HOUSEHOLD_NOT_FOUND');
  });
});
