import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { silentLogger } from '../core/logger.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { InboxThread } from './inbox-thread.ts';
import { InboxWriter } from './inbox-writer.ts';
import type { InboxCommitter, NewDeadLetter } from './repository.ts';
import { SqliteIngestRepository } from './sqlite-repository.ts';

/**
 * The group commit on the writer thread, with its own connection to the store file: an acknowledgement still
 * means stored (visible to the main thread's connection) and processed, in submission order; shutdown drains
 * the thread; a failed thread refuses every reading loudly instead of losing any.
 */
const dirs: string[] = [];
const stores: Store[] = [];
const writers: InboxWriter[] = [];
afterEach(() => {
  for (const w of writers.splice(0)) w.close();
  for (const s of stores.splice(0)) if (s.db.open) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setUp(synchronous: 'FULL' | 'NORMAL' = 'FULL', committerFor?: (path: string) => InboxCommitter) {
  const dir = mkdtempSync(join(tmpdir(), 'careflow-inbox-thread-'));
  dirs.push(dir);
  const store = openStore({ path: join(dir, 'careflow.db'), synchronous });
  stores.push(store);
  const repo = new SqliteIngestRepository(store, synchronous === 'FULL');
  const failures: Error[] = [];
  const committer = committerFor?.(store.db.name) ?? repo.writerThread((err) => failures.push(err))!;
  const events: string[] = [];
  const writer = new InboxWriter(
    repo,
    new ManualClock(Date.UTC(2026, 0, 4)),
    { commitMaxDelayMs: 0, commitMaxReadings: 5_000, committer },
    silentLogger,
    (batch) => events.push(`processed ${batch.map((r) => r.seq).join(',')}`),
  );
  writers.push(writer);
  const count = () => store.db.prepare('SELECT count(*) FROM inbox').pluck().get() as number;
  const submit = (meterId: string, values: number[], deadLetters: NewDeadLetter[] = []) =>
    new Promise<readonly number[]>((resolve, reject) =>
      writer.submit(
        {
          meterId,
          householdId: `h-${meterId}`,
          readings: values.map((v, i) => ({ ts: Date.UTC(2026, 0, 3) + i * 900_000, totalLiters: v })),
          deadLetters,
        },
        (err, seqs) => {
          if (err) return reject(err);
          events.push(`acknowledged ${meterId} (${count()} stored)`);
          resolve(seqs!);
        },
      ),
    );
  return { store, writer, events, failures, submit, count };
}

describe('the inbox writer thread', () => {
  it('acknowledges each submission after its commit and its processing, in submission order', async () => {
    const w = setUp();
    const first = w.submit('m-1', [10, 11]);
    const second = w.submit('m-2', [20]);
    // Handed over while the first commit is with the thread: committed together once it is answered.
    await new Promise((r) => setImmediate(r));
    const third = w.submit('m-1', [12, 13, 14]);
    const fourth = w.submit('m-3', [30]);
    expect(await first).toEqual([1, 2]);
    expect(await second).toEqual([3]);
    expect(await third).toEqual([4, 5, 6]);
    expect(await fourth).toEqual([7]);
    expect(w.events).toEqual([
      'processed 1,2,3',
      'acknowledged m-1 (3 stored)',
      'acknowledged m-2 (3 stored)',
      'processed 4,5,6,7',
      'acknowledged m-1 (7 stored)',
      'acknowledged m-3 (7 stored)',
    ]);
    expect(w.writer.commits).toBe(2);
    const rows = w.store.inbox.after(0, 10);
    expect(rows.map((r) => [r.meterId, r.totalLiters])).toEqual([
      ['m-1', 10],
      ['m-1', 11],
      ['m-2', 20],
      ['m-1', 12],
      ['m-1', 13],
      ['m-1', 14],
      ['m-3', 30],
    ]);
    expect(rows[1]!.ts).toBe(Date.UTC(2026, 0, 3) + 900_000);
    expect(w.failures).toEqual([]);
  });

  it('stores the dead letters of a submission with its readings', async () => {
    const w = setUp('NORMAL');
    const rejected: NewDeadLetter = {
      receivedAt: Date.UTC(2026, 0, 4),
      meterId: 'm-1',
      topic: 'meters/m-1/readings',
      code: 'ERR_INGEST_PAYLOAD_INVALID',
      message: 'reading 2: totalLiters must be a number',
      field: 'readings[1].totalLiters',
      excerpt: '{"readings":[…]}',
    };
    expect(await w.submit('m-1', [5], [rejected])).toEqual([1]);
    expect(w.store.deadLetters.countsByCode({ meterId: 'm-1' })).toEqual({ ERR_INGEST_PAYLOAD_INVALID: 1 });
    const [stored] = w.store.deadLetters.list({ meterId: 'm-1' });
    expect(stored).toMatchObject({
      message: rejected.message,
      field: rejected.field,
      excerpt: rejected.excerpt,
    });
  });

  it('drains the thread when closed: what was handed over is stored, processed and acknowledged', async () => {
    const w = setUp();
    const acked = [w.submit('m-1', [1]), w.submit('m-2', [2, 3])];
    await new Promise((r) => setImmediate(r));
    // Waits for the thread's answer to the first commit, then commits and drains this one too.
    const late = w.submit('m-3', [4]);
    w.writer.close();
    // Settled by close() itself, before any callback of the runtime ran.
    expect(w.events).toEqual([
      'processed 1,2,3',
      'acknowledged m-1 (3 stored)',
      'acknowledged m-2 (3 stored)',
      'processed 4',
      'acknowledged m-3 (4 stored)',
    ]);
    expect(await Promise.all([...acked, late])).toEqual([[1], [2, 3], [4]]);
    await expect(w.submit('m-4', [5])).rejects.toThrow(/closed/);
  });

  it('lets the main connection write in its own transactions while the thread commits', async () => {
    const w = setUp();
    const acked: Promise<readonly number[]>[] = [];
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let round = 0; round < 10; round++) {
      for (let m = 0; m < 20; m++) acked.push(w.submit(`m-${m}`, [round]));
      // The commit is handed to the thread now.
      await new Promise((r) => setImmediate(r));
      // A transaction that reads before it writes, as the API's and the notifier's do, long enough for the
      // thread to want to commit in between: it must wait for it (a deferred one could not write after that).
      w.store.transaction(() => {
        const seq = w.store.inbox.maxSeq();
        Atomics.wait(pause, 0, 0, 20);
        w.store.checkpoints.setCursor(seq);
      });
    }
    expect((await Promise.all(acked)).flat()).toHaveLength(200);
    expect(w.count()).toBe(200);
  });

  it('numbers the readings of a group commit larger than one insert statement in order', async () => {
    const w = setUp();
    const sizes = [3, 1, 45, 32, 7];
    const values = sizes.map((n, k) => Array.from({ length: n }, (_, i) => k * 100 + i));
    const acked = await Promise.all(values.map((v, k) => w.submit(`m-${k}`, v)));
    const rows = w.store.inbox.after(0, 1_000);
    expect(rows.map((r) => r.seq)).toEqual(acked.flat());
    expect(rows.map((r) => [r.meterId, r.totalLiters])).toEqual(
      values.flatMap((v, k) => v.map((x) => [`m-${k}`, x])),
    );
  });

  it('refuses readings loudly once the thread failed, acknowledging none', async () => {
    const failures: Error[] = [];
    const w = setUp('FULL', (path) => new InboxThread(`${path}.missing`, true, (err) => failures.push(err)));
    await expect(w.submit('m-1', [1])).rejects.toThrow(/inbox writer thread/);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toMatch(/inbox writer thread (failed|exited)/);
    await expect(w.submit('m-2', [2])).rejects.toThrow(failures[0]!.message);
    expect(w.count()).toBe(0);
    expect(w.events.filter((e) => e.startsWith('acknowledged'))).toEqual([]);
  });
});
