import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { silentLogger } from '../core/logger.ts';
import { openStore, type Store } from '../core/store/store.ts';
import type { AcceptedReading } from '../core/streams.ts';
import { InboxWriter } from './inbox-writer.ts';
import { SqliteIngestRepository } from './sqlite-repository.ts';

/**
 * The group commit with its fsync off the main thread (a store file with synchronous=FULL): what it promises
 * is that of a commit with its own fsync: a submitter hears of its readings only once they are stored, in the
 * order of the submissions, after they went through processing.
 */
const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) if (s.db.open) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setUp(synchronous: 'FULL' | 'NORMAL' = 'FULL') {
  const dir = mkdtempSync(join(tmpdir(), 'careflow-inbox-writer-'));
  dirs.push(dir);
  const store = openStore({ path: join(dir, 'careflow.db'), synchronous });
  stores.push(store);
  const repo = new SqliteIngestRepository(store, synchronous === 'FULL');
  const processed: AcceptedReading[][] = [];
  const events: string[] = [];
  const deferredSync = repo.deferredSync();
  const writer = new InboxWriter(
    repo,
    new ManualClock(Date.UTC(2026, 0, 4)),
    { commitMaxDelayMs: 0, commitMaxReadings: 5_000, ...(deferredSync ? { deferredSync } : {}) },
    silentLogger,
    (batch) => {
      processed.push(batch);
      events.push(`processed ${batch.map((r) => r.seq).join(',')}`);
    },
  );
  const count = () => store.db.prepare('SELECT count(*) FROM inbox').pluck().get() as number;
  const submit = (meterId: string, values: number[]) =>
    new Promise<readonly number[]>((resolve, reject) =>
      writer.submit(
        {
          meterId,
          householdId: `h-${meterId}`,
          readings: values.map((v, i) => ({ ts: Date.UTC(2026, 0, 3) + i * 900_000, totalLiters: v })),
          deadLetters: [],
        },
        (err, seqs) => {
          if (err) return reject(err);
          // Stored (visible to another connection) and processed before its submitter hears of it.
          events.push(`acknowledged ${meterId} (${count()} stored)`);
          resolve(seqs!);
        },
      ),
    );
  return { store, writer, processed, events, deferredSync, submit, count };
}

describe('the inbox writer with its fsync off the main thread', () => {
  it('is used for a store file with synchronous=FULL, not with NORMAL', () => {
    expect(setUp('FULL').deferredSync).toBeDefined();
    expect(setUp('NORMAL').deferredSync).toBeUndefined();
  });

  it('acknowledges each submission after its commit and its processing, in submission order', async () => {
    const w = setUp();
    const first = w.submit('m-1', [10, 11]);
    const second = w.submit('m-2', [20]);
    // Submitted during the first commit's fsync: committed when it completes, acknowledged after the next one.
    await new Promise((r) => setImmediate(r));
    const third = w.submit('m-1', [12, 13, 14]);
    expect(await first).toEqual([1, 2]);
    expect(await second).toEqual([3]);
    expect(await third).toEqual([4, 5, 6]);
    expect(w.events).toEqual([
      'processed 1,2,3',
      'acknowledged m-1 (3 stored)',
      'acknowledged m-2 (3 stored)',
      'processed 4,5,6',
      'acknowledged m-1 (6 stored)',
    ]);
    expect(w.writer.commits).toBe(2);
  });

  it('settles what waits for an fsync when closed: stored, processed, acknowledged', async () => {
    const w = setUp();
    const acked = [w.submit('m-1', [1]), w.submit('m-2', [2, 3])];
    w.writer.close();
    // Settled by close() itself, before any callback of the runtime ran.
    expect(w.events).toEqual([
      'processed 1,2,3',
      'acknowledged m-1 (3 stored)',
      'acknowledged m-2 (3 stored)',
    ]);
    expect(await Promise.all(acked)).toEqual([[1], [2, 3]]);
    await expect(w.submit('m-3', [4])).rejects.toThrow(/closed/);
    // The fsync that was in flight completes later without settling anything twice.
    await new Promise((r) => setTimeout(r, 50));
    expect(w.processed).toHaveLength(1);
  });
});
