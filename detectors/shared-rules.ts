import type { PgPool } from '../core/postgres.ts';
import type { RuleChangeRecord, RuleChanges, RuleScope, ScopeOverrides } from '../core/rules.ts';
import type { Store } from '../core/store/store.ts';
import type { SharedTableSet } from '../core/shared-follower.ts';
import { copyTablesFromPg, publishTables, withLockedScratchStore } from '../core/table-copy.ts';
import { RuleBook } from './rule-book.ts';
import { RULES_SET } from './rule-tables.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';

/** One rule change to the shared store at a time (an advisory lock; the key is 'rules' in ASCII). */
export const RULES_LOCK_KEY = '491596309875';

export interface SharedRuleChange {
  scope: RuleScope;
  /** The change, from the scope's overrides in force (so that a field can be set without restating the rest). */
  changes: (current: ScopeOverrides) => RuleChanges;
  by: { actor: string; at: number; reason: string };
  /** The config file's rules and bucket size, as the workers have them (validation resolves with them). */
  config: ScopeOverrides;
  bucketMinutes: number;
  /** What scopes and households exist (the shared registry): read for validation, never written. */
  places: readonly SharedTableSet[];
}

/**
 * `careflow rules set … --cluster`: changes the rule hierarchy once for the whole cluster.
 *
 * Steps: `[lock, stage, RuleBook.set, publish]`. Under an advisory lock, the shared rules and the registry (for
 * the scopes) are copied into a scratch embedded store, the change is made there by the embedded RuleBook (the
 * same validation of the scope and of every more specific scope below it, the same versioned history), and the
 * rule tables replace PostgreSQL's in one transaction that raises `rules_version`; every worker pulls them and its
 * detectors take the new rules at their next tick. A refused change publishes nothing.
 */
export async function setRulesShared(
  pool: PgPool,
  change: SharedRuleChange,
): Promise<{ version: number; changes: RuleChangeRecord[]; published: number }> {
  const sets = [...change.places, RULES_SET];
  for (const set of sets) await set.migrate(pool);
  return withLockedScratchStore(pool, RULES_LOCK_KEY, async (client, store) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (const set of sets) await copyTablesFromPg(set.tables, client, store.db);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM rules_version');
    await client.query('COMMIT');
    const book = new RuleBook(store, DEFAULT_RULES, change.config, change.bucketMinutes);
    const result = book.set(change.scope, change.changes(book.overrides(change.scope)), change.by);
    if (result.changes.length === 0) return { ...result, published: Number(rows[0]?.version ?? 0) };
    const published = await publishTables(client, RULES_SET, store.db, {
      sql: 'UPDATE rules_version SET version = version + 1, changed_at = $1, changed_by = $2 RETURNING version',
      params: [change.by.at, change.by.actor],
    });
    return { ...result, published };
  });
}

export interface SharedRulesView {
  /** The config file's rules and bucket size, as the workers have them. */
  config: ScopeOverrides;
  bucketMinutes: number;
  /** What scopes and households exist (the shared registry). */
  places: readonly SharedTableSet[];
}

/**
 * `careflow rules get|history|effective … --cluster`: reads the cluster's rule hierarchy as the workers have it.
 * The shared rules and registry are copied, in one consistent snapshot and under the same advisory lock as a
 * change (never half a change), into a scratch embedded store, and `read` asks the embedded RuleBook there —
 * the answers a running service's rules API gives, without what a worker's detectors learned.
 */
export async function readRulesShared<T>(
  pool: PgPool,
  view: SharedRulesView,
  read: (book: RuleBook, store: Pick<Store, 'registry' | 'rules'>) => T,
): Promise<T> {
  const sets = [...view.places, RULES_SET];
  for (const set of sets) await set.migrate(pool);
  return withLockedScratchStore(pool, RULES_LOCK_KEY, async (client, store) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (const set of sets) await copyTablesFromPg(set.tables, client, store.db);
    await client.query('COMMIT');
    return read(new RuleBook(store, DEFAULT_RULES, view.config, view.bucketMinutes), store);
  });
}
