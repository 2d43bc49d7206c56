import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgClient, PgPool } from './postgres.ts';
import { openStore, type Db, type Store } from './store/store.ts';

/**
 * A table a module keeps in both stores with the same columns (the registry's, the rules'), so that its rows move
 * between the embedded SQLite store and PostgreSQL unchanged. Integers are bigint in PostgreSQL (epoch ms, flags
 * 0/1, as in SQLite); the rest is text.
 */
export interface CopiedTable {
  name: string;
  columns: readonly (readonly [name: string, type: 'text' | 'bigint'])[];
  /** The primary key's columns (rows are read in this order, a page at a time). */
  key: readonly string[];
}

/** Rows moved per statement (a page read from PostgreSQL, an insert of arrays into it). */
const PAGE_ROWS = 5_000;

type Value = string | number | null;

/**
 * Replaces `tables` (parents first) in PostgreSQL with those of an embedded store, on `client` (inside the
 * caller's transaction: readers see the old rows until it commits). DELETE, not TRUNCATE, so that readers are
 * never blocked.
 */
export async function copyTablesToPg(
  tables: readonly CopiedTable[],
  db: Db,
  client: PgClient,
): Promise<void> {
  for (const table of tables) {
    await client.query(`DELETE FROM ${table.name}`);
    const rows = db
      .prepare(`SELECT ${names(table)} FROM ${table.name}`)
      .raw()
      .iterate() as IterableIterator<Value[]>;
    let page: Value[][] = [];
    for (const row of rows) {
      page.push(row);
      if (page.length >= PAGE_ROWS) {
        await insertPage(client, table, page);
        page = [];
      }
    }
    if (page.length > 0) await insertPage(client, table, page);
  }
}

/**
 * Makes `tables` (parents first) of an embedded store equal to those in PostgreSQL; returns the rows written and
 * deleted. `client` should read one snapshot (a REPEATABLE READ transaction). The rows are read a page at a time,
 * between turns of the event loop, and compared with the store's rows of the same key range; only what differs
 * is staged, in temporary tables of `db` (a connection of its own), which take no lock on the store: the
 * process's other connections go on reading and writing meanwhile (the auth backend records logins). Then one
 * synchronous transaction applies the difference, so the store's readers see the old rows or the new ones,
 * never half of each, and notice the change through `data_version`, as after `careflow import`. `also` runs in
 * that transaction, last. (A first pull into an empty store writes every row in that transaction.)
 */
export async function copyTablesFromPg(
  tables: readonly CopiedTable[],
  client: PgClient,
  db: Db,
  also?: () => void,
): Promise<{ written: number; deleted: number }> {
  let written = 0;
  let deleted = 0;
  const temps: string[] = [];
  try {
    for (const table of tables) {
      const keys = table.key.join(', ');
      const staged = `staged_${table.name}`;
      const gone = `gone_${table.name}`;
      temps.push(staged, gone);
      db.exec(`DROP TABLE IF EXISTS temp.${staged}; DROP TABLE IF EXISTS temp.${gone}`);
      db.exec(`CREATE TEMP TABLE ${staged} AS SELECT ${names(table)} FROM main.${table.name} WHERE 0`);
      db.exec(`CREATE TEMP TABLE ${gone} AS SELECT ${keys} FROM main.${table.name} WHERE 0`);
      const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');
      const stage = db.prepare(
        `INSERT INTO temp.${staged} (${names(table)}) VALUES (${marks(table.columns.length)})`,
      );
      const drop = db.prepare(`INSERT INTO temp.${gone} (${keys}) VALUES (${marks(table.key.length)})`);
      const keyAt = table.key.map((k) => table.columns.findIndex(([c]) => c === k));
      const keyOf = (row: Value[]) => keyAt.map((i) => row[i]!);
      // The store's rows of one page's key range: after the previous page's last key, up to this page's last
      // (the last page: to the end). SQLite compares text byte by byte, as the pages are ordered (COLLATE "C").
      const range = (after: Value[] | null, upTo: Value[] | null) => {
        const where = [
          ...(after ? [`(${keys}) > (${marks(table.key.length)})`] : []),
          ...(upTo ? [`(${keys}) <= (${marks(table.key.length)})`] : []),
        ];
        return db
          .prepare(
            `SELECT ${names(table)} FROM main.${table.name}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`,
          )
          .raw()
          .all(...(after ?? []), ...(upTo ?? [])) as Value[][];
      };
      let after: Value[] | null = null;
      for await (const { rows, last } of readPages(client, table)) {
        const upTo = last || rows.length === 0 ? null : keyOf(rows[rows.length - 1]!);
        const held = new Map(range(after, upTo).map((r) => [JSON.stringify(keyOf(r)), JSON.stringify(r)]));
        db.transaction(() => {
          for (const row of rows) {
            const key = JSON.stringify(keyOf(row));
            if (held.get(key) !== JSON.stringify(row)) {
              stage.run(row);
              written++;
            }
            held.delete(key);
          }
          for (const key of held.keys()) {
            drop.run(JSON.parse(key) as Value[]);
            deleted++;
          }
        })();
        after = upTo;
      }
    }
    db.transaction(() => {
      // Children's old rows may go after their parents': check references at COMMIT.
      db.pragma('defer_foreign_keys = ON');
      for (const table of [...tables].reverse()) {
        const keys = table.key.join(', ');
        db.exec(
          `DELETE FROM main.${table.name} WHERE (${keys}) IN (SELECT ${keys} FROM temp.gone_${table.name})`,
        );
      }
      for (const table of tables) {
        const rest = table.columns.map(([c]) => c).filter((c) => !table.key.includes(c));
        db.exec(
          `INSERT INTO main.${table.name} (${names(table)}) SELECT ${names(table)} FROM temp.staged_${table.name}
           WHERE true ON CONFLICT (${table.key.join(', ')}) DO ${
             rest.length ? `UPDATE SET ${rest.map((c) => `${c} = excluded.${c}`).join(', ')}` : 'NOTHING'
           }`,
        );
      }
      also?.();
    }).immediate();
    return { written, deleted };
  } finally {
    for (const t of temps) db.exec(`DROP TABLE IF EXISTS temp.${t}`);
  }
}

