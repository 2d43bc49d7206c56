import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { openPgPool, type PgPool } from '../../core/postgres.ts';
import { openStore, type Store } from '../../core/store/store.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from '../postgres.ts';

/** A fresh, empty store of one backend for one test; `close` releases it. */
export interface Backend {
  readonly name: 'sqlite' | 'postgres';
  /** Embedded: the SQLite store (a real file in a temp dir). */
  readonly store?: Store;
  /** Shared: a pool on its own PostgreSQL database. */
  readonly pool?: PgPool;
  close(): Promise<void>;
}

/**
 * Runs `suite` once per backend: against a real SQLite file, and against a real PostgreSQL server started for
 * the file (one database per test). `fresh()` gives the test its backend.
 */
export function eachBackend(title: string, suite: (fresh: () => Promise<Backend>) => void): void {
  describe(`${title} (SQLite)`, () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'careflow-repo-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    let n = 0;
    suite(async () => {
      const store = openStore({ path: join(dir, `store-${++n}.db`) });
      return { name: 'sqlite', store, close: async () => store.close() };
    });
  });

  describe.skipIf(SKIP_POSTGRES)(`${title} (PostgreSQL)`, () => {
    let server: Postgres;
    beforeAll(async () => {
      server = await startPostgres('careflow_repo');
    }, 60_000);
    afterAll(() => server?.dispose());
    let n = 0;
    suite(async () => {
      const url = await server.createDatabase(`test_${++n}`);
      const pool = openPgPool(url);
      return { name: 'postgres', pool, close: () => pool.end() };
    });
  });
}
