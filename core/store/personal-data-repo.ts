import type { RuleAudience } from '../rules.ts';
import type { Db } from './open-store.ts';

/** Every stored row about one household, by table (secrets and their hashes left out). */
export type HouseholdExport = Record<string, Record<string, unknown>[]>;

/** What an erasure deleted, by table, and what it kept by policy. */
export interface ErasureReport {
  deleted: Record<string, number>;
  kept: { auditEntries: number; consentRecords: number };
}

/**
 * The lifecycle of personal data across the store: export of everything about one household, its erasure,
 * and retention. It reads and deletes rows of many modules' tables on purpose (a request of the resident
 * concerns all of them); the table list is here, in one place, so a new table about households is added once.
 *
 * Kept on erasure (README "Personal information"): the audit log (who did what, when — accountability the
 * law asks of the operator) and the consent records (proof of what the resident agreed to and withdrew).
 */
export class PersonalDataRepo {
  constructor(private readonly db: Db) {}

  export(householdId: string): HouseholdExport {
    const ids = this.ids(householdId);
    const q = (sql: string, ...args: unknown[]) =>
      this.db.prepare(sql).all(...args) as Record<string, unknown>[];
    const m = JSON.stringify(ids.meters);
    const a = JSON.stringify(ids.alerts);
    const f = JSON.stringify(ids.family);
    return {
      households: q('SELECT * FROM households WHERE id = ?', householdId),
      meters: q(
        'SELECT id, household, active, report_every_minutes FROM meters WHERE id IN (SELECT value FROM json_each(?))',
        m,
      ),
      readings: q('SELECT * FROM inbox WHERE meter_id IN (SELECT value FROM json_each(?)) ORDER BY seq', m),
      deadLetters: q(
        'SELECT * FROM dead_letters WHERE meter_id IN (SELECT value FROM json_each(?)) ORDER BY id',
        m,
      ),
      meterEvents: q(
        `SELECT * FROM meter_events WHERE household_id = ? OR meter_id IN (SELECT value FROM json_each(?))
         ORDER BY id`,
        householdId,
        m,
      ),
      meterState: q('SELECT * FROM meter_state WHERE meter_id IN (SELECT value FROM json_each(?))', m),
      usageBuckets: q('SELECT * FROM usage_buckets WHERE household_id = ? ORDER BY start', householdId),
      detectorState: q('SELECT * FROM household_state WHERE household_id = ?', householdId),
      alerts: q('SELECT * FROM alerts WHERE household_id = ? ORDER BY opened_at, id', householdId),
      alertTimeline: q(
        'SELECT * FROM alert_timeline WHERE alert_id IN (SELECT value FROM json_each(?)) ORDER BY id',
        a,
      ),
      detections: q('SELECT * FROM detections WHERE household_id = ? ORDER BY at, key', householdId),
      escalations: q('SELECT * FROM escalations WHERE alert_id IN (SELECT value FROM json_each(?))', a),
      outbox: q('SELECT * FROM outbox WHERE alert_id IN (SELECT value FROM json_each(?)) ORDER BY id', a),
      awayPeriods: q('SELECT * FROM away_periods WHERE household_id = ? ORDER BY id', householdId),
      ruleOverrides: q(`SELECT * FROM rule_overrides WHERE level = 'household' AND code = ?`, householdId),
      ruleChanges: q(
        `SELECT * FROM rule_changes WHERE level = 'household' AND code = ? ORDER BY id`,
        householdId,
      ),
      consentRecords: q('SELECT * FROM consent_records WHERE household_id = ? ORDER BY id', householdId),
      familyContacts: q(
        `SELECT f.worker_id AS id, f.household_id, f.relation, f.audiences, w.name, w.phone FROM family_contacts f
         JOIN workers w ON w.id = f.worker_id WHERE f.household_id = ? ORDER BY f.worker_id`,
        householdId,
      ),
      familyWebhooks: q(
        `SELECT id, url, owner_kind, owner_code, enabled, created_at, updated_at, updated_by FROM webhooks
         WHERE owner_kind = 'worker' AND owner_code IN (SELECT value FROM json_each(?)) ORDER BY id`,
        f,
      ),
      mqttSecretVerifiers: q(
        `SELECT principal_kind, principal_id, at FROM mqtt_secret_verifiers
         WHERE (principal_kind = 'meter' AND principal_id IN (SELECT value FROM json_each(?)))
           OR (principal_kind = 'worker' AND principal_id IN (SELECT value FROM json_each(?)))`,
        m,
        f,
      ),
      mqttClientIds: q(
        `SELECT * FROM mqtt_client_ids WHERE (principal_kind = 'meter' AND principal_id IN (SELECT value FROM json_each(?)))
           OR (principal_kind = 'worker' AND principal_id IN (SELECT value FROM json_each(?))) ORDER BY client_id`,
        m,
        f,
      ),
      placeAssignments: q(
        `SELECT * FROM worker_places WHERE (level = 'household' AND code = ?)
           OR worker_id IN (SELECT value FROM json_each(?))`,
        householdId,
        f,
      ),
      audit: q(
        `SELECT * FROM audit_log WHERE target = ? OR target = ? OR target IN (SELECT value FROM json_each(?))
           OR actor IN (SELECT value FROM json_each(?)) OR target IN (SELECT value FROM json_each(?))
         ORDER BY id`,
        householdId,
        `household:${householdId}`,
        a,
        f,
        f,
      ),
    };
  }

