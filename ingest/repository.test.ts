import { afterEach, expect, it } from 'vitest';
import type { Mode } from '../core/repository.ts';
import { eachBackend, type Backend } from '../test/repositories/backends.ts';
import { PgIngestRepository } from './postgres-repository.ts';
import type { InboxSubmission, IngestRepository, NewDeadLetter } from './repository.ts';
import { SqliteIngestRepository } from './sqlite-repository.ts';

/** One behavioural suite for ingest's repository, run against the embedded SQLite store and PostgreSQL. */
eachBackend("ingest's repository", (fresh) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });
  async function open(): Promise<IngestRepository<Mode>> {
    backend = await fresh();
    return backend.store
      ? new SqliteIngestRepository(backend.store)
      : await PgIngestRepository.open(backend.pool!);
  }
  const letter = (meterId: string | null, code: string): NewDeadLetter => ({
    receivedAt: 1_000,
    meterId,
    topic: meterId ? `meters/${meterId}/readings` : null,
    code,
    message: `rejected: ${code}`,
    field: 'totalLiters',
    excerpt: '{"totalLiters":-1}',
  });
  const submission = (meterId: string, at: number, values: number[]): InboxSubmission => ({
    meterId,
    receivedAt: at,
    readings: values.map((v, i) => ({ ts: at - 60_000 * (values.length - i), totalLiters: v })),
    deadLetters: [],
  });

  it('starts empty: no readings, no cursor, no states', async () => {
    const repo = await open();
    expect(await repo.maxSeq()).toBe(0);
    expect(await repo.lastReceivedAt()).toBe(0);
    expect(await repo.cursor()).toBe(0);
    expect(await repo.meterState('m1')).toBeUndefined();
    expect(await repo.readingsAfter(0, 10)).toEqual([]);
    expect(await repo.deadLetterCounts()).toEqual({});
  });

  it('commits submissions in order and numbers their readings in that order', async () => {
    const repo = await open();
    const T = 1_767_225_600_000; // 2026-01-01, epoch ms beyond 2^32
    const seqs = await repo.commit([submission('m1', T, [10, 10.5, 11.25]), submission('m2', T + 5, [7])]);
    expect(seqs).toHaveLength(4);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(4);
    const rows = await repo.readingsAfter(0, 10);
    expect(rows).toEqual([
      { seq: seqs[0], meterId: 'm1', ts: T - 180_000, totalLiters: 10, receivedAt: T },
      { seq: seqs[1], meterId: 'm1', ts: T - 120_000, totalLiters: 10.5, receivedAt: T },
      { seq: seqs[2], meterId: 'm1', ts: T - 60_000, totalLiters: 11.25, receivedAt: T },
      { seq: seqs[3], meterId: 'm2', ts: T + 5 - 60_000, totalLiters: 7, receivedAt: T + 5 },
    ]);
    expect(await repo.readingsAfter(seqs[1]!, 1)).toEqual([rows[2]]);
    expect(await repo.maxSeq()).toBe(seqs[3]);
    expect(await repo.lastReceivedAt()).toBe(T + 5);
    const more = await repo.commit([submission('m1', T + 10, [12])]);
    expect(more[0]).toBeGreaterThan(seqs[3]!);
  });

  it('numbers every reading of a large group commit in order, across submissions', async () => {
    const repo = await open();
    const T = 1_767_225_600_000;
    const sizes = [1, 40, 31, 33, 64, 2];
    const batch = sizes.map((n, k) =>
      submission(
        `m${k}`,
        T + k,
        Array.from({ length: n }, (_, i) => k * 1_000 + i),
      ),
    );
    const seqs = await repo.commit(batch);
    const rows = await repo.readingsAfter(0, 1_000);
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    expect(rows.map((r) => [r.meterId, r.totalLiters, r.receivedAt])).toEqual(
      batch.flatMap((s) => s.readings.map((r) => [s.meterId, r.totalLiters, s.receivedAt])),
    );
    const more = await repo.commit([submission('m9', T + 10, [1, 2, 3])]);
    expect(more).toEqual((await repo.readingsAfter(seqs[seqs.length - 1]!, 10)).map((r) => r.seq));
  });

  it('commits the dead letters of a submission with its readings', async () => {
    const repo = await open();
    await repo.commit([
      { ...submission('m1', 5_000, [1, 2]), deadLetters: [letter('m1', 'ERR_A'), letter('m1', 'ERR_B')] },
      { ...submission('m2', 5_000, []), deadLetters: [letter('m2', 'ERR_A')] },
    ]);
    await repo.addDeadLetter(letter(null, 'ERR_C'));
    expect(await repo.deadLetterCounts()).toEqual({ ERR_A: 2, ERR_B: 1, ERR_C: 1 });
    expect(await repo.deadLetterCounts({ meterId: 'm1' })).toEqual({ ERR_A: 1, ERR_B: 1 });
    expect(await repo.readingsAfter(0, 10)).toHaveLength(2);
  });

  it('stores nothing of a group commit that fails (no reading is acknowledged half-stored)', async () => {
    const repo = await open();
    await repo.commit([submission('m1', 1_000, [1])]);
    const broken = { ...letter('m2', 'ERR_A'), code: null as unknown as string };
    await expect(
      (async () =>
        repo.commit([
          submission('m2', 2_000, [5, 6]),
          { ...submission('m3', 2_000, [9]), deadLetters: [broken] },
        ]))(),
    ).rejects.toThrow();
    expect((await repo.readingsAfter(0, 10)).map((r) => r.meterId)).toEqual(['m1']);
    expect(await repo.deadLetterCounts()).toEqual({});
    expect(await repo.lastReceivedAt()).toBe(1_000);
  });

  it("finds a meter's stored readings by time for dedupe, bounds inclusive, other meters apart", async () => {
    const repo = await open();
    await repo.commit([
      {
        meterId: 'm1',
        receivedAt: 9,
        readings: [
          { ts: 100, totalLiters: 1 },
          { ts: 200, totalLiters: 2 },
        ],
        deadLetters: [],
      },
      {
        meterId: 'm1',
        receivedAt: 9,
        readings: [
          { ts: 200, totalLiters: 2.5 },
          { ts: 300, totalLiters: 3 },
        ],
        deadLetters: [],
      },
      { meterId: "m'2", receivedAt: 9, readings: [{ ts: 200, totalLiters: 99 }], deadLetters: [] },
    ]);
    const stored = await repo.storedReadings('m1', 100, 200);
    expect([...stored.entries()].sort((a, b) => a[0] - b[0])).toEqual([
      [100, [1]],
      [200, [2, 2.5]],
    ]);
    expect([...(await repo.storedReadings("m'2", 0, 1_000)).entries()]).toEqual([[200, [99]]]);
    expect((await repo.storedReadings('m1', 301, 400)).size).toBe(0);
  });

  it('upserts buckets (the last write wins) and keeps each meter event once', async () => {
    const repo = await open();
    const H = 3_600_000;
    const event = {
      meterId: 'm1',
      householdId: 'h1',
      ts: 500,
      kind: 'gap' as const,
      detail: { missedMs: 7_200_000, note: '夜间' },
    };
    await repo.saveProcessed({
      buckets: [
        { householdId: 'h1', start: 0, end: H, liters: 4.5 },
        { householdId: 'h1', start: H, end: 2 * H, liters: null },
        { householdId: 'h2', start: 0, end: H, liters: 1 },
      ],
      events: [event],
    });
    await repo.saveProcessed({
      buckets: [
        { householdId: 'h1', start: H, end: 2 * H, liters: 3 },
        { householdId: 'h1', start: 2 * H, end: 3 * H, liters: 0 },
        { householdId: 'h1', start: 2 * H, end: 3 * H, liters: 0.25 },
      ],
      events: [event, { ...event, ts: 600, kind: 'reset', detail: { from: 10, to: 0 } }],
    });
    expect(await repo.usageRange('h1', 0, 3 * H)).toEqual([
      { householdId: 'h1', start: 0, end: H, liters: 4.5 },
      { householdId: 'h1', start: H, end: 2 * H, liters: 3 },
      { householdId: 'h1', start: 2 * H, end: 3 * H, liters: 0.25 },
    ]);
    expect(await repo.usageRange('h1', H, 2 * H)).toHaveLength(1);
    expect(await repo.meterEvents('m1')).toEqual([
      event,
      { ...event, ts: 600, kind: 'reset', detail: { from: 10, to: 0 } },
    ]);
    expect(await repo.meterEvents('m2')).toEqual([]);
  });

  it('upserts a long run of buckets in order, a bucket given again in the same run ending as the later one', async () => {
    const repo = await open();
    const H = 3_600_000;
    const buckets = Array.from({ length: 70 }, (_, i) => ({
      householdId: 'h1',
      start: (i % 50) * H,
      end: ((i % 50) + 1) * H,
      liters: i === 3 ? null : i,
    }));
    await repo.saveProcessed({ buckets, events: [] });
    const stored = await repo.usageRange('h1', 0, 100 * H);
    expect(stored).toHaveLength(50);
    expect(stored.map((b) => b.liters)).toEqual(
      Array.from({ length: 50 }, (_, i) => (i < 20 ? i + 50 : i === 3 ? null : i)),
    );
  });

  it('saves the cursor with the meter states and reads them back as saved', async () => {
    const repo = await open();
    const state = {
      last: { ts: 1_767_225_600_000, totalLiters: 1234.5 },
      pending: [0.1, -0, 1e-9],
      open: null,
    };
    await repo.saveCheckpoint(42, [
      ['m1', state],
      ['m2', { last: null }],
    ]);
    await repo.saveCheckpoint(43, [['m2', { last: { ts: 1, totalLiters: 2 } }]]);
    expect(await repo.cursor()).toBe(43);
    expect(await repo.meterState('m1')).toEqual(JSON.parse(JSON.stringify(state)));
    expect(await repo.meterState('m2')).toEqual({ last: { ts: 1, totalLiters: 2 } });
    expect(await repo.meterState('m3')).toBeUndefined();
  });

  it('gives concurrent group commits distinct sequence numbers and loses none of their readings', async () => {
    const repo = await open();
    const results = await Promise.all(
      Array.from({ length: 16 }, async (_, i) =>
        repo.commit([submission(`m${i}`, 10_000 + i, [i, i + 1, i + 2])]),
      ),
    );
    const all = results.flat();
    expect(all).toHaveLength(48);
    expect(new Set(all).size).toBe(48);
    for (const seqs of results) expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    const rows = await repo.readingsAfter(0, 100);
    expect(rows).toHaveLength(48);
    for (let i = 0; i < 16; i++)
      expect(rows.filter((r) => r.meterId === `m${i}`).map((r) => r.totalLiters)).toEqual([i, i + 1, i + 2]);
  });
});
