import type { SharedLoginFailures } from '../api/routes/login.ts';
import { inPgTransaction, type PgPool } from '../core/postgres.ts';

/**
 * Failed logins per account, shared by every worker of a cluster (`login_failures`), so that the console's
 * allowance of failures per account (`http.loginMaxFailures` in `http.loginWindowMinutes`) holds for the cluster
 * and not for each worker: a guesser spreading attempts over N workers gets no more tries than through one. An
 * attempt reserves its row under the account's advisory lock before the password is checked, so attempts at once
 * through several workers are counted one after another; a success deletes the account's rows. Rows older than the
 * window are deleted when the account is next tried (and by a successful login).
 */
export class PgLoginFailures implements SharedLoginFailures {
  constructor(
    private readonly pool: PgPool,
    private readonly now: () => number = Date.now,
  ) {}

  reserve(
    account: string,
    maxFailures: number,
    windowMs: number,
  ): Promise<{ retryAfterMs: number } | number> {
    return inPgTransaction(this.pool, async (c) => {
      const at = this.now();
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [account]);
      await c.query('DELETE FROM login_failures WHERE account = $1 AND at <= $2', [account, at - windowMs]);
      const { rows } = await c.query<{ n: number; oldest: number | null }>(
        'SELECT count(*)::int AS n, min(at) AS oldest FROM login_failures WHERE account = $1',
        [account],
      );
      const { n, oldest } = rows[0]!;
      if (n >= maxFailures) return { retryAfterMs: Math.max(1, Number(oldest) + windowMs - at) };
      const inserted = await c.query<{ id: number }>(
        'INSERT INTO login_failures (account, at) VALUES ($1, $2) RETURNING id',
        [account, at],
      );
      return Number(inserted.rows[0]!.id);
    });
  }

  async release(account: string, reservation: number): Promise<void> {
    await this.pool.query('DELETE FROM login_failures WHERE id = $1 AND account = $2', [
      reservation,
      account,
    ]);
  }

  async succeed(account: string): Promise<void> {
    await this.pool.query('DELETE FROM login_failures WHERE account = $1', [account]);
  }
}
