import type { Logger } from '../core/logger.ts';
import type { PgPool } from '../core/postgres.ts';
import { openDatabase } from '../core/store/open-store.ts';
import { migratePg } from '../core/postgres.ts';
import { REGISTRY_PG_MIGRATIONS } from './postgres-migrations.ts';
import { registryVersion } from './postgres-repository.ts';
import { copyRegistryFromPg } from './table-copy.ts';

/** Where a worker's store records the shared registry version it holds. */
const MARK = 'registry-shared-version';

export interface RegistryFollowerOptions {
  pool: PgPool;
  /** The worker's embedded store (its SQLite file): the registry is pulled into it. */
  storePath: string;
  /** How often the shared registry's version is checked. */
  pollMs: number;
  logger: Logger;
}

export interface RegistryFollowerStats {
  /** The shared registry version this worker holds (0: the shared store has none; the worker's own is used). */
  version: number;
  /** Pulls of a new version since start. */
  pulls: number;
  /** When the last pull finished (epoch ms), or null. */
  pulledAt: number | null;
  /** Polls that failed (PostgreSQL unreachable); the worker keeps the registry it holds and tries again. */
  failures: number;
}

export interface RegistryFollower {
  stats(): RegistryFollowerStats;
  /** Checks the version now and pulls a new one (what the timer does); resolves when done. */
  poll(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Keeps a cluster worker's registry equal to the shared one in PostgreSQL: the detectors, the notifier and the
 * acknowledgements keep reading it synchronously from the worker's embedded store, as in the embedded service.
 * Every `pollMs` the worker reads `registry_version` (one row); when an import raised it, the registry's tables
 * are pulled from one PostgreSQL snapshot into the store in one SQLite transaction on a connection of its own,
 * and the store's readers see the change as they see a `careflow import` into a running service (the
 * detectors re-read households' places and consent at their next tick). A re-import therefore reaches every
 * worker within `pollMs` plus the pull. Until the shared store has had an import (version 0) the worker keeps
 * the registry of its own data directory. The first check runs before this resolves (a worker starts with the
 * registry in force); a failed check later is logged and retried.
 */
export async function followSharedRegistry(opts: RegistryFollowerOptions): Promise<RegistryFollower> {
  const logger = opts.logger.child({ module: 'registry-follower' });
  await migratePg(opts.pool, 'registry', REGISTRY_PG_MIGRATIONS);
  const db = openDatabase({ path: opts.storePath });
  const held = () =>
    Number(db.prepare('SELECT value FROM checkpoints WHERE name = ?').pluck().get(MARK) ?? 0);
  const stats: RegistryFollowerStats = { version: held(), pulls: 0, pulledAt: null, failures: 0 };
  let warnedEmpty = false;

  const pull = async (): Promise<void> => {
    if ((await registryVersion(opts.pool)) === stats.version) return;
    const client = await opts.pool.connect();
    try {
      // One snapshot: the version and the tables of the same import.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM registry_version');
      const version = Number(rows[0]?.version ?? 0);
      if (version === 0) {
        if (!warnedEmpty)
          logger.warn(
            "the shared store holds no registry yet (careflow import --cluster); using this worker's own",
          );
        warnedEmpty = true;
      } else if (version !== stats.version) {
        const started = Date.now();
        await copyRegistryFromPg(client, db, () =>
          db
            .prepare(
              'INSERT INTO checkpoints (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
            )
            .run(MARK, String(version)),
        );
        stats.version = version;
        stats.pulls++;
        stats.pulledAt = Date.now();
        logger.info({ version, ms: stats.pulledAt - started }, 'registry pulled from the shared store');
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
    await pull();
  } catch (err) {
    db.close();
    throw err;
  }

  let running: Promise<void> | null = null;
  const poll = (): Promise<void> => {
    running ??= pull()
      .catch((err: unknown) => {
        stats.failures++;
        logger.warn({ err }, 'checking the shared registry failed; keeping the registry held');
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => void poll(), opts.pollMs);
  timer.unref();
  return {
    stats: () => ({ ...stats }),
    poll,
    async stop() {
      clearInterval(timer);
      await running;
      db.close();
    },
  };
}
