/**
 * Schema migrations, applied in order at open; `PRAGMA user_version` records how many ran.
 * Never edit a released migration: add a new one.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE streets (code TEXT PRIMARY KEY, name TEXT NOT NULL);
  CREATE TABLE communities (code TEXT PRIMARY KEY, street TEXT NOT NULL REFERENCES streets(code), name TEXT NOT NULL);
  CREATE TABLE grids (code TEXT PRIMARY KEY, community TEXT NOT NULL REFERENCES communities(code), name TEXT NOT NULL);
  CREATE TABLE workers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, secret_hash TEXT NOT NULL, phone TEXT
  );
  CREATE TABLE worker_grids (
    worker_id TEXT NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
    grid TEXT NOT NULL REFERENCES grids(code),
    PRIMARY KEY (worker_id, grid)
  ) WITHOUT ROWID;
  CREATE INDEX worker_grids_by_grid ON worker_grids (grid);
  CREATE TABLE households (
    id TEXT PRIMARY KEY, grid TEXT NOT NULL REFERENCES grids(code), address TEXT NOT NULL,
    lives_alone INTEGER NOT NULL DEFAULT 0, elderly INTEGER NOT NULL DEFAULT 0,
    away_until INTEGER, notes TEXT
  );
  CREATE INDEX households_by_grid ON households (grid);
  CREATE TABLE meters (
    id TEXT PRIMARY KEY, household TEXT NOT NULL REFERENCES households(id), secret_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
  );
  CREATE INDEX meters_by_household ON meters (household);

  CREATE TABLE inbox (
    seq INTEGER PRIMARY KEY, meter_id TEXT NOT NULL, ts INTEGER NOT NULL, total_liters REAL NOT NULL,
    received_at INTEGER NOT NULL
  );
  CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, meter_id TEXT, topic TEXT,
    code TEXT NOT NULL, message TEXT NOT NULL, field TEXT, excerpt TEXT
  );
  CREATE INDEX dead_letters_by_meter ON dead_letters (meter_id, received_at);
  CREATE TABLE meter_events (
    id INTEGER PRIMARY KEY, meter_id TEXT NOT NULL, household_id TEXT NOT NULL, ts INTEGER NOT NULL,
    kind TEXT NOT NULL, detail TEXT NOT NULL
  );
  CREATE UNIQUE INDEX meter_events_once ON meter_events (meter_id, ts, kind);
  CREATE TABLE usage_buckets (
    household_id TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, liters REAL,
    PRIMARY KEY (household_id, start)
  ) WITHOUT ROWID;

  CREATE TABLE checkpoints (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE meter_state (meter_id TEXT PRIMARY KEY, state TEXT NOT NULL);
  CREATE TABLE household_state (household_id TEXT PRIMARY KEY, state TEXT NOT NULL);

  CREATE TABLE alerts (
    id TEXT PRIMARY KEY, household_id TEXT NOT NULL, grid TEXT NOT NULL, rule_id TEXT NOT NULL,
    severity TEXT NOT NULL, audience TEXT NOT NULL, state TEXT NOT NULL,
    opened_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    acknowledged_at INTEGER, acknowledged_by TEXT, resolved_at INTEGER, resolved_by TEXT,
    outcome TEXT, note TEXT, evidence TEXT NOT NULL
  );
  CREATE UNIQUE INDEX alerts_one_open_per_rule ON alerts (household_id, rule_id) WHERE state <> 'resolved';
  CREATE INDEX alerts_by_state ON alerts (state, opened_at);
  CREATE INDEX alerts_by_grid ON alerts (grid, opened_at);
  CREATE TABLE alert_timeline (
    id INTEGER PRIMARY KEY, alert_id TEXT NOT NULL REFERENCES alerts(id), at INTEGER NOT NULL,
    kind TEXT NOT NULL, actor TEXT, detail TEXT NOT NULL
  );
  CREATE INDEX alert_timeline_by_alert ON alert_timeline (alert_id, id);
  CREATE TABLE detections (
    key TEXT PRIMARY KEY, household_id TEXT NOT NULL, rule_id TEXT NOT NULL, kind TEXT NOT NULL,
    at INTEGER NOT NULL, alert_id TEXT
  );

  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, channel TEXT NOT NULL, target TEXT NOT NULL, topic TEXT NOT NULL,
    payload TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT, delivered_at INTEGER
  );
  CREATE INDEX outbox_pending ON outbox (state, next_attempt_at);
  `,
  `
  ALTER TABLE workers ADD COLUMN password_hash TEXT;
  CREATE TABLE worker_scopes (
    worker_id TEXT NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
    level TEXT NOT NULL CHECK (level IN ('street', 'community')),
    code TEXT NOT NULL,
    PRIMARY KEY (worker_id, level, code)
  ) WITHOUT ROWID;
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, scope TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, revoked_at INTEGER
  );
  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT, grid TEXT, detail TEXT NOT NULL, ip TEXT
  );
  CREATE INDEX audit_log_by_at ON audit_log (at);
  `,
  // Dead letters by reason and by time (`careflow deadletters`, `GET /api/deadletters`, counts in /metrics).
  `
  CREATE INDEX dead_letters_by_code ON dead_letters (code, received_at);
  CREATE INDEX dead_letters_by_time ON dead_letters (received_at);
  `,
  // Notifier: delivery states and receipts in the outbox, escalation chains and timers, webhook endpoints.
  `
  ALTER TABLE outbox ADD COLUMN alert_id TEXT;
  ALTER TABLE outbox ADD COLUMN level INTEGER;
  ALTER TABLE outbox ADD COLUMN recipient TEXT;
  ALTER TABLE outbox ADD COLUMN sent_at INTEGER;
  ALTER TABLE outbox ADD COLUMN received_at INTEGER;
  ALTER TABLE outbox ADD COLUMN failed_at INTEGER;
  CREATE INDEX outbox_by_alert ON outbox (alert_id);
  CREATE INDEX outbox_unreceived ON outbox (channel, target, state, created_at);
  CREATE TABLE escalation_settings (
    level TEXT NOT NULL CHECK (level IN ('global', 'street', 'community', 'grid')), code TEXT NOT NULL,
    settings TEXT NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL,
    PRIMARY KEY (level, code)
  ) WITHOUT ROWID;
  CREATE TABLE escalations (
    alert_id TEXT PRIMARY KEY REFERENCES alerts(id), chain TEXT NOT NULL, source TEXT NOT NULL,
    summary TEXT NOT NULL, started_at INTEGER NOT NULL, level INTEGER NOT NULL, level_started_at INTEGER NOT NULL, reminders INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER, state TEXT NOT NULL CHECK (state IN ('active', 'stopped', 'exhausted')),
    stopped_reason TEXT, updated_at INTEGER NOT NULL
  );
  CREATE INDEX escalations_due ON escalations (state, next_at);
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL,
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('worker', 'grid', 'community', 'street', 'global')),
    owner_code TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL
  );
  CREATE INDEX webhooks_by_owner ON webhooks (owner_kind, owner_code);
  `,
  // Detectors: rule overrides by scope with their versioned history; away periods (for away mode and backtests).
  `
  CREATE TABLE rule_overrides (
    level TEXT NOT NULL CHECK (level IN ('global', 'street', 'community', 'grid', 'household')),
    code TEXT NOT NULL, rule_id TEXT NOT NULL, override TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (level, code, rule_id)
  ) WITHOUT ROWID;
  CREATE TABLE rule_changes (
    id INTEGER PRIMARY KEY, version INTEGER NOT NULL, at INTEGER NOT NULL, actor TEXT NOT NULL,
    level TEXT NOT NULL, code TEXT NOT NULL, rule_id TEXT NOT NULL, old TEXT, new TEXT, reason TEXT NOT NULL
  );
  CREATE INDEX rule_changes_by_scope ON rule_changes (level, code, id);
  CREATE INDEX rule_changes_by_version ON rule_changes (version);
  CREATE TABLE away_periods (
    id INTEGER PRIMARY KEY, household_id TEXT NOT NULL, from_at INTEGER NOT NULL, until INTEGER NOT NULL,
    reason TEXT, set_by TEXT NOT NULL, set_at INTEGER NOT NULL, cleared_at INTEGER, cleared_by TEXT
  );
  CREATE INDEX away_periods_by_household ON away_periods (household_id, from_at);
  `,
  // Registry: how often a meter sends, when declared (meter-silent waits for it from the first message).
  `
  ALTER TABLE meters ADD COLUMN report_every_minutes INTEGER;
  `,
  // Broker: which principal owns each MQTT client id (a session belongs to the principal that first used it).
  `
  CREATE TABLE mqtt_client_ids (
    client_id TEXT PRIMARY KEY, principal_kind TEXT NOT NULL, principal_id TEXT NOT NULL,
    first_at INTEGER NOT NULL
  );
  CREATE INDEX mqtt_client_ids_by_principal ON mqtt_client_ids (principal_kind, principal_id);
  `,
  // Organisation (issue 16): districts above streets, buildings and units below grids, neighbours' and family
  // contacts' places, consent per household (append-only, so the history proves what was agreed), and the
  // rule and escalation scopes widened to the new levels (SQLite cannot alter a CHECK: the tables are rebuilt).
  `
  CREATE TABLE districts (code TEXT PRIMARY KEY, name TEXT NOT NULL);
  ALTER TABLE streets ADD COLUMN district TEXT REFERENCES districts(code);
  CREATE TABLE buildings (code TEXT PRIMARY KEY, grid TEXT NOT NULL REFERENCES grids(code), name TEXT NOT NULL);
  CREATE INDEX buildings_by_grid ON buildings (grid);
  CREATE TABLE units (code TEXT PRIMARY KEY, building TEXT NOT NULL REFERENCES buildings(code), name TEXT NOT NULL);
  CREATE INDEX units_by_building ON units (building);
  ALTER TABLE households ADD COLUMN building TEXT REFERENCES buildings(code);
  ALTER TABLE households ADD COLUMN unit TEXT REFERENCES units(code);
  CREATE INDEX households_by_building ON households (building);
  CREATE INDEX households_by_unit ON households (unit);
  CREATE TABLE worker_places (
    worker_id TEXT NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
    level TEXT NOT NULL CHECK (level IN ('building', 'unit', 'household')),
    code TEXT NOT NULL,
    PRIMARY KEY (worker_id, level, code)
  ) WITHOUT ROWID;
  CREATE INDEX worker_places_by_place ON worker_places (level, code);
  CREATE TABLE family_contacts (
    worker_id TEXT PRIMARY KEY REFERENCES workers(id) ON DELETE CASCADE,
    household_id TEXT NOT NULL REFERENCES households(id), relation TEXT, audiences TEXT NOT NULL
  );
  CREATE INDEX family_contacts_by_household ON family_contacts (household_id);
  CREATE TABLE consent_records (
    id INTEGER PRIMARY KEY, household_id TEXT NOT NULL, purposes TEXT NOT NULL, given_by TEXT NOT NULL,
    given_at INTEGER NOT NULL, recorded_by TEXT NOT NULL, recorded_at INTEGER NOT NULL, note TEXT
  );
  CREATE INDEX consent_records_by_household ON consent_records (household_id, id);

  CREATE TABLE rule_overrides_v2 (
    level TEXT NOT NULL CHECK (level IN ('global', 'district', 'street', 'community', 'grid', 'building', 'household')),
    code TEXT NOT NULL, rule_id TEXT NOT NULL, override TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (level, code, rule_id)
  ) WITHOUT ROWID;
  INSERT INTO rule_overrides_v2 SELECT level, code, rule_id, override, version FROM rule_overrides;
  DROP TABLE rule_overrides;
  ALTER TABLE rule_overrides_v2 RENAME TO rule_overrides;
  CREATE TABLE escalation_settings_v2 (
    level TEXT NOT NULL CHECK (level IN ('global', 'district', 'street', 'community', 'grid', 'building')),
    code TEXT NOT NULL, settings TEXT NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL,
    PRIMARY KEY (level, code)
  ) WITHOUT ROWID;
  INSERT INTO escalation_settings_v2 SELECT level, code, settings, updated_at, updated_by FROM escalation_settings;
  DROP TABLE escalation_settings;
  ALTER TABLE escalation_settings_v2 RENAME TO escalation_settings;
  `,
  // HTTP ingest: a reading sent again (a platform retrying a batch) is found by meter and time.
  `
  CREATE INDEX inbox_by_meter_ts ON inbox (meter_id, ts);
  `,
  // Broker: keyed fast verifiers of device secrets already checked with scrypt (HMAC under a key kept outside
  // the database, bound to the secret hash; see docs/security.md).
  `
  CREATE TABLE mqtt_secret_verifiers (
    principal_kind TEXT NOT NULL, principal_id TEXT NOT NULL, verifier BLOB NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (principal_kind, principal_id)
  ) WITHOUT ROWID;
  `,
  // Console: the overview and assessment read a period's alerts and their first opening, acknowledgement and
  // escalation from these covering indexes alone (no alert row or timeline detail is read).
  `
  CREATE INDEX alerts_by_opened ON alerts (opened_at, id, grid, audience, state, outcome, resolved_at);
  CREATE INDEX alerts_active ON alerts (state, grid, audience, opened_at, id) WHERE state <> 'resolved';
  CREATE INDEX alert_timeline_by_kind ON alert_timeline (alert_id, kind, id, at, actor);
  CREATE INDEX escalations_level ON escalations (alert_id, level);
  CREATE INDEX alert_timeline_by_kind_id ON alert_timeline (kind, id);
  `,
];
