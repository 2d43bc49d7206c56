import type { Config } from '../core/config.ts';
import type { PgPool } from '../core/postgres.ts';
import type { RuleAdmin, RuleChanges, RuleScope } from '../core/rules.ts';
import type { SharedFollower } from '../core/shared-follower.ts';
import { RuleBook, type RuleBookTables } from '../detectors/rule-book.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { setRulesShared } from '../detectors/shared-rules.ts';
import { REGISTRY_SET } from '../registry/tables.ts';

/**
 * The rules API of a cluster worker (`/api/rules…`): reads answer from the rule hierarchy this worker follows
 * (`book`: a RuleBook over its embedded store, brought up to the pulled version before each answer); a change is
 * published once for the cluster as `careflow rules set --cluster` publishes it (detectors/shared-rules.ts: the
 * embedded RuleBook's validation and versioned history on a scratch copy of the shared rules and registry), then
 * this worker pulls it at once, so the person reads back what they set; the other workers' detectors take it
 * within `cluster.registryPollMs` and a tick.
 */
export function sharedRuleAdmin(
  book: RuleBook,
  config: Pick<Config, 'detectors' | 'bucketMinutes'>,
  pool: PgPool,
  follower: Pick<SharedFollower, 'poll'>,
): RuleAdmin {
  const fresh = () => {
    book.followStore();
    return book;
  };
  return {
    version: () => fresh().version(),
    effective: (householdId) => fresh().effective(householdId),
    overrides: (scope) => fresh().overrides(scope),
    history: (scope, limit) => fresh().history(scope, limit),
    async set(scope: RuleScope, changes: RuleChanges, by, stored) {
      const result = await setRulesShared(pool, {
        scope,
        changes: () => changes,
        by,
        config: config.detectors.rules,
        bucketMinutes: config.bucketMinutes,
        places: [REGISTRY_SET],
      });
      await follower.poll();
      book.followStore();
      const answer = { version: result.version, changes: result.changes };
      if (result.changes.length > 0) stored?.(answer);
      return answer;
    },
  };
}

/** The rule book a cluster worker's API reads and backtests with: over its embedded store's followed rules. */
export function followedRuleBook(
  store: RuleBookTables,
  config: Pick<Config, 'detectors' | 'bucketMinutes'>,
): RuleBook {
  return new RuleBook(store, DEFAULT_RULES, config.detectors.rules, config.bucketMinutes);
}
