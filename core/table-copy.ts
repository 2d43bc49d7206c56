import type { PgClient } from './postgres.ts';
import type { Db } from './store/store.ts';

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
 * Replaces `tables` (parents first) of an embedded store with those in PostgreSQL, in one SQLite transaction on
 * `db` (a connection of its own: the store's other connections read the old rows until it commits, and see the
 * change through `data_version`, as after `careflow import`). `client` should read one snapshot (a
 * REPEATABLE READ transaction). Pages are read between turns of the event loop. `also` runs in the same SQLite
 * transaction, last.
 */
export async function copyTablesFromPg(
  tables: readonly CopiedTable[],
  client: PgClient,
  db: Db,
  also?: () => void,
): Promise<void> {
  db.exec('BEGIN IMMEDIATE');
  try {
    // Rows come parent first, but a table's old rows go before the new ones arrive: check references at COMMIT.
    db.pragma('defer_foreign_keys = ON');
    for (const table of [...tables].reverse()) {
      // A page at a time, between turns of the event loop (one DELETE of 300,000 households held it for 1 s).
      const keys = table.key.join(', ');
      const page = db.prepare(
        `DELETE FROM ${table.name} WHERE (${keys}) IN (SELECT ${keys} FROM ${table.name} LIMIT ${PAGE_ROWS})`,
      );
      while (page.run().changes > 0) await new Promise((resolve) => setImmediate(resolve));
    }
    for (const table of tables) {
      const insert = db.prepare(
        `INSERT INTO ${table.name} (${names(table)}) VALUES (${table.columns.map(() => '?').join(', ')})`,
      );
      for await (const page of readPages(client, table)) for (const row of page) insert.run(row);
    }
    also?.();
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

/** A table's rows in key order, a page at a time (keyset paging: each page starts after the last key read). */
async function* readPages(client: PgClient, table: CopiedTable): AsyncGenerator<Value[][]> {
  const keyAt = table.key.map((k) => table.columns.findIndex(([c]) => c === k));
  const keys = table.key.join(', ');
  let after: Value[] | null = null;
  for (;;) {
    const params: Value[] = after ?? [];
    const where: string = after
      ? `WHERE (${keys}) > (${table.key.map((_, i) => `$${i + 1}`).join(', ')})`
      : '';
    const { rows }: { rows: Value[][] } = await client.query<Value[]>({
      text: `SELECT ${names(table)} FROM ${table.name} ${where} ORDER BY ${keys} LIMIT ${PAGE_ROWS}`,
      values: params,
      rowMode: 'array',
    });
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < PAGE_ROWS) return;
    const last: Value[] = rows[rows.length - 1]!;
    after = keyAt.map((i): Value => last[i]!);
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
