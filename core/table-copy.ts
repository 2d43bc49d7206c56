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
 * The row versions of a shared set's tables in PostgreSQL (a migration of the module that owns them): each row
 * carries `_rv`, the set's version that last wrote it, and `removed` records the keys a version deleted, so that
 * a process holding version v pulls only what changed after it (`copyTablesFromPg` with `since`). Rows written
 * before this migration have `_rv` 0: every process that held a version had them already. `store_id` in the
 * version table names this shared store.
 */
export function rowVersionsMigration(
  tables: readonly string[],
  removed: string,
  versionTable: string,
): string {
  return [
    // Which shared store wrote the versions: a process whose copy came from another (or from this one before it
    // was emptied and written again) compares everything instead of trusting its version.
    `ALTER TABLE ${versionTable} ADD COLUMN store_id text NOT NULL DEFAULT gen_random_uuid()::text;`,
    ...tables.map(
      (t) =>
        `ALTER TABLE ${t} ADD COLUMN _rv bigint NOT NULL DEFAULT 0; CREATE INDEX ${t}_by_rv ON ${t} (_rv);`,
    ),
    `CREATE TABLE ${removed} (tbl text NOT NULL, key text NOT NULL, rv bigint NOT NULL);`,
    `CREATE INDEX ${removed}_by_rv ON ${removed} (rv, tbl);`,
  ].join('\n');
}

/**
 * Makes `tables` (parents first) in PostgreSQL equal to those of an embedded store, on `client` (inside the
 * caller's transaction: readers see the old rows until it commits): the store's rows are staged in a temporary
 * table; a row that is new or differs is written with `_rv` = `version`, a row the store no longer has is
 * deleted and its key recorded in `removed` with that version. Rows that did not change keep theirs, so a
 * follower pulls only what this version changed.
 */