/**
 * A table's rows in key order, byte order for text (as SQLite compares), a page at a time (keyset paging: each
 * page starts after the last key read); at least one page (empty for an empty table), the last one marked.
 * bigint values come as numbers whatever the pool's type parsers.
 */
async function* readPages(
  client: PgClient,
  table: CopiedTable,
): AsyncGenerator<{ rows: Value[][]; last: boolean }> {
  const type = new Map(table.columns);
  const keyAt = table.key.map((k) => table.columns.findIndex(([c]) => c === k));
  const order = table.key.map((k) => (type.get(k) === 'text' ? `${k} COLLATE "C"` : k)).join(', ');
  const bigints = table.columns.flatMap(([, t], i) => (t === 'bigint' ? [i] : []));
  let after: Value[] | null = null;
  for (;;) {
    const where: string = after
      ? `WHERE (${order}) > (${table.key.map((_, i) => `$${i + 1}`).join(', ')})`
      : '';
    const { rows }: { rows: Value[][] } = await client.query<Value[]>({
      text: `SELECT ${names(table)} FROM ${table.name} ${where} ORDER BY ${order} LIMIT ${PAGE_ROWS}`,
      values: after ?? [],
      rowMode: 'array',
    });
    for (const row of rows) for (const i of bigints) if (row[i] !== null) row[i] = Number(row[i]);
    const last = rows.length < PAGE_ROWS;
    yield { rows, last };
    if (last) return;
    const end: Value[] = rows[rows.length - 1]!;
    after = keyAt.map((i): Value => end[i]!);
  }
}

async function insertPage(client: PgClient, table: CopiedTable, page: Value[][]): Promise<void> {
  const arrays = table.columns.map((_, i) => page.map((row) => row[i] ?? null));
  await client.query(
    `INSERT INTO ${table.name} (${names(table)})
     SELECT * FROM unnest(${table.columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})`,
    arrays,
  );
}

function names(table: CopiedTable): string {
  return table.columns.map(([c]) => c).join(', ');
}

/**
 * The shape of every change to a shared table set that reuses the embedded code's validation (`careflow import
 * --cluster`, `careflow rules set --cluster`): under a session advisory lock (`lockKey`; one such change at a
 * time), `fn` gets a connection and a scratch embedded store, which is deleted afterwards.
 */
export async function withLockedScratchStore<T>(
  pool: PgPool,
  lockKey: string,
  fn: (client: PgClient, store: Store) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  const dir = mkdtempSync(join(tmpdir(), 'careflow-scratch-'));
  let locked = false;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [lockKey]);
    locked = true;
    const store = openStore({ path: join(dir, 'careflow.db'), synchronous: 'NORMAL' });
    try {
      return await fn(client, store);
    } finally {
      store.close();
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1)', [lockKey]).catch(() => undefined);
    client.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Publishes `tables` of the scratch store to PostgreSQL and raises the set's version (`raiseVersion`: an UPDATE …
 * RETURNING version) in one transaction; returns the new version.
 */
export async function publishTables(
  client: PgClient,
  tables: readonly CopiedTable[],
  db: Db,
  raiseVersion: { sql: string; params: unknown[] },
): Promise<number> {
  await client.query('BEGIN');
  try {
    await copyTablesToPg(tables, db, client);
    const { rows } = await client.query<{ version: number }>(raiseVersion.sql, raiseVersion.params);
    await client.query('COMMIT');
    return Number(rows[0]!.version);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
