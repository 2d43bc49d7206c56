import { migratePg } from '../core/postgres.ts';
import type { SharedTableSet } from '../core/shared-follower.ts';
import { DETECTORS_PG_MIGRATIONS } from './postgres-migrations.ts';

/**
 * The rule hierarchy's stored overrides and their history as a set of shared tables (core/shared-follower.ts):
 * changed once for the cluster (detectors/shared-rules.ts, `careflow rules set --cluster`), pulled by every
 * worker into its embedded store, where its detectors' RuleBook reloads them (start-detectors.ts).
 */
export const RULES_SET: SharedTableSet = {
  name: 'rules',
  tables: [
    {
      name: 'rule_overrides',
      key: ['level', 'code', 'rule_id'],
      columns: [
        ['level', 'text'],
        ['code', 'text'],
        ['rule_id', 'text'],
        ['override', 'text'],
        ['version', 'bigint'],
      ],
    },
    {
      name: 'rule_changes',
      key: ['id'],
      columns: [
        ['id', 'bigint'],
        ['version', 'bigint'],
        ['at', 'bigint'],
        ['actor', 'text'],
        ['level', 'text'],
        ['code', 'text'],
        ['rule_id', 'text'],
        ['old', 'text'],
        ['new', 'text'],
        ['reason', 'text'],
      ],
    },
  ],
  versionTable: 'rules_version',
  removedTable: 'rules_removed',
  migrate: (pool) => migratePg(pool, 'detectors', DETECTORS_PG_MIGRATIONS),
};
