import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.js';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';

describe.skipIf(SKIP_POSTGRES)('the private PostgreSQL test harness', () => {
  let server: Postgres;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(() => server?.dispose());

  it('serves a database on 127.0.0.1 that a client can write and read', async () => {
    expect(server.url).toMatch(/^postgres:\/\/careflow@127\.0\.0\.1:\d+\/careflow$/);
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE t (id integer PRIMARY KEY, v text)');
      await client.query('INSERT INTO t VALUES ($1, $2)', [1, '水表']);
      const { rows } = await client.query('SELECT v FROM t WHERE id = 1');
      expect(rows).toEqual([{ v: '水表' }]);
      const { rows: addr } = await client.query("SELECT current_setting('listen_addresses') AS a");
      expect(addr[0].a).toBe('127.0.0.1');
    } finally {
      await client.end();
    }
  });

  it('makes further isolated databases on the same server', async () => {
    const url = await server.createDatabase('second_db');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT to_regclass('t') AS t, current_database() AS db");
      expect(rows[0]).toEqual({ t: null, db: 'second_db' });
    } finally {
      await client.end();
    }
    await expect(server.createDatabase('bad; name')).rejects.toThrow(/not a simple database name/);
  });

  it('stops the server and removes its directory on dispose', async () => {
    const other = await startPostgres('scratch');
    const client = new pg.Client({ connectionString: other.url });
    await client.connect();
    await client.end();
    expect(existsSync(other.dir)).toBe(true);
    await other.dispose();
    const open = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
      s.connect(other.port, '127.0.0.1');
    });
    expect(open).toBe(false);
    expect(existsSync(other.dir)).toBe(false);
  }, 60_000);
});
