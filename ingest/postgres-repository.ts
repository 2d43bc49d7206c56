import { inPgTransaction, migratePg, type PgClient, type PgPool } from '../core/postgres.ts';
import type { NormalizerEvent, UsageBucket } from '../core/streams.ts';
import { INGEST_PG_MIGRATIONS } from './postgres-migrations.ts';
import type {
  InboxRow,
  InboxSubmission,
  IngestRepository,
  NewDeadLetter,
  ProcessedOutput,
} from './repository.ts';

export interface PgIngestOptions {
  /** Whose cursor this repository reads and saves (one per partition in a cluster; default 'inbox'). */
  cursorName?: string;
}

/**
 * Ingest's repository on the shared PostgreSQL store. Each method is one round trip or one transaction; rows
 * go in as arrays (`unnest`), so a group commit of many readings is one statement per table.
 */
export class PgIngestRepository implements IngestRepository<'async'> {
  private readonly cursorName: string;

  private constructor(
    private readonly pool: PgPool,
    opts: PgIngestOptions,
  ) {
    this.cursorName = opts.cursorName ?? 'inbox';
  }

  /** Migrates ingest's tables and returns the repository. */
  static async open(pool: PgPool, opts: PgIngestOptions = {}): Promise<PgIngestRepository> {
    await migratePg(pool, 'ingest', INGEST_PG_MIGRATIONS);
    return new PgIngestRepository(pool, opts);
  }

  async commit(submissions: readonly InboxSubmission[]): Promise<number[]> {
    const meters: string[] = [];
    const ts: number[] = [];
    const liters: number[] = [];
    const received: number[] = [];
    const letters: NewDeadLetter[] = [];
    for (const s of submissions) {
      for (const r of s.readings) {
        meters.push(s.meterId);
        ts.push(r.ts);
        liters.push(r.totalLiters);
        received.push(s.receivedAt);
      }
      letters.push(...s.deadLetters);
    }
    if (meters.length === 0 && letters.length === 0) return [];
    return inPgTransaction(this.pool, async (c) => {
      let seqs: number[] = [];
      if (meters.length > 0) {
        // Identity values are drawn in the SELECT's order, so the sorted seqs follow the readings' order.
        const { rows } = await c.query<{ seq: number }>(
          `INSERT INTO inbox (meter_id, ts, total_liters, received_at)
           SELECT m, t, l, r FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::bigint[])
             WITH ORDINALITY AS x(m, t, l, r, n) ORDER BY n
           RETURNING seq`,
          [meters, ts, liters, received],
        );
        seqs = rows.map((r) => r.seq).sort((a, b) => a - b);
      }
      if (letters.length > 0) await insertDeadLetters(c, letters);
      return seqs;
    });
  }

  async addDeadLetter(d: NewDeadLetter): Promise<void> {
    await this.pool.query(
      `INSERT INTO dead_letters (received_at, meter_id, topic, code, message, field, excerpt)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [d.receivedAt, d.meterId, d.topic, d.code, d.message, d.field, d.excerpt],
    );
  }

  async deadLetterCounts(filter: { meterId?: string } = {}): Promise<Record<string, number>> {
    const { rows } = await this.pool.query<{ code: string; n: number }>(
      `SELECT code, count(*) AS n FROM dead_letters WHERE ($1::text IS NULL OR meter_id = $1)
       GROUP BY code ORDER BY code COLLATE "C"`,
      [filter.meterId ?? null],
    );
    return Object.fromEntries(rows.map((r) => [r.code, r.n]));
  }

  async readingsAfter(seq: number, limit: number): Promise<InboxRow[]> {
    const { rows } = await this.pool.query<InboxRow>(
      `SELECT seq, meter_id AS "meterId", ts, total_liters AS "totalLiters", received_at AS "receivedAt"
       FROM inbox WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [seq, limit],
    );
    return rows;
  }

  async storedReadings(meterId: string, fromTs: number, toTs: number): Promise<Map<number, number[]>> {
    const { rows } = await this.pool.query<{ ts: number; totalLiters: number }>(
      `SELECT ts, total_liters AS "totalLiters" FROM inbox WHERE meter_id = $1 AND ts BETWEEN $2 AND $3
       ORDER BY seq`,
      [meterId, fromTs, toTs],
    );
    const out = new Map<number, number[]>();
    for (const r of rows) {
      const list = out.get(r.ts);
      if (list) list.push(r.totalLiters);
      else out.set(r.ts, [r.totalLiters]);
    }
    return out;
  }

