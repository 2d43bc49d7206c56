import { rowVersionsMigration } from '../core/table-copy.ts';

/**
 * The detectors' tables in the shared PostgreSQL store (see migratePg). Never edit a released migration: add a
 * new one. A household's state is binary (`bytes`) or, from earlier releases, JSON text (`json`): one of them.
 */
export const DETECTORS_PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE household_state (
    household_id text PRIMARY KEY, bytes bytea, json text,
    CONSTRAINT household_state_one_form CHECK ((bytes IS NULL) <> (json IS NULL))
  );
  `,
  // The rule hierarchy of a cluster (detectors/rule-tables.ts): overrides by scope and their versioned history,
  // with the embedded store's columns; \`rules_version\` counts the changes published (workers poll it).
  `
  CREATE TABLE rule_overrides (
    level text NOT NULL, code text NOT NULL, rule_id text NOT NULL, override text NOT NULL, version bigint NOT NULL,
    PRIMARY KEY (level, code, rule_id)
  );
  CREATE TABLE rule_changes (
    id bigint PRIMARY KEY, version bigint NOT NULL, at bigint NOT NULL, actor text NOT NULL, level text NOT NULL,
    code text NOT NULL, rule_id text NOT NULL, old text, new text, reason text NOT NULL
  );
  CREATE TABLE rules_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL, changed_at bigint, changed_by text
  );
  INSERT INTO rules_version (version) VALUES (0);
  `,
  // Row versions of the shared rule tables (core/table-copy.ts): workers pull only what a change wrote.
  rowVersionsMigration(['rule_overrides', 'rule_changes'], 'rules_removed', 'rules_version'),
  // Away marks of a cluster (detectors/away-tables.ts): the embedded store's spans, set through any worker's
  // \`PUT /api/households/:id/away\`; \`away_version\` counts the changes published (workers poll it).
  `
  CREATE TABLE away_periods (
    id bigint PRIMARY KEY, household_id text NOT NULL, from_at bigint NOT NULL, until bigint NOT NULL,
    reason text, set_by text NOT NULL, set_at bigint NOT NULL, cleared_at bigint, cleared_by text
  );
  CREATE TABLE away_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL, changed_at bigint, changed_by text
  );
  INSERT INTO away_version (version) VALUES (0);
  `,
  rowVersionsMigration(['away_periods'], 'away_removed', 'away_version'),
];