export async function copyTablesToPg(
  tables: readonly CopiedTable[],
  db: Db,
  client: PgClient,
  version: number,
  removed: string,
): Promise<void> {
  for (const table of tables) {
    const staged = `staged_${table.name}`;
    await client.query(`CREATE TEMP TABLE ${staged} (LIKE ${table.name} INCLUDING DEFAULTS) ON COMMIT DROP`);
    const rows = db
      .prepare(`SELECT ${names(table)} FROM ${table.name}`)
      .raw()
      .iterate() as IterableIterator<Value[]>;
    let page: Value[][] = [];
    for (const row of rows) {
      page.push(row);
      if (page.length >= PAGE_ROWS) {
        await insertPage(client, table, page, staged);
        page = [];
      }
    }
    if (page.length > 0) await insertPage(client, table, page, staged);
    const keys = table.key.join(', ');
    const rest = table.columns.map(([c]) => c).filter((c) => !table.key.includes(c));
    const row = (alias: string) => `(${rest.map((c) => `${alias}.${c}`).join(', ')})`;
    await client.query(
      `INSERT INTO ${table.name} (${names(table)}, _rv) SELECT ${names(table)}, $1 FROM ${staged}
       ON CONFLICT (${keys}) DO ${
         rest.length
           ? `UPDATE SET ${rest.map((c) => `${c} = excluded.${c}`).join(', ')}, _rv = excluded._rv
              WHERE ${rest.length > 1 ? row(table.name) : `${table.name}.${rest[0]}`} IS DISTINCT FROM ${
                rest.length > 1 ? row('excluded') : `excluded.${rest[0]}`
              }`
           : 'NOTHING'
       }`,
      [version],
    );
    const match = table.key.map((k) => `s.${k} = t.${k}`).join(' AND ');
    await client.query(
      `WITH gone AS (
         DELETE FROM ${table.name} t WHERE NOT EXISTS (SELECT 1 FROM ${staged} s WHERE ${match})
         RETURNING ${table.key.map((k) => `t.${k}`).join(', ')}
       )
       INSERT INTO ${removed} (tbl, key, rv) SELECT $1, json_build_array(${keys})::text, $2 FROM gone`,
      [table.name, version],
    );
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
 *
 * With `since` (the store holds the set at `since.version`, row versions kept: `rowVersionsMigration`), only
 * the rows written after that version are read, and the keys removed after it dropped: a change of a few rows
 * costs a few rows, whatever the registry's size.
 */
export async function copyTablesFromPg(
  tables: readonly CopiedTable[],
  client: PgClient,
  db: Db,
  also?: () => void,
  since?: { version: number; removed: string },
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
      if (since) {
        const one = db.prepare(
          `SELECT ${names(table)} FROM main.${table.name} WHERE (${keys}) = (${marks(table.key.length)})`,
        );
        for await (const { rows } of readPages(client, table, since.version)) {
          db.transaction(() => {
            for (const row of rows) {
              const held = one.raw().get(...keyOf(row)) as Value[] | undefined;
              if (held && JSON.stringify(held) === JSON.stringify(row)) continue;
              stage.run(row);
              written++;
            }
          })();
        }
        const { rows: gone } = await client.query<{ key: string }>(
          `SELECT DISTINCT key FROM ${since.removed} WHERE rv > $1 AND tbl = $2`,
          [since.version, table.name],
        );
        db.transaction(() => {
          for (const { key } of gone) {
            const k = JSON.parse(key) as Value[];
            // Removed and written again later: the row read above stays.
            if (!one.raw().get(...k)) continue;
            drop.run(k);
            deleted++;
          }
        })();
        continue;
      }
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
  /** Only the rows written after this version of the set (`_rv`). */
  afterVersion?: number,
): AsyncGenerator<{ rows: Value[][]; last: boolean }> {
  const type = new Map(table.columns);
  const keyAt = table.key.map((k) => table.columns.findIndex(([c]) => c === k));
  const order = table.key.map((k) => (type.get(k) === 'text' ? `${k} COLLATE "C"` : k)).join(', ');
  const bigints = table.columns.flatMap(([, t], i) => (t === 'bigint' ? [i] : []));
  let after: Value[] | null = null;
  for (;;) {
    const values: Value[] = [...(after ?? []), ...(afterVersion === undefined ? [] : [afterVersion])];
    const conditions = [
      ...(after ? [`(${order}) > (${table.key.map((_, i) => `$${i + 1}`).join(', ')})`] : []),
      ...(afterVersion === undefined ? [] : [`_rv > $${values.length}`]),
    ];
    const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
    const { rows }: { rows: Value[][] } = await client.query<Value[]>({
      text: `SELECT ${names(table)} FROM ${table.name} ${where} ORDER BY ${order} LIMIT ${PAGE_ROWS}`,
      values,
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

async function insertPage(
  client: PgClient,
  table: CopiedTable,
  page: Value[][],
  into = table.name,
): Promise<void> {
  const arrays = table.columns.map((_, i) => page.map((row) => row[i] ?? null));
  await client.query(
    `INSERT INTO ${into} (${names(table)})
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
 * Publishes the set's tables of the scratch store to PostgreSQL and raises the set's version (`raiseVersion`: an
 * UPDATE … RETURNING version, by one) in one transaction; returns the new version. The rows that changed carry
 * it (`copyTablesToPg`), so that followers pull only them.
 */
export async function publishTables(
  client: PgClient,
  set: { tables: readonly CopiedTable[]; versionTable: string; removedTable: string },
  db: Db,
  raiseVersion: { sql: string; params: unknown[] },
): Promise<number> {
  return versionedChange(client, set, raiseVersion, (next) =>
    copyTablesToPg(set.tables, db, client, next, set.removedTable),
  );
}

/**
 * One change of a shared set, in one transaction on `client`: the set's version locked (after the set's advisory
 * lock, if it names one), `write` given the next version, and the version raised to it (`raiseVersion`: an UPDATE
 * … RETURNING version, by one). Returns the new version.
 */
async function versionedChange(
  client: PgClient,
  set: { versionTable: string; lockKey?: string },
  raiseVersion: { sql: string; params: unknown[] },
  write: (next: number) => Promise<void>,
): Promise<number> {
  await client.query('BEGIN');
  try {
    if (set.lockKey) await client.query('SELECT pg_advisory_xact_lock($1)', [set.lockKey]);
    const { rows: held } = await client.query<{ version: number }>(
      `SELECT version FROM ${set.versionTable} FOR UPDATE`,
    );
    const next = Number(held[0]?.version ?? 0) + 1;
    await write(next);
    const { rows } = await client.query<{ version: number }>(raiseVersion.sql, raiseVersion.params);
    if (Number(rows[0]!.version) !== next)
      throw new Error(`${set.versionTable} went to ${rows[0]!.version}, not ${next}: raise it by one`);
    await client.query('COMMIT');
    return next;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Writes a few rows of one shared table (and removes a few keys) in PostgreSQL and raises the set's version, in
 * one transaction on `client`: the rows carry the new version as `_rv` and the removed keys are recorded with it,
 * so followers pull exactly them — a change of one row without staging the whole set (`publishTables`). The
 * caller has validated the rows against what it follows. `rows` are in `table.columns` order; given as a function,
 * they are built inside the transaction, once the set's version is locked. Returns the new version.
 */
export async function writeSharedRows(
  client: PgClient,
  set: { versionTable: string; removedTable: string; lockKey?: string },
  table: CopiedTable,
  changeOf:
    | { rows: readonly Value[][]; removeKeys: readonly Value[][] }
    | ((client: PgClient) => Promise<{ rows: readonly Value[][]; removeKeys: readonly Value[][] }>),
  raiseVersion: { sql: string; params: unknown[] },
): Promise<number> {
  // The advisory lock is the set's whole-set writer's (an import staging a copy would otherwise publish over the
  // rows written meanwhile, removing them).
  return versionedChange(client, set, raiseVersion, async (next) => {
    // Built under the version's lock (a new row's id may depend on what the table holds).
    const change = typeof changeOf === 'function' ? await changeOf(client) : changeOf;
    const columns = table.columns.map(([c]) => c);
    const keys = table.key.join(', ');
    const rest = columns.filter((c) => !table.key.includes(c));
    for (const row of change.rows) {
      await client.query(
        `INSERT INTO ${table.name} (${columns.join(', ')}, _rv)
         VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}, $${columns.length + 1})
         ON CONFLICT (${keys}) DO UPDATE SET ${[...rest, '_rv'].map((c) => `${c} = excluded.${c}`).join(', ')}`,
        [...row, next],
      );
    }
    await removeRows(client, set, table, change.removeKeys, next);
  });
}

/**
 * Removes rows of several tables of one shared set — those `where` selects, read under the set's version lock —
 * and raises the set's version, in one transaction on `client`; the removed keys are recorded with the new
 * version so that followers delete exactly them. Returns the version (unchanged, with nothing raised, when no
 * row matched) and how many rows each table lost.
 */
export async function removeSharedRows(
  client: PgClient,
  set: { versionTable: string; removedTable: string; lockKey?: string },
  removals: readonly { table: CopiedTable; where: string; params: unknown[] }[],
  raiseVersion: { sql: string; params: unknown[] },
): Promise<{ version: number | null; removed: Record<string, number> }> {
  const removed: Record<string, number> = {};
  const found: { table: CopiedTable; keys: Value[][] }[] = [];
  try {
    const version = await versionedChange(client, set, raiseVersion, async (next) => {
      for (const { table, where, params } of removals) {
        const { rows } = await client.query<Record<string, Value>>(
          `SELECT ${table.key.join(', ')} FROM ${table.name} WHERE ${where}`,
          params,
        );
        const keys = rows.map((r) => table.key.map((k) => r[k]!));
        found.push({ table, keys });
        removed[table.name] = keys.length;
      }
      if (found.every((f) => f.keys.length === 0)) throw NOTHING_TO_REMOVE;
      for (const { table, keys } of found) await removeRows(client, set, table, keys, next);
    });
    return { version, removed };
  } catch (err) {
    if (err === NOTHING_TO_REMOVE) return { version: null, removed };
    throw err;
  }
}

const NOTHING_TO_REMOVE = new Error('nothing to remove');

/** Deletes rows by key and records each removed key with the version `next` (for the followers). */
async function removeRows(
  client: PgClient,
  set: { removedTable: string },
  table: CopiedTable,
  keys: readonly Value[][],
  next: number,
): Promise<void> {
  const match = table.key.map((k, i) => `${k} = $${i + 1}`).join(' AND ');
  for (const key of keys) {
    const { rowCount } = await client.query(`DELETE FROM ${table.name} WHERE ${match}`, [...key]);
    if (rowCount)
      await client.query(
        `INSERT INTO ${set.removedTable} (tbl, key, rv)
         VALUES ($1, json_build_array(${table.key
           .map((k, i) => `$${i + 3}::${table.columns.find(([c]) => c === k)![1]}`)
           .join(', ')})::text, $2)`,
        [table.name, next, ...key],
      );
  }
}
