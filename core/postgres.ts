import pg from 'pg';

/**
 * The shared PostgreSQL store: a connection pool, and per-module migrations. Each module owns its tables and
 * its migration list; `careflow_migrations` records which of a module's migrations ran.
 */
export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

/** int8 (bigint) as a JS number: careflow's integers (epoch ms, sequence numbers, counts) fit in 2^53. */
const INT8 = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function openPgPool(url: string, opts: { max?: number } = {}): PgPool {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, types });
  // An idle client's connection error must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when it throws.
 * `begin`: the statement that opens it (a read-only snapshot: `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`).
 */
export async function inPgTransaction<T>(
  pool: PgPool,
  fn: (c: PgClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Brings a module's tables up to date: applies `migrations[n…]` in order, in one transaction. An
 * advisory lock serialises workers starting together, so each migration runs once. Never edit a released
 * migration: add a new one.
 */
export async function migratePg(pool: PgPool, module: string, migrations: readonly string[]): Promise<void> {
  await inPgTransaction(pool, async (c) => {
    // One lock for all modules' migrations (a fixed key: 'careflow' in ASCII).
    await c.query('SELECT pg_advisory_xact_lock(7161130662331445111)');
    await c.query(
      `CREATE TABLE IF NOT EXISTS careflow_migrations (
         module text NOT NULL, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (module, version))`,
    );
    const { rows } = await c.query<{ v: number }>(
      'SELECT coalesce(max(version), 0) AS v FROM careflow_migrations WHERE module = $1',
      [module],
    );
    for (let v = rows[0]!.v; v < migrations.length; v++) {
      await c.query(migrations[v]!);
      await c.query('INSERT INTO careflow_migrations (module, version) VALUES ($1, $2)', [module, v + 1]);
    }
  });
}