  /** Deletes every row about the household except the audit log and consent records (call in a transaction). */
  erase(householdId: string): ErasureReport {
    const ids = this.ids(householdId);
    const m = JSON.stringify(ids.meters);
    const a = JSON.stringify(ids.alerts);
    const f = JSON.stringify(ids.family);
    const run = (sql: string, ...args: unknown[]) => this.db.prepare(sql).run(...args).changes;
    const inM = 'IN (SELECT value FROM json_each(?))';
    const kept = {
      auditEntries: this.db
        .prepare(`SELECT count(*) FROM audit_log WHERE target = ? OR target = ? OR target ${inM}`)
        .pluck()
        .get(householdId, `household:${householdId}`, a) as number,
      consentRecords: this.db
        .prepare('SELECT count(*) FROM consent_records WHERE household_id = ?')
        .pluck()
        .get(householdId) as number,
    };
    const deleted: Record<string, number> = {
      alertTimeline: run(`DELETE FROM alert_timeline WHERE alert_id ${inM}`, a),
      outbox: run(`DELETE FROM outbox WHERE alert_id ${inM}`, a),
      escalations: run(`DELETE FROM escalations WHERE alert_id ${inM}`, a),
      detections: run('DELETE FROM detections WHERE household_id = ?', householdId),
      alerts: run('DELETE FROM alerts WHERE household_id = ?', householdId),
      readings: run(`DELETE FROM inbox WHERE meter_id ${inM}`, m),
      deadLetters: run(`DELETE FROM dead_letters WHERE meter_id ${inM}`, m),
      meterEvents: run(`DELETE FROM meter_events WHERE household_id = ? OR meter_id ${inM}`, householdId, m),
      meterState: run(`DELETE FROM meter_state WHERE meter_id ${inM}`, m),
      usageBuckets: run('DELETE FROM usage_buckets WHERE household_id = ?', householdId),
      detectorState: run('DELETE FROM household_state WHERE household_id = ?', householdId),
      awayPeriods: run('DELETE FROM away_periods WHERE household_id = ?', householdId),
      ruleOverrides: run(`DELETE FROM rule_overrides WHERE level = 'household' AND code = ?`, householdId),
      ruleChanges: run(`DELETE FROM rule_changes WHERE level = 'household' AND code = ?`, householdId),
      mqttSecretVerifiers: run(
        `DELETE FROM mqtt_secret_verifiers WHERE (principal_kind = 'meter' AND principal_id ${inM})
           OR (principal_kind = 'worker' AND principal_id ${inM})`,
        m,
        f,
      ),
      mqttClientIds: run(
        `DELETE FROM mqtt_client_ids WHERE (principal_kind = 'meter' AND principal_id ${inM})
           OR (principal_kind = 'worker' AND principal_id ${inM})`,
        m,
        f,
      ),
      familyWebhooks: run(`DELETE FROM webhooks WHERE owner_kind = 'worker' AND owner_code ${inM}`, f),
      placeAssignments: run(
        `DELETE FROM worker_places WHERE (level = 'household' AND code = ?) OR worker_id ${inM}`,
        householdId,
        f,
      ),
      familyContacts: run('DELETE FROM family_contacts WHERE household_id = ?', householdId),
      familyPeople: run(`DELETE FROM workers WHERE role = 'family' AND id ${inM}`, f),
      meters: run('DELETE FROM meters WHERE household = ?', householdId),
      households: run('DELETE FROM households WHERE id = ?', householdId),
    };
    return { deleted, kept };
  }

