import { migratePg } from '../core/postgres.ts';
import type { SharedTableSet } from '../core/shared-follower.ts';
import { NOTIFIER_PG_MIGRATIONS } from './postgres-migrations.ts';

/**
 * The escalation chains set per scope as a set of shared tables (core/shared-follower.ts): changed once for the
 * cluster through any worker's `PUT /api/escalation/:scope/:code` (notifier/shared-escalation.ts), pulled by every
 * worker into its embedded store, where its notifier reads them for each chain it opens or steps. Until the first
 * change (version 0) each worker keeps the settings of its own data directory.
 */
export const ESCALATION_SET: SharedTableSet = {
  name: 'escalation',
  tables: [
    {
      name: 'escalation_settings',
      key: ['level', 'code'],
      columns: [
        ['level', 'text'],
        ['code', 'text'],
        ['settings', 'text'],
        ['updated_at', 'bigint'],
        ['updated_by', 'text'],
      ],
    },
  ],
  versionTable: 'escalation_settings_version',
  removedTable: 'escalation_settings_removed',
  migrate: (pool) => migratePg(pool, 'notifier', NOTIFIER_PG_MIGRATIONS),
};
