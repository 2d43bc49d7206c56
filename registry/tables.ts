import { migratePg } from '../core/postgres.ts';
import type { SharedTableSet } from '../core/shared-follower.ts';
import type { CopiedTable } from '../core/table-copy.ts';
import { REGISTRY_PG_MIGRATIONS } from './postgres-migrations.ts';

const t = (name: string, key: string[], columns: [string, 'text' | 'bigint'][]): CopiedTable => ({
  name,
  key,
  columns,
});

/**
 * The tables `careflow import` writes (the organisation, its people, their places and scopes, consent, family
 * contacts and the people's webhooks), with the same columns in the embedded SQLite store and in PostgreSQL,
 * so that a registry moves between them row for row (registry/shared-import.ts, core/shared-follower.ts). Parents
 * come before children.
 */
export const REGISTRY_TABLES: readonly CopiedTable[] = [
  t(
    'districts',
    ['code'],
    [
      ['code', 'text'],
      ['name', 'text'],
    ],
  ),
  t(
    'streets',
    ['code'],
    [
      ['code', 'text'],
      ['name', 'text'],
      ['district', 'text'],
    ],
  ),
  t(
    'communities',
    ['code'],
    [
      ['code', 'text'],
      ['street', 'text'],
      ['name', 'text'],
    ],
  ),
  t(
    'grids',
    ['code'],
    [
      ['code', 'text'],
      ['community', 'text'],
      ['name', 'text'],
    ],
  ),
  t(
    'buildings',
    ['code'],
    [
      ['code', 'text'],
      ['grid', 'text'],
      ['name', 'text'],
    ],
  ),
  t(
    'units',
    ['code'],
    [
      ['code', 'text'],
      ['building', 'text'],
      ['name', 'text'],
    ],
  ),
  t(
    'workers',
    ['id'],
    [
      ['id', 'text'],
      ['name', 'text'],
      ['role', 'text'],
      ['secret_hash', 'text'],
      ['phone', 'text'],
      ['password_hash', 'text'],
    ],
  ),
  t(
    'worker_grids',
    ['worker_id', 'grid'],
    [
      ['worker_id', 'text'],
      ['grid', 'text'],
    ],
  ),
  t(
    'worker_scopes',
    ['worker_id', 'level', 'code'],
    [
      ['worker_id', 'text'],
      ['level', 'text'],
      ['code', 'text'],
    ],
  ),
  t(
    'worker_places',
    ['worker_id', 'level', 'code'],
    [
      ['worker_id', 'text'],
      ['level', 'text'],
      ['code', 'text'],
    ],
  ),
  t(
    'households',
    ['id'],
    [
      ['id', 'text'],
      ['grid', 'text'],
      ['address', 'text'],
      ['lives_alone', 'bigint'],
      ['elderly', 'bigint'],
      ['away_until', 'bigint'],
      ['notes', 'text'],
      ['building', 'text'],
      ['unit', 'text'],
    ],
  ),
  t(
    'meters',
    ['id'],
    [
      ['id', 'text'],
      ['household', 'text'],
      ['secret_hash', 'text'],
      ['active', 'bigint'],
      ['report_every_minutes', 'bigint'],
    ],
  ),
  t(
    'family_contacts',
    ['worker_id'],
    [
      ['worker_id', 'text'],
      ['household_id', 'text'],
      ['relation', 'text'],
      ['audiences', 'text'],
    ],
  ),
  t(
    'consent_records',
    ['id'],
    [
      ['id', 'bigint'],
      ['household_id', 'text'],
      ['purposes', 'text'],
      ['given_by', 'text'],
      ['given_at', 'bigint'],
      ['recorded_by', 'text'],
      ['recorded_at', 'bigint'],
      ['note', 'text'],
    ],
  ),
  t(
    'webhooks',
    ['id'],
    [
      ['id', 'text'],
      ['url', 'text'],
      ['secret', 'text'],
      ['owner_kind', 'text'],
      ['owner_code', 'text'],
      ['enabled', 'bigint'],
      ['created_at', 'bigint'],
      ['updated_at', 'bigint'],
      ['updated_by', 'text'],
    ],
  ),
];

/** The registry as a set of shared tables (core/shared-follower.ts), raised by `careflow import --cluster`. */
export const REGISTRY_SET: SharedTableSet = {
  name: 'registry',
  tables: REGISTRY_TABLES,
  versionTable: 'registry_version',
  removedTable: 'registry_removed',
  migrate: (pool) => migratePg(pool, 'registry', REGISTRY_PG_MIGRATIONS),
};