  /** Detector and meter state rows of an erased household written again by a checkpoint in flight. */
  eraseState(householdId: string, meterIds: readonly string[]): void {
    this.db.prepare('DELETE FROM household_state WHERE household_id = ?').run(householdId);
    this.db
      .prepare('DELETE FROM meter_state WHERE meter_id IN (SELECT value FROM json_each(?))')
      .run(JSON.stringify(meterIds));
  }

  /**
   * Raw readings received before `cutoff`, but only those already processed and, when an archive follows
   * the inbox, archived: retention never takes what the service still needs.
   */
  pruneReadings(cutoff: number): number {
    return this.db
      .prepare(
        `DELETE FROM inbox WHERE received_at < ?
           AND seq <= coalesce((SELECT CAST(value AS INTEGER) FROM checkpoints WHERE name = 'inbox-cursor'), 0)
           AND seq <= coalesce((SELECT CAST(value AS INTEGER) FROM checkpoints WHERE name = 'archive-cursor'), seq)`,
      )
      .run(cutoff).changes;
  }

  /** Alerts of the audience resolved before `cutoff`, with their timelines, deliveries and escalations. */
  pruneAlerts(audience: RuleAudience, cutoff: number): number {
    const ids = JSON.stringify(
      this.db
        .prepare(`SELECT id FROM alerts WHERE audience = ? AND state = 'resolved' AND resolved_at < ?`)
        .pluck()
        .all(audience, cutoff),
    );
    const inIds = 'IN (SELECT value FROM json_each(?))';
    this.db.prepare(`DELETE FROM alert_timeline WHERE alert_id ${inIds}`).run(ids);
    this.db.prepare(`DELETE FROM outbox WHERE alert_id ${inIds}`).run(ids);
    this.db.prepare(`DELETE FROM escalations WHERE alert_id ${inIds}`).run(ids);
    this.db.prepare(`DELETE FROM detections WHERE alert_id ${inIds}`).run(ids);
    return this.db.prepare(`DELETE FROM alerts WHERE id ${inIds}`).run(ids).changes;
  }

  /** The household's meter ids (active or retired). */
  meterIds(householdId: string): string[] {
    return this.ids(householdId).meters;
  }

  private ids(householdId: string): { meters: string[]; alerts: string[]; family: string[] } {
    const col = (sql: string) => this.db.prepare(sql).pluck().all(householdId) as string[];
    return {
      meters: col('SELECT id FROM meters WHERE household = ?'),
      alerts: col('SELECT id FROM alerts WHERE household_id = ?'),
      family: col('SELECT worker_id FROM family_contacts WHERE household_id = ?'),
    };
  }
}
