import { AsyncLocalStorage } from 'node:async_hooks';
import { inPgTransaction, type PgClient, type PgPool } from '../core/postgres.ts';

/**
 * One PostgreSQL transaction across the modules' repositories. The repositories take a pool and run each
 * method as one statement or one transaction of their own; opened on this unit of work's pool instead, their
 * statements join the transaction `run` has open in the same async context (their own BEGIN / COMMIT /
 * ROLLBACK become a savepoint), and outside `run` they go to the real pool as before. A cluster worker commits
 * a partition's readings, what processing them produced (buckets, alerts) and the partition's checkpoint
 * (normaliser and detector state) this way, all or nothing.
 */
export class PgUnitOfWork {
  private readonly current = new AsyncLocalStorage<PgClient>();
  private savepoints = 0;
  /** The pool to open repositories on. */
  readonly pool: PgPool;

  constructor(private readonly real: PgPool) {
    const query = (...args: unknown[]) => {
      const c = this.current.getStore() ?? this.real;
      return (c.query as (...a: unknown[]) => unknown)(...args);
    };
    const connect = async () => {
      const c = this.current.getStore();
      return c ? this.nested(c) : this.real.connect();
    };
    this.pool = { query, connect } as unknown as PgPool;
  }

  /** Runs `fn` in one transaction: every repository call it makes on `pool` is part of it. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return inPgTransaction(this.real, (c) => this.current.run(c, fn));
  }

  /** A repository's own transaction inside ours: a savepoint. */
  private nested(c: PgClient): PgClient {
    const name = `uow_${++this.savepoints}`;
    const map: Record<string, string> = {
      BEGIN: `SAVEPOINT ${name}`,
      COMMIT: `RELEASE SAVEPOINT ${name}`,
      ROLLBACK: `ROLLBACK TO SAVEPOINT ${name}`,
    };
    const query = (...args: unknown[]) => {
      const [text, ...rest] = args;
      const sql = typeof text === 'string' ? (map[text] ?? text) : text;
      return (c.query as (...a: unknown[]) => unknown)(sql, ...rest);
    };
    return { query, release: () => undefined } as unknown as PgClient;
  }
}
