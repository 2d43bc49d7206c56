import { rowVersionsMigration } from '../core/table-copy.ts';

/**
 * The registry's tables in the shared PostgreSQL store, migrated in order (see migratePg). Never edit a released
 * migration: add a new one. The columns are those of the embedded store (registry/tables.ts), so that an import
 * moves row for row; references are checked by the import, the only writer, before anything is written.
 * `registry_version` counts the imports: workers poll it and pull the registry again when it moves.
 */
export const REGISTRY_PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE districts (code text PRIMARY KEY, name text NOT NULL);
  CREATE TABLE streets (code text PRIMARY KEY, name text NOT NULL, district text);
  CREATE TABLE communities (code text PRIMARY KEY, street text NOT NULL, name text NOT NULL);
  CREATE TABLE grids (code text PRIMARY KEY, community text NOT NULL, name text NOT NULL);
  CREATE TABLE buildings (code text PRIMARY KEY, grid text NOT NULL, name text NOT NULL);
  CREATE INDEX buildings_by_grid ON buildings (grid);
  CREATE TABLE units (code text PRIMARY KEY, building text NOT NULL, name text NOT NULL);
  CREATE TABLE workers (
    id text PRIMARY KEY, name text NOT NULL, role text NOT NULL, secret_hash text NOT NULL, phone text,
    password_hash text
  );
  CREATE TABLE worker_grids (worker_id text NOT NULL, grid text NOT NULL, PRIMARY KEY (worker_id, grid));
  CREATE INDEX worker_grids_by_grid ON worker_grids (grid);
  CREATE TABLE worker_scopes (
    worker_id text NOT NULL, level text NOT NULL, code text NOT NULL, PRIMARY KEY (worker_id, level, code)
  );
  CREATE TABLE worker_places (
    worker_id text NOT NULL, level text NOT NULL, code text NOT NULL, PRIMARY KEY (worker_id, level, code)
  );
  CREATE INDEX worker_places_by_place ON worker_places (level, code);
  CREATE TABLE households (
    id text PRIMARY KEY, grid text NOT NULL, address text NOT NULL, lives_alone bigint NOT NULL DEFAULT 0,
    elderly bigint NOT NULL DEFAULT 0, away_until bigint, notes text, building text, unit text
  );
  CREATE INDEX households_by_grid ON households (grid);
  CREATE TABLE meters (
    id text PRIMARY KEY, household text NOT NULL, secret_hash text NOT NULL, active bigint NOT NULL DEFAULT 1,
    report_every_minutes bigint
  );
  CREATE INDEX meters_by_household ON meters (household);
  CREATE TABLE family_contacts (
    worker_id text PRIMARY KEY, household_id text NOT NULL, relation text, audiences text NOT NULL
  );
  CREATE INDEX family_contacts_by_household ON family_contacts (household_id);
  CREATE TABLE consent_records (
    id bigint PRIMARY KEY, household_id text NOT NULL, purposes text NOT NULL, given_by text NOT NULL,
    given_at bigint NOT NULL, recorded_by text NOT NULL, recorded_at bigint NOT NULL, note text
  );
  CREATE INDEX consent_records_by_household ON consent_records (household_id, id);
  CREATE TABLE webhooks (
    id text PRIMARY KEY, url text NOT NULL, secret text NOT NULL, owner_kind text NOT NULL,
    owner_code text NOT NULL, enabled bigint NOT NULL DEFAULT 1, created_at bigint NOT NULL,
    updated_at bigint NOT NULL, updated_by text NOT NULL
  );
  CREATE TABLE registry_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL, imported_at bigint,
    imported_by text
  );
  INSERT INTO registry_version (version) VALUES (0);
  `,
  // Row versions (core/table-copy.ts): a worker holding version v pulls only the rows later versions wrote and the
  // keys they removed, not the whole registry.
  rowVersionsMigration(
    [
      'districts',
      'streets',
      'communities',
      'grids',
      'buildings',
      'units',
      'workers',
      'worker_grids',
      'worker_scopes',
      'worker_places',
      'households',
      'meters',
      'family_contacts',
      'consent_records',
      'webhooks',
    ],
    'registry_removed',
    'registry_version',
  ),
  // API keys of a cluster (registry/api-key-tables.ts): the embedded store's columns (the key's hash, never the
  // key), made and revoked through any worker's API; \`api_keys_version\` counts the changes (workers poll it).
  `
  CREATE TABLE api_keys (
    id text PRIMARY KEY, name text NOT NULL, role text NOT NULL, scope text NOT NULL, key_hash text NOT NULL UNIQUE,
    created_at bigint NOT NULL, created_by text NOT NULL, revoked_at bigint
  );
  CREATE TABLE api_keys_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL, changed_at bigint, changed_by text
  );
  INSERT INTO api_keys_version (version) VALUES (0);
  `,
  rowVersionsMigration(['api_keys'], 'api_keys_removed', 'api_keys_version'),
];
