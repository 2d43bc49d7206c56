import type { Logger } from './logger.ts';
import type { PgPool } from './postgres.ts';
import { openDatabase } from './store/open-store.ts';
import { copyTablesFromPg, type CopiedTable } from './table-copy.ts';

/**
 * Tables a module writes once for the whole cluster into PostgreSQL and every cluster process reads from its
 * embedded store (the registry, the rules): `versionTable` is a one-row table whose `version` each change raises.
 */
export interface SharedTableSet {
  /** For logs and stats ('registry', 'rules'). */
  name: string;
  tables: readonly CopiedTable[];
  versionTable: string;
  /** Where PostgreSQL records the keys each version removed (`rowVersionsMigration`). */
  removedTable: string;
  /** Brings the set's tables in PostgreSQL up to date (its module's migrations). */
  migrate(pool: PgPool): Promise<void>;
}

export interface SharedFollowerOptions {
  pool: PgPool;
  /** The process's embedded store (its SQLite file): the sets are pulled into it. */
  storePath: string;
  sets: readonly SharedTableSet[];
  /** How often the sets' versions are checked. */
  pollMs: number;
  logger: Logger;
}

export interface SharedSetStats {
  /** The version this process holds (0: the shared store has none; the process's own tables are used). */
  version: number;
  /** Pulls of a new version since start. */
  pulls: number;
  /** When the last pull finished (epoch ms), or null. */
  pulledAt: number | null;
  /** Polls that failed (PostgreSQL unreachable); the process keeps what it holds and tries again. */
  failures: number;
  /**
   * The last pull: rows written and deleted, and whether only what changed after the version held was read
   * (false: every row was read and compared, as on a first pull).
   */
  lastPull: { written: number; deleted: number; incremental: boolean } | null;
}

export interface SharedFollower {
  /** By set name. */
  stats(): Record<string, SharedSetStats>;
  /** Checks the versions now and pulls what changed (what the timer does); resolves when done. */
  poll(): Promise<void>;
  stop(): Promise<void>;
}

/** A set's version in PostgreSQL and the shared store that wrote it (one row). */
async function sharedVersionOf(
  pool: PgPool,
  set: Pick<SharedTableSet, 'versionTable'>,
): Promise<{ version: number; storeId: string | undefined }> {
  const { rows } = await pool.query<{ version: number; store_id: string }>(
    `SELECT version, store_id FROM ${set.versionTable}`,
  );
  return { version: Number(rows[0]?.version ?? 0), storeId: rows[0]?.store_id };
}

/** The version of a set in PostgreSQL (0: nothing written yet). bigint: a string on a pool without our parser. */
export async function sharedVersion(
  pool: PgPool,
  set: Pick<SharedTableSet, 'versionTable'>,
): Promise<number> {
  const { rows } = await pool.query<{ version: number }>(`SELECT version FROM ${set.versionTable}`);
  return Number(rows[0]?.version ?? 0);
}

/**
 * Keeps a cluster process's copy of shared tables equal to PostgreSQL's: the detectors, the notifier and the
 * acknowledgements keep reading them synchronously from the embedded store, as in the embedded service. Every
 * `pollMs` the process reads each set's version (one row); when a change raised it, the set's tables are pulled
 * from one PostgreSQL snapshot into the store in one SQLite transaction on a connection of its own, and the
 * store's readers see the change as they see a `careflow import` into a running service. A change therefore
 * reaches every process within `pollMs` plus the pull. Until a set has been written (version 0) the process keeps
 * its own tables. The first check runs before this resolves (a process starts with what is in force); a failed
 * check later is logged and retried at the next poll.
 */
export async function followSharedTables(opts: SharedFollowerOptions): Promise<SharedFollower> {
  const logger = opts.logger.child({ module: 'shared-follower' });
  for (const set of opts.sets) await set.migrate(opts.pool);
  const db = openDatabase({ path: opts.storePath });
  const mark = (set: SharedTableSet) => `shared-version:${set.name}`;
  const storeMark = (set: SharedTableSet) => `shared-store:${set.name}`;
  const checkpoint = (name: string) =>
    db.prepare('SELECT value FROM checkpoints WHERE name = ?').pluck().get(name) as string | undefined;
  const held = (set: SharedTableSet) => Number(checkpoint(mark(set)) ?? 0);
  /** The shared store the held version came from (undefined: not known, as before row versions). */
  const heldStore = new Map(opts.sets.map((s) => [s.name, checkpoint(storeMark(s))]));
  const stats = new Map<string, SharedSetStats>(
    opts.sets.map((s) => [
      s.name,
      { version: held(s), pulls: 0, pulledAt: null, failures: 0, lastPull: null },
    ]),
  );
  const warnedEmpty = new Set<string>();

  const pullSet = async (set: SharedTableSet): Promise<void> => {
    const st = stats.get(set.name)!;
    const now = await sharedVersionOf(opts.pool, set);
    if (now.version === st.version && (now.version === 0 || now.storeId === heldStore.get(set.name))) return;
    const client = await opts.pool.connect();
    try {
      // One snapshot: the version and the tables of the same change.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await client.query<{ version: number; store_id: string }>(
        `SELECT version, store_id FROM ${set.versionTable}`,
      );
      const version = Number(rows[0]?.version ?? 0);
      const storeId = rows[0]?.store_id;
      const sameStore = storeId !== undefined && storeId === heldStore.get(set.name);
      if (version === 0) {
        if (!warnedEmpty.has(set.name))
          logger.warn({ set: set.name }, "nothing in the shared store yet; using this process's own");
        warnedEmpty.add(set.name);
      } else if (version !== st.version || !sameStore) {
        const started = Date.now();
        // Holding an older version of this store's set: only what changed since (a lower version means another
        // store, or one started afresh: everything is compared).
        const incremental = sameStore && st.version > 0 && version > st.version;
        const rows = await copyTablesFromPg(
          set.tables,
          client,
          db,
          () => {
            const save = db.prepare(
              'INSERT INTO checkpoints (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
            );
            save.run(mark(set), String(version));
            save.run(storeMark(set), storeId!);
          },
          incremental ? { version: st.version, removed: set.removedTable } : undefined,
        );
        st.version = version;
        heldStore.set(set.name, storeId);
        st.pulls++;
        st.pulledAt = Date.now();
        st.lastPull = { ...rows, incremental };
        logger.info(
          { set: set.name, version, ...rows, incremental, ms: st.pulledAt - started },
          'pulled from the shared store',
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  };

  try {
    for (const set of opts.sets) await pullSet(set);
  } catch (err) {
    db.close();
    throw err;
  }

  let running: Promise<void> | null = null;
  const poll = (): Promise<void> => {
    running ??= (async () => {
      for (const set of opts.sets) {
        try {
          await pullSet(set);
        } catch (err) {
          stats.get(set.name)!.failures++;
          logger.warn({ err, set: set.name }, 'checking the shared store failed; keeping what is held');
        }
      }
    })().finally(() => {
      running = null;
    });
    return running;
  };
  const timer = setInterval(() => void poll(), opts.pollMs);
  timer.unref();
  return {
    stats: () =>
      Object.fromEntries(
        [...stats].map(([k, v]) => [k, { ...v, lastPull: v.lastPull && { ...v.lastPull } }]),
      ),
    poll,
    async stop() {
      clearInterval(timer);
      await running;
      db.close();
    },
  };
}
