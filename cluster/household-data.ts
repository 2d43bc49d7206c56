import { inPgTransaction, type PgClient, type PgPool } from '../core/postgres.ts';
import type { ErasureReport, HouseholdExport } from '../core/store/personal-data-repo.ts';
import { removeSharedRows } from '../core/table-copy.ts';
import { AWAY_LOCK_KEY } from '../detectors/shared-away.ts';
import { AWAY_SET } from '../detectors/away-tables.ts';
import { RULES_SET } from '../detectors/rule-tables.ts';
import { RULES_LOCK_KEY } from '../detectors/shared-rules.ts';
import { REGISTRY_LOCK_KEY } from '../registry/shared-import.ts';
import { REGISTRY_SET } from '../registry/tables.ts';

/** The ids a household's rows are found by: its meters, its alerts, its family members (people). */
interface Ids {
  household: string;
  meters: string[];
  alerts: string[];
  family: string[];
}

/**
 * One kind of row about a household in the shared store: its table, how it is found (`$1` household, `$2`
 * meters, `$3` alerts, `$4` family; as arrays but `$1`), and what the export shows of it (default: every column
 * but the followers' row version).
 */
interface HouseholdRows {
  name: string;
  table: string;
  where: string;
  columns?: string;
  order?: string;
}

/** Rows of the shared sets (registry, rules, away marks): removed with the set's version raised. */
const SET_ROWS: readonly (HouseholdRows & { set: 'registry' | 'rules' | 'away' })[] = [
  { set: 'registry', name: 'households', table: 'households', where: 'id = $1' },
  {
    set: 'registry',
    name: 'meters',
    table: 'meters',
    where: 'household = $1',
    columns: 'id, household, active, report_every_minutes',
  },
  { set: 'registry', name: 'familyContacts', table: 'family_contacts', where: 'household_id = $1' },
  {
    set: 'registry',
    name: 'familyPeople',
    table: 'workers',
    where: `role = 'family' AND id = ANY($4)`,
    columns: 'id, name, role, phone',
  },
  {
    set: 'registry',
    name: 'placeAssignments',
    table: 'worker_places',
    where: `(level = 'household' AND code = $1) OR worker_id = ANY($4)`,
  },
  {
    set: 'registry',
    name: 'familyWebhooks',
    table: 'webhooks',
    where: `owner_kind = 'worker' AND owner_code = ANY($4)`,
    columns: 'id, url, owner_kind, owner_code, enabled, created_at, updated_at, updated_by',
  },
  { set: 'away', name: 'awayPeriods', table: 'away_periods', where: 'household_id = $1', order: 'id' },
  {
    set: 'rules',
    name: 'ruleOverrides',
    table: 'rule_overrides',
    where: `level = 'household' AND code = $1`,
  },
  {
    set: 'rules',
    name: 'ruleChanges',
    table: 'rule_changes',
    where: `level = 'household' AND code = $1`,
    order: 'id',
  },
];

/** The modules' own rows (ingest, detectors, notifier, the cluster's partition map), children first. */
const DATA_ROWS: readonly HouseholdRows[] = [
  { name: 'alertTimeline', table: 'alert_timeline', where: 'alert_id = ANY($3)', order: 'id' },
  { name: 'outbox', table: 'outbox', where: 'alert_id = ANY($3)', order: 'id' },
  { name: 'escalations', table: 'escalations', where: 'alert_id = ANY($3)' },
  { name: 'detections', table: 'detections', where: 'household_id = $1', order: 'at, key' },
  { name: 'alerts', table: 'alerts', where: 'household_id = $1', order: 'opened_at, id' },
  {
    name: 'readings',
    table: 'inbox',
    where: 'meter_id = ANY($2)',
    columns: 'seq, meter_id, ts, total_liters, received_at',
    order: 'seq',
  },
  { name: 'deadLetters', table: 'dead_letters', where: 'meter_id = ANY($2)', order: 'id' },
  {
    name: 'meterEvents',
    table: 'meter_events',
    where: 'household_id = $1 OR meter_id = ANY($2)',
    order: 'id',
  },
  { name: 'meterState', table: 'meter_state', where: 'meter_id = ANY($2)' },
  { name: 'usageBuckets', table: 'usage_buckets', where: 'household_id = $1', order: 'start' },
  {
    name: 'detectorState',
    table: 'household_state',
    where: 'household_id = $1',
    columns: `household_id, coalesce(encode(bytes, 'base64'), json) AS state`,
  },
  { name: 'partitionMeters', table: 'cluster_partition_meters', where: 'meter_id = ANY($2)' },
];

/** Kept on erasure, as in the embedded store: the consent records (proof) and the audit log (accountability). */
const KEPT_ROWS: readonly HouseholdRows[] = [
  { name: 'consentRecords', table: 'consent_records', where: 'household_id = $1', order: 'id' },
  {
    name: 'audit',
    table: 'audit_log',
    where: `target = $1 OR target = 'household:' || $1 OR target = ANY($3) OR actor = ANY($4) OR target = ANY($4)`,
    order: 'id',
  },
];

async function idsOf(db: Pick<PgClient, 'query'>, household: string): Promise<Ids> {
  const { rows } = await db.query<{ meters: string[]; alerts: string[]; family: string[] }>(
    `SELECT
       ARRAY(SELECT id FROM meters WHERE household = $1
             UNION SELECT meter_id FROM cluster_partition_meters WHERE household_id = $1) AS meters,
       ARRAY(SELECT id FROM alerts WHERE household_id = $1) AS alerts,
       ARRAY(SELECT worker_id FROM family_contacts WHERE household_id = $1) AS family`,
    [household],
  );
  return { household, ...rows[0]! };
}

