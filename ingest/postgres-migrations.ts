/**
 * Ingest's tables in the shared PostgreSQL store, migrated in order (see migratePg). Never edit a released
 * migration: add a new one. Times are epoch milliseconds (bigint), as in the embedded store.
 */
export const INGEST_PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE inbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, meter_id text NOT NULL, ts bigint NOT NULL,
    total_liters double precision NOT NULL, received_at bigint NOT NULL
  );
  CREATE INDEX inbox_by_meter_ts ON inbox (meter_id, ts);
  CREATE TABLE dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, received_at bigint NOT NULL, meter_id text, topic text,
    code text NOT NULL, message text NOT NULL, field text, excerpt text
  );
  CREATE INDEX dead_letters_by_meter ON dead_letters (meter_id, received_at);
  CREATE INDEX dead_letters_by_code ON dead_letters (code, received_at);
  CREATE INDEX dead_letters_by_time ON dead_letters (received_at);
  CREATE TABLE meter_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, meter_id text NOT NULL, household_id text NOT NULL,
    ts bigint NOT NULL, kind text NOT NULL, detail jsonb NOT NULL,
    CONSTRAINT meter_events_once UNIQUE (meter_id, ts, kind)
  );
  CREATE TABLE usage_buckets (
    household_id text NOT NULL, start bigint NOT NULL, "end" bigint NOT NULL, liters double precision,
    PRIMARY KEY (household_id, start)
  );
  CREATE TABLE ingest_cursors (name text PRIMARY KEY, seq bigint NOT NULL);
  CREATE TABLE meter_state (meter_id text PRIMARY KEY, state text NOT NULL);
  `,
  // The committing transaction of each reading: readers that follow the inbox (the archive) go in commit order
  // and stop before any transaction still in flight, which `seq` alone cannot tell (identity values are drawn
  // at insert, and a later insert may commit first).
  `
  ALTER TABLE inbox ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
  CREATE INDEX inbox_by_commit ON inbox (tx, seq);
  `,
];
