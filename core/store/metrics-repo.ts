import type { Db } from './open-store.ts';

/** Aggregate counts for monitoring (`GET /metrics`): cheap, index-backed queries, no row data. */
export class MetricsRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      openAlerts: db.prepare(
        `SELECT rule_id AS ruleId, state, count(*) AS n FROM alerts WHERE state <> 'resolved'
         GROUP BY rule_id, state ORDER BY rule_id, state`,
      ),
      alertsByRule: db.prepare(
        'SELECT rule_id AS ruleId, count(*) AS n FROM alerts GROUP BY rule_id ORDER BY rule_id',
      ),
      inboxMaxSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM inbox').pluck(),
    };
  }

  /** Alerts not yet resolved, by rule and state (`open` or `acknowledged`). */
  openAlerts(): { ruleId: string; state: string; n: number }[] {
    return this.s.openAlerts.all() as { ruleId: string; state: string; n: number }[];
  }

  /** Alerts ever opened, by rule. */
  alertsByRule(): { ruleId: string; n: number }[] {
    return this.s.alertsByRule.all() as { ruleId: string; n: number }[];
  }

  /** Sequence number of the newest inbox row (0 when empty). */
  inboxMaxSeq(): number {
    return this.s.inboxMaxSeq.get() as number;
  }
}
