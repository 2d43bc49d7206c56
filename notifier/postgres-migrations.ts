import { rowVersionsMigration } from '../core/table-copy.ts';

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
  // Alerts, their timelines and the detections applied to them. `seq` keeps the order alerts were inserted in
  // (SQLite's rowid), which breaks ties between alerts opened at the same time.
  `
  CREATE TABLE alerts (
    id text PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, household_id text NOT NULL, grid text NOT NULL,
    rule_id text NOT NULL, severity text NOT NULL, audience text NOT NULL, state text NOT NULL,
    opened_at bigint NOT NULL, updated_at bigint NOT NULL, acknowledged_at bigint, acknowledged_by text,
    resolved_at bigint, resolved_by text, outcome text, note text, evidence text NOT NULL
  );
  CREATE UNIQUE INDEX alerts_one_open_per_rule ON alerts (household_id, rule_id) WHERE state <> 'resolved';
  CREATE INDEX alerts_by_rule ON alerts (household_id, rule_id, opened_at DESC, seq DESC);
  CREATE INDEX alerts_by_opened ON alerts (opened_at DESC, id);
  CREATE INDEX alerts_by_grid ON alerts (grid, opened_at);
  CREATE TABLE alert_timeline (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, alert_id text NOT NULL REFERENCES alerts(id),
    at bigint NOT NULL, kind text NOT NULL, actor text, detail text NOT NULL
  );
  CREATE INDEX alert_timeline_by_alert ON alert_timeline (alert_id, id);
  CREATE TABLE detections (
    key text PRIMARY KEY, household_id text NOT NULL, rule_id text NOT NULL, kind text NOT NULL,
    at bigint NOT NULL, alert_id text
  );
  `,
  // Escalation chains of cluster alerts (the embedded `escalations` table). A claim moves `next_at` a lease ahead
  // (cluster/escalation-steps.ts), so no other worker runs the step while the claimer lives.
  `
  CREATE TABLE escalations (
    alert_id text PRIMARY KEY REFERENCES alerts(id), chain text NOT NULL, source text NOT NULL,
    summary text NOT NULL, started_at bigint NOT NULL, level integer NOT NULL, level_started_at bigint NOT NULL,
    reminders integer NOT NULL, next_at bigint, state text NOT NULL, stopped_reason text, updated_at bigint NOT NULL
  );
  CREATE INDEX escalations_due ON escalations (next_at) WHERE state = 'active';
  `,
  // When a relay first claimed the message: a group waiting for its window takes more alerts only until then
  // (a claim moves next_attempt_at a lease ahead, so a claimed group would look as if it still waited).
  `ALTER TABLE outbox ADD COLUMN claimed_at bigint`,
  // Escalation chains per scope, shared by a cluster's workers (notifier/escalation-tables.ts): the embedded
  // store's columns; \`escalation_settings_version\` counts the changes published (workers poll it).
  `
  CREATE TABLE escalation_settings (
    level text NOT NULL, code text NOT NULL, settings text NOT NULL, updated_at bigint NOT NULL,
    updated_by text NOT NULL, PRIMARY KEY (level, code)
  );
  CREATE TABLE escalation_settings_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL, changed_at bigint, changed_by text
  );
  INSERT INTO escalation_settings_version (version) VALUES (0);
  `,
  rowVersionsMigration(['escalation_settings'], 'escalation_settings_removed', 'escalation_settings_version'),
  // The overview's revision (cluster/alert-figures.ts): the newest entry of each kind, one index seek each.
  `CREATE INDEX alert_timeline_by_kind ON alert_timeline (kind, id)`,
];
