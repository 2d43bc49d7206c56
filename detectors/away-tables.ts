import { migratePg } from '../core/postgres.ts';
import type { SharedTableSet } from '../core/shared-follower.ts';
import { DETECTORS_PG_MIGRATIONS } from './postgres-migrations.ts';

/**
 * Households' away marks (spans) as a set of shared tables (core/shared-follower.ts): set or ended once for the
 * cluster through any worker's `PUT|DELETE /api/households/:id/away` (detectors/shared-away.ts), pulled by every
 * worker into its embedded store, where its detectors' away book reads them again when the store changes (as after
 * an import). Until the first change (version 0) each worker keeps the spans of its own data directory.
 */
export const AWAY_SET: SharedTableSet = {
  name: 'away',
  tables: [
    {
      name: 'away_periods',
      key: ['id'],
      columns: [
        ['id', 'bigint'],
        ['household_id', 'text'],
        ['from_at', 'bigint'],
        ['until', 'bigint'],
        ['reason', 'text'],
        ['set_by', 'text'],
        ['set_at', 'bigint'],
        ['cleared_at', 'bigint'],
        ['cleared_by', 'text'],
      ],
    },
  ],
  versionTable: 'away_version',
  removedTable: 'away_removed',
  migrate: (pool) => migratePg(pool, 'detectors', DETECTORS_PG_MIGRATIONS),
};
