/**
 * The notifier's tables in the shared PostgreSQL store (see migratePg). Never edit a released migration: add a
 * new one. Times are epoch milliseconds (bigint), as in the embedded store.
 */
export const NOTIFIER_PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, channel text NOT NULL, target text NOT NULL,
    topic text NOT NULL, payload text NOT NULL, idempotency_key text NOT NULL UNIQUE, created_at bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0, next_attempt_at bigint NOT NULL, state text NOT NULL DEFAULT 'pending',
    last_error text, delivered_at bigint, alert_id text, level integer, recipient text,
    sent_at bigint, received_at bigint, failed_at bigint
  );
  CREATE INDEX outbox_pending ON outbox (state, next_attempt_at);
  CREATE INDEX outbox_by_alert ON outbox (alert_id);
  CREATE INDEX outbox_unreceived ON outbox (channel, target, state, created_at);
  CREATE INDEX outbox_by_recipient ON outbox (recipient, channel, target, created_at);
  `,
];
