import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SKIP_POSTGRES, startPostgres, type Postgres } from '../test/postgres.ts';
import { migratePg, openPgPool } from './postgres.ts';

describe.skipIf(SKIP_POSTGRES)('PostgreSQL migrations per module', () => {
  let server: Postgres;
  beforeAll(async () => {
    server = await startPostgres('careflow_migrations');
  }, 60_000);
  afterAll(() => server?.dispose());

  it('runs each migration once when several workers start together, and only the new ones later', async () => {
    const pools = Array.from({ length: 4 }, () => openPgPool(server.url, { max: 2 }));
    try {
      const v1 = ['CREATE TABLE m_one (id integer PRIMARY KEY)', 'INSERT INTO m_one VALUES (1)'];
      await Promise.all(pools.map((p) => migratePg(p, 'demo', v1)));
      const count = async () =>
        (await pools[0]!.query<{ n: number }>('SELECT count(*) AS n FROM m_one')).rows[0]!.n;
      expect(await count()).toBe(1);
      await Promise.all(pools.map((p) => migratePg(p, 'demo', [...v1, 'INSERT INTO m_one VALUES (2)'])));
      expect(await count()).toBe(2);
      const { rows } = await pools[0]!.query<{ module: string; version: number }>(
        "SELECT module, version FROM careflow_migrations WHERE module = 'demo' ORDER BY version",
      );
      expect(rows.map((r) => r.version)).toEqual([1, 2, 3]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('leaves nothing half-applied when a migration fails', async () => {
    const pool = openPgPool(server.url);
    try {
      await expect(
        migratePg(pool, 'broken', ['CREATE TABLE b_one (id integer)', 'CREATE TABLE b_one (id integer)']),
      ).rejects.toThrow(/already exists/);
      const { rows } = await pool.query("SELECT to_regclass('b_one') AS t");
      expect(rows[0].t).toBeNull();
      const { rows: done } = await pool.query("SELECT 1 FROM careflow_migrations WHERE module = 'broken'");
      expect(done).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});
