import type { AlertState, Outcome } from '../alerts.ts';
import type { RuleAudience } from '../rules.ts';
import type { Db } from './open-store.ts';

/** What the outcome statistics need of one alert. */
export interface AlertFacts {
  id: string;
  ruleId: string;
  audience: RuleAudience;
  grid: string;
  state: AlertState;
  outcome: Outcome | null;
  /** When careflow raised the alert (service clock; `openedAt` is the detection's event time). */
  raisedAt: number;
  /** First acknowledgement (a reopened alert keeps its first), if any. */
  firstAcknowledgedAt: number | null;
}

/** Read-only queries over alerts and their timelines for `GET /api/stats/rules`. */
export class StatsRepo {
  constructor(private readonly db: Db) {}

  /** Alerts opened in `[from, to)` (event time) in the given grids (null = all). */
  alertFacts(from: number, to: number, grids: readonly string[] | null): AlertFacts[] {
    if (grids && grids.length === 0) return [];
    const inGrids = grids ? `AND a.grid IN (${grids.map(() => '?').join(',')})` : '';
    const sql = `SELECT a.id, a.rule_id AS ruleId, a.audience, a.grid, a.state, a.outcome,
        coalesce((SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = 'opened'),
          a.opened_at) AS raisedAt,
        (SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = 'acknowledged')
          AS firstAcknowledgedAt
      FROM alerts a WHERE a.opened_at >= ? AND a.opened_at < ? ${inGrids} ORDER BY a.rule_id, a.opened_at`;
    return this.db.prepare(sql).all(from, to, ...(grids ?? [])) as AlertFacts[];
  }
}