  async maxSeq(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('SELECT coalesce(max(seq), 0) AS n FROM inbox');
    return rows[0]!.n;
  }

  async lastReceivedAt(): Promise<number> {
    const { rows } = await this.pool.query<{ at: number }>(
      'SELECT received_at AS at FROM inbox ORDER BY seq DESC LIMIT 1',
    );
    return rows[0]?.at ?? 0;
  }

  async saveProcessed(out: ProcessedOutput): Promise<void> {
    if (out.events.length === 0 && out.buckets.length === 0) return;
    await inPgTransaction(this.pool, async (c) => {
      if (out.events.length > 0) {
        const e = out.events;
        await c.query(
          `INSERT INTO meter_events (meter_id, household_id, ts, kind, detail)
           SELECT m, h, t, k, d::jsonb FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
             WITH ORDINALITY AS x(m, h, t, k, d, n) ORDER BY n
           ON CONFLICT ON CONSTRAINT meter_events_once DO NOTHING`,
          [
            e.map((x) => x.meterId),
            e.map((x) => x.householdId),
            e.map((x) => x.ts),
            e.map((x) => x.kind),
            e.map((x) => JSON.stringify(x.detail)),
          ],
        );
      }
      if (out.buckets.length > 0) {
        // The last write of a bucket wins, as with one upsert per bucket.
        const last = new Map<string, UsageBucket>();
        for (const b of out.buckets) last.set(`${b.householdId}\u0000${b.start}`, b);
        const b = [...last.values()];
        await c.query(
          `INSERT INTO usage_buckets (household_id, start, "end", liters)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::float8[])
           ON CONFLICT (household_id, start) DO UPDATE SET "end" = excluded."end", liters = excluded.liters`,
          [b.map((x) => x.householdId), b.map((x) => x.start), b.map((x) => x.end), b.map((x) => x.liters)],
        );
      }
    });
  }

  async usageRange(householdId: string, from: number, to: number): Promise<UsageBucket[]> {
    const { rows } = await this.pool.query<UsageBucket>(
      `SELECT household_id AS "householdId", start, "end", liters FROM usage_buckets
       WHERE household_id = $1 AND start >= $2 AND start < $3 ORDER BY start`,
      [householdId, from, to],
    );
    return rows;
  }

  async meterEvents(meterId: string): Promise<NormalizerEvent[]> {
    const { rows } = await this.pool.query<NormalizerEvent>(
      `SELECT meter_id AS "meterId", household_id AS "householdId", ts, kind, detail
       FROM meter_events WHERE meter_id = $1 ORDER BY id`,
      [meterId],
    );
    return rows;
  }

  async cursor(): Promise<number> {
    const { rows } = await this.pool.query<{ seq: number }>(
      'SELECT seq FROM ingest_cursors WHERE name = $1',
      [this.cursorName],
    );
    return rows[0]?.seq ?? 0;
  }

  async meterState(meterId: string): Promise<unknown> {
    const { rows } = await this.pool.query<{ state: string }>(
      'SELECT state FROM meter_state WHERE meter_id = $1',
      [meterId],
    );
    return rows[0] === undefined ? undefined : (JSON.parse(rows[0].state) as unknown);
  }

  async saveCheckpoint(cursor: number, meterStates: Iterable<readonly [string, unknown]>): Promise<void> {
    const last = new Map<string, string>();
    for (const [id, state] of meterStates) last.set(id, JSON.stringify(state));
    await inPgTransaction(this.pool, async (c) => {
      if (last.size > 0)
        await c.query(
          `INSERT INTO meter_state (meter_id, state) SELECT * FROM unnest($1::text[], $2::text[])
           ON CONFLICT (meter_id) DO UPDATE SET state = excluded.state`,
          [[...last.keys()], [...last.values()]],
        );
      await c.query(
        `INSERT INTO ingest_cursors (name, seq) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`,
        [this.cursorName, cursor],
      );
    });
  }
}

async function insertDeadLetters(c: PgClient, letters: readonly NewDeadLetter[]): Promise<void> {
  await c.query(
    `INSERT INTO dead_letters (received_at, meter_id, topic, code, message, field, excerpt)
     SELECT r, m, t, c, g, f, e
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
       WITH ORDINALITY AS x(r, m, t, c, g, f, e, n) ORDER BY n`,
    [
      letters.map((d) => d.receivedAt),
      letters.map((d) => d.meterId),
      letters.map((d) => d.topic),
      letters.map((d) => d.code),
      letters.map((d) => d.message),
      letters.map((d) => d.field),
      letters.map((d) => d.excerpt),
    ],
  );
}