/**
 * A row kind's `where` with only the parameters it uses, numbered from 1 (PostgreSQL cannot type a parameter a
 * statement does not use).
 */
function bind(where: string, ids: Ids): { sql: string; values: unknown[] } {
  const all = [ids.household, ids.meters, ids.alerts, ids.family];
  const values: unknown[] = [];
  const index = new Map<string, number>();
  const sql = where.replace(/\$(\d)/g, (_, n: string) => {
    if (!index.has(n)) {
      values.push(all[Number(n) - 1]);
      index.set(n, values.length);
    }
    return `$${index.get(n)}`;
  });
  return { sql, values };
}

/**
 * Every stored row about a household in the shared store, by kind (the embedded export's names; secrets and
 * their hashes left out), read in one snapshot (`GET /api/households/:id/export` through a worker).
 */
export async function exportHouseholdShared(pool: PgPool, household: string): Promise<HouseholdExport> {
  return inPgTransaction(
    pool,
    async (client) => {
      const ids = await idsOf(client, household);
      const out: HouseholdExport = {};
      for (const rows of [...SET_ROWS, ...DATA_ROWS, ...KEPT_ROWS]) {
        const { sql, values } = bind(rows.where, ids);
        const { rows: found } = await client.query<Record<string, unknown>>(
          `SELECT ${rows.columns ?? '*'} FROM ${rows.table} WHERE ${sql}` +
            (rows.order ? ` ORDER BY ${rows.order}` : ''),
          values,
        );
        out[rows.name] = found.map(({ _rv: _version, ...row }) => row);
      }
      return out;
    },
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  );
}

export interface SharedErasure extends ErasureReport {
  /** The registry version without the household (0: it held no registry row any more). */
  registryVersion: number;
  /** Partitions reset: their owners restore them without the household's state. */
  partitions: number[];
}

/**
 * Erases a household's personal data from the shared store (`POST /api/households/:id/erase` through a worker),
 * keeping its consent records and the audit log as the embedded erasure does. In order:
 *
 * 1. its rows of the shared sets — registry (household, meters, family people and their places and webhooks),
 *    rules and away marks — removed with each set's version raised, under each set's lock: every worker drops
 *    them at its next pull, and from then on its meters' readings are unknown (dead letters);
 * 2. in one transaction: the partitions holding its meters are reset first (their owners' commits in flight
 *    finish before, or are refused after), then its alerts with their timelines, deliveries, escalations and
 *    detections, its readings, dead letters, meter events and states, usage buckets, detector state and partition
 *    membership are deleted. An owner whose commit is refused restores the partition — once its registry has the
 *    version of step 1 — without the household's state, and commits the batch again.
 */
export async function eraseHouseholdShared(
  pool: PgPool,
  household: string,
  by: { actor: string; at: number },
): Promise<SharedErasure> {
  const ids = await idsOf(pool, household);
  const deleted: Record<string, number> = {};
  let registryVersion = 0;
  const sets = [
    {
      name: 'registry',
      set: REGISTRY_SET,
      lockKey: REGISTRY_LOCK_KEY,
      raise: 'registry_version SET version = version + 1, imported_at = $1, imported_by = $2',
    },
    {
      name: 'rules',
      set: RULES_SET,
      lockKey: RULES_LOCK_KEY,
      raise: 'rules_version SET version = version + 1, changed_at = $1, changed_by = $2',
    },
    {
      name: 'away',
      set: AWAY_SET,
      lockKey: AWAY_LOCK_KEY,
      raise: 'away_version SET version = version + 1, changed_at = $1, changed_by = $2',
    },
  ] as const;
  for (const { name, set, lockKey, raise } of sets) {
    await set.migrate(pool);
    const kinds = SET_ROWS.filter((r) => r.set === name);
    const client = await pool.connect();
    try {
      const { version, removed } = await removeSharedRows(
        client,
        { ...set, lockKey },
        kinds.map((r) => {
          const { sql, values } = bind(r.where, ids);
          return { table: set.tables.find((t) => t.name === r.table)!, where: sql, params: values };
        }),
        { sql: `UPDATE ${raise} RETURNING version`, params: [by.at, `erase:${by.actor}`] },
      );
      for (const r of kinds) deleted[r.name] = removed[r.table] ?? 0;
      if (name === 'registry' && version !== null) registryVersion = version;
    } finally {
      client.release();
    }
  }
  return inPgTransaction(pool, async (client) => {
    const { rows: reset } = await client.query<{ partition: number }>(
      `UPDATE cluster_partitions SET resets = resets + 1, registry_at_least = greatest(registry_at_least, $2)
       WHERE partition IN (SELECT partition FROM cluster_partition_meters WHERE meter_id = ANY($1))
       RETURNING partition`,
      [ids.meters, registryVersion],
    );
    for (const rows of DATA_ROWS) {
      const { sql, values } = bind(rows.where, ids);
      const { rowCount } = await client.query(`DELETE FROM ${rows.table} WHERE ${sql}`, values);
      deleted[rows.name] = rowCount ?? 0;
    }
    const audit = bind(KEPT_ROWS[1]!.where, ids);
    const { rows: kept } = await client.query<{ audit: number; consent: number }>(
      `SELECT (SELECT count(*) FROM audit_log WHERE ${audit.sql}) AS audit,
              (SELECT count(*) FROM consent_records WHERE household_id = $${audit.values.length + 1}) AS consent`,
      [...audit.values, ids.household],
    );
    return {
      deleted,
      kept: { auditEntries: Number(kept[0]!.audit), consentRecords: Number(kept[0]!.consent) },
      registryVersion,
      partitions: reset.map((r) => r.partition).sort((a, b) => a - b),
    };
  });
}
