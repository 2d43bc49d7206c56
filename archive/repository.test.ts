import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPgPool } from '../core/postgres.ts';
import { importRegistry } from '../core/registry-import.ts';
import type { RegistryInput } from '../core/registry.ts';
import type { Mode } from '../core/repository.ts';
import { PgIngestRepository } from '../ingest/postgres-repository.ts';
import type { IngestRepository } from '../ingest/repository.ts';
import { SqliteIngestRepository } from '../ingest/sqlite-repository.ts';
import { importRegistryShared } from '../registry/shared-import.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from '../test/postgres.ts';
import { eachBackend, type Backend } from '../test/repositories/backends.ts';
import { PgArchiveRepository } from './postgres-repository.ts';
import { ARCHIVE_START, type ArchiveCursor, type ArchiveRepository } from './repository.ts';
import { SqliteArchiveRepository } from './sqlite-repository.ts';

const T0 = Date.UTC(2026, 1, 2, 0, 0);
const MIN = 60_000;

function registry(): RegistryInput {
  return {
    streets: [{ code: 's1', name: 'Jiefang Street Office' }],
    communities: [{ code: 'c1', street: 's1', name: 'Xingfu Community' }],
    grids: [{ code: 'g1', community: 'c1', name: 'Grid 1' }],
    workers: [{ id: 'w-1', name: 'Wang Li', grids: ['g1'], secret: 'worker-one-secret-7Hq2' }],
    households: [{ id: 'h-1', grid: 'g1', address: '幸福小区 3号楼 2单元 501' }],
    meters: [{ id: 'm-1', household: 'h-1', secret: 'meter-secret-aZ81-1' }],
  };
}

/**
 * One behavioural suite for the archive's repository — its cursor in the inbox — run against the embedded
 * SQLite store and the shared PostgreSQL store. Readings go in through each store's own ingest repository.
 */
eachBackend("the archive's repository", (fresh) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });

  async function open(): Promise<{
    repo: ArchiveRepository<Mode>;
    ingest: IngestRepository<Mode>;
    reopen: () => Promise<ArchiveRepository<Mode>>;
  }> {
    backend = await fresh();
    const { store, pool } = backend;
    if (store) {
      await importRegistry(store, registry());
      return {
        repo: new SqliteArchiveRepository(store),
        ingest: new SqliteIngestRepository(store),
        reopen: async () => new SqliteArchiveRepository(store),
      };
    }
    await importRegistryShared(pool!, registry());
    return {
      repo: await PgArchiveRepository.open(pool!),
      ingest: await PgIngestRepository.open(pool!),
      reopen: () => PgArchiveRepository.open(pool!),
    };
  }

  /** Commits `n` readings of `meterId` (one minute apart from `from`) as one submission. */
  async function commit(ingest: IngestRepository<Mode>, meterId: string, from: number, n: number) {
    const readings = Array.from({ length: n }, (_, i) => ({
      ts: T0 + (from + i) * MIN,
      totalLiters: from + i,
    }));
    return ingest.commit([{ meterId, receivedAt: T0 + (from + n) * MIN, readings, deadLetters: [] }]);
  }

  it('starts at the beginning: everything committed is pending, in order, with household and grid', async () => {
    const { repo, ingest } = await open();
    await commit(ingest, 'm-1', 0, 3);
    await commit(ingest, 'm-unknown', 3, 1);
    const cursor = await repo.start();
    expect(cursor).toEqual(ARCHIVE_START);
    expect(await repo.backlog(cursor)).toEqual({ readings: 4, oldestReceivedAt: T0 + 3 * MIN });
    const batch = await repo.pending(cursor, 10);
    expect(batch.rows.map((r) => [r.meterId, r.householdId, r.grid, r.ts, r.totalLiters])).toEqual([
      ['m-1', 'h-1', 'g1', T0, 0],
      ['m-1', 'h-1', 'g1', T0 + MIN, 1],
      ['m-1', 'h-1', 'g1', T0 + 2 * MIN, 2],
      ['m-unknown', null, null, T0 + 3 * MIN, 3], // not (or no longer) registered: written without tags
    ]);
    expect(batch.next.seq).toBe(batch.rows[3]!.seq);
  });

  it('pages by the limit; the cursor survives a restart and only moves forward', async () => {
    const { repo, ingest, reopen } = await open();
    await commit(ingest, 'm-1', 0, 5);
    const first = await repo.pending(await repo.start(), 2);
    expect(first.rows.map((r) => r.totalLiters)).toEqual([0, 1]);
    await repo.advance(first.next);
    const again = await reopen();
    const cursor = await again.start();
    expect(cursor).toEqual(first.next);
    expect(await again.backlog(cursor)).toEqual({ readings: 3, oldestReceivedAt: T0 + 5 * MIN });
    const rest = await again.pending(cursor, 10);
    expect(rest.rows.map((r) => r.totalLiters)).toEqual([2, 3, 4]);
    await again.advance(rest.next);
    await again.advance(first.next); // a late, older advance (a worker that lost the lease) changes nothing
    expect(await again.start()).toEqual(rest.next);
    expect(await again.pending(rest.next, 10)).toEqual({ rows: [], next: rest.next });
    expect(await again.backlog(rest.next)).toEqual({ readings: 0, oldestReceivedAt: undefined });
  });

  it('an empty inbox has nothing pending and the cursor stays', async () => {
    const { repo } = await open();
    const cursor: ArchiveCursor = await repo.start();
    expect(await repo.pending(cursor, 10)).toEqual({ rows: [], next: cursor });
    expect(await repo.backlog(cursor)).toEqual({ readings: 0, oldestReceivedAt: undefined });
  });
});

describe.skipIf(SKIP_POSTGRES)("the archive's repository on PostgreSQL, with commits in flight", () => {
  let server: Postgres;
  beforeAll(async () => {
    server = await startPostgres('careflow_archive');
  }, 60_000);
  afterAll(() => server?.dispose());

  it('holds back rows of later commits until an earlier transaction ends, so none is skipped', async () => {
    const pool = openPgPool(await server.createDatabase('in_flight'));
    try {
      const ingest = await PgIngestRepository.open(pool);
      const repo = await PgArchiveRepository.open(pool);
      const slow = await pool.connect();
      try {
        // A worker's transaction draws its seq first and commits last.
        await slow.query('BEGIN');
        await slow.query(
          `INSERT INTO inbox (meter_id, ts, total_liters, received_at) VALUES ('m-slow', $1, 1, $1)`,
          [T0],
        );
        await ingest.commit([
          { meterId: 'm-fast', receivedAt: T0, readings: [{ ts: T0, totalLiters: 2 }], deadLetters: [] },
        ]);
        let cursor = await repo.start();
        const early = await repo.pending(cursor, 10);
        expect(early.rows).toEqual([]); // the committed row waits: an earlier transaction is still open
        expect((await repo.backlog(cursor)).readings).toBe(1); // though it is counted as not yet written
        await repo.advance(early.next);
        cursor = early.next;
        await slow.query('COMMIT');
      } finally {
        slow.release();
      }
      const all = await repo.pending(await repo.start(), 10);
      // Both now, by transaction: the slow one's row was not skipped by the cursor that waited for it.
      expect(all.rows.map((r) => r.meterId)).toEqual(['m-slow', 'm-fast']);
    } finally {
      await pool.end();
    }
  });
});
