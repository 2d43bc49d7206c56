import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, HOUR, startTestService, T0, testRegistry, type TestService } from './harness.ts';

/** `POST /api/ingest/readings` on the real service: scope, per-reading verdicts, durability of the answer. */
let svc: TestService;

async function createKey(body: Record<string, unknown>) {
  const res = await svc.cf.http.inject({
    method: 'POST',
    url: '/api/api-keys',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: body,
  });
  return { status: res.statusCode, key: (res.json() as { key?: string }).key, body: res.json() as unknown };
}

function post(key: string, readings: unknown[]) {
  return svc.cf.http.inject({
    method: 'POST',
    url: '/api/ingest/readings',
    headers: { authorization: `Bearer ${key}` },
    payload: { readings },
  });
}

interface Answer {
  accepted: number;
  duplicate: number;
  refused: number;
  results: {
    index: number;
    meterId: string | null;
    status: string;
    code?: string;
    field?: string;
    kind?: string;
  }[];
}

beforeAll(async () => {
  svc = await startTestService({ registry: testRegistry(2) });
  svc.clock.advanceTo(T0 + 4 * HOUR);
});
afterAll(async () => svc?.dispose());

describe('POST /api/ingest/readings', () => {
  it('stores the good readings of an area key, refuses bad and foreign ones with reasons, and says which', async () => {
    const { key } = await createKey({ name: 'carrier platform', role: 'ingest', grids: ['g1'] });
    const readings = [
      { meterId: 'm-g1-1', ts: T0, totalLiters: 100 },
      { meterId: 'm-g1-1', ts: new Date(T0 + HOUR).toISOString(), totalLiters: 130 },
      { meterId: 'm-g1-2', ts: T0 + 2 * HOUR, totalLiters: 50, batteryPct: 80 },
      { meterId: 'm-g1-1', ts: T0 + 2 * HOUR, totalLiters: -5 },
      { meterId: 'm-g1-2', ts: Math.floor(T0 / 1000), totalLiters: 60 },
      { meterId: 'm-g2-1', ts: T0, totalLiters: 10 },
      { meterId: 'm-nowhere', ts: T0, totalLiters: 10 },
      { ts: T0, totalLiters: 10 },
      { meterId: 'm-g1-2', ts: T0 + 99 * HOUR, totalLiters: 70 },
    ];
    const res = await post(key!, readings);
    expect(res.statusCode, res.body).toBe(200);
    const answer = res.json() as Answer;
    expect(answer.results.map((r) => [r.index, r.status, r.code ?? r.kind ?? null])).toEqual([
      [0, 'accepted', null],
      [1, 'accepted', null],
      [2, 'accepted', null],
      [3, 'refused', 'ERR_INGEST_PAYLOAD_INVALID'],
      [4, 'refused', 'ERR_INGEST_PAYLOAD_INVALID'],
      [5, 'refused', 'ERR_INGEST_METER_OUT_OF_SCOPE'],
      [6, 'refused', 'ERR_INGEST_METER_OUT_OF_SCOPE'],
      [7, 'refused', 'ERR_INGEST_PAYLOAD_INVALID'],
      [8, 'refused', 'ERR_INGEST_TIMESTAMP_FUTURE'],
    ]);
    expect(answer.results[3]!.field).toBe('readings.3.totalLiters');
    expect(answer).toMatchObject({ accepted: 3, duplicate: 0, refused: 6 });
    // Committed before the answer: the inbox has them, and the refusals are dead letters with their reasons.
    expect(svc.cf.store.inbox.countForMeter('m-g1-1')).toBe(2);
    expect(svc.cf.store.inbox.countForMeter('m-g1-2')).toBe(1);
    expect(svc.cf.store.inbox.countForMeter('m-g2-1')).toBe(0);
    const codes = svc.cf.store.deadLetters.countsByCode();
    expect(codes['ERR_INGEST_METER_OUT_OF_SCOPE']).toBe(2);
    expect(codes['ERR_INGEST_TIMESTAMP_FUTURE']).toBe(1);

    // The same batch again: nothing is counted twice.
    const again = (await post(key!, readings)).json() as Answer;
    expect(again).toMatchObject({ accepted: 0, duplicate: 3, refused: 6 });
    expect(svc.cf.ingest.stats().normalizer.accepted).toBe(3);
  });

  it('limits a key with a meter list to those meters', async () => {
    const { key } = await createKey({ name: 'one building', role: 'ingest', meters: ['m-g2-2'] });
    const answer = (
      await post(key!, [
        { meterId: 'm-g2-2', ts: T0, totalLiters: 1 },
        { meterId: 'm-g2-1', ts: T0, totalLiters: 1 },
      ])
    ).json() as Answer;
    expect(answer.results.map((r) => r.status)).toEqual(['accepted', 'refused']);
  });

  it('gives an ingest key nothing else, and nobody else but admins ingest', async () => {
    const { key } = await createKey({ name: 'platform', role: 'ingest', grids: ['g1'] });
    for (const url of ['/api/alerts', '/api/households/h-g1-1', '/api/deadletters', '/metrics']) {
      const res = await svc.cf.http.inject({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.statusCode, url).toBe(403);
    }
    const worker = await createKey({ name: 'w', role: 'grid-worker', grids: ['g1'] });
    const refused = await post(worker.key!, [{ meterId: 'm-g1-1', ts: T0, totalLiters: 1 }]);
    expect(refused.statusCode).toBe(403);
    const listForWorker = await createKey({
      name: 'x',
      role: 'grid-worker',
      grids: ['g1'],
      meters: ['m-g1-1'],
    });
    expect(listForWorker.status).toBe(400);
    const empty = await createKey({ name: 'y', role: 'ingest' });
    expect(empty.status).toBe(400);
  });

  it('refuses a request that is not a batch as a whole, and a batch over the limit', async () => {
    const { key } = await createKey({ name: 'p', role: 'ingest', grids: ['g1'] });
    expect((await post(key!, [])).statusCode).toBe(400);
    const tooMany = Array.from({ length: 10_001 }, (_, i) => ({
      meterId: 'm-g1-1',
      ts: T0 + i,
      totalLiters: i,
    }));
    expect((await post(key!, tooMany)).statusCode).toBe(400);
  });
});
