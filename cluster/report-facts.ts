import type { PlacedAlertsReader } from '../api/routes/reports.ts';
import type { AlertFactsReader } from '../api/routes/stats.ts';
import type { PgPool } from '../core/postgres.ts';
import { REPORT_COLUMN, type PlacedAlert } from '../core/store/report-repo.ts';
import type { AlertFacts } from '../core/store/stats-repo.ts';

const RAISED = `coalesce((SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = 'opened'),
  a.opened_at) AS "raisedAt"`;
const FIRST_ACK = `(SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = 'acknowledged')
  AS "firstAcknowledgedAt"`;
const ms = (v: number | string | null) => (v === null ? null : Number(v));

/**
 * The statistics' alerts (`GET /api/stats/rules` in a cluster worker) from PostgreSQL: the embedded statement
 * (core/store/stats-repo.ts) on the shared alerts and timeline.
 */
export function pgAlertFacts(pool: PgPool): AlertFactsReader {
  return async (from, to, grids) => {
    if (grids && grids.length === 0) return [];
    const { rows } = await pool.query<AlertFacts>(
      `SELECT a.id, a.rule_id AS "ruleId", a.audience, a.grid, a.state, a.outcome, ${RAISED}, ${FIRST_ACK}
       FROM alerts a WHERE a.opened_at >= $1 AND a.opened_at < $2 AND ($3::text[] IS NULL OR a.grid = ANY($3))
       ORDER BY a.rule_id COLLATE "C", a.opened_at`,
      [from, to, grids ? [...grids] : null],
    );
    return rows.map((r) => ({
      ...r,
      raisedAt: Number(r.raisedAt),
      firstAcknowledgedAt: ms(r.firstAcknowledgedAt),
    }));
  };
}

/**
 * The roll-up's alerts (`GET /api/reports/rollup` in a cluster worker) from PostgreSQL, each placed in the
 * organisation by the shared registry's tables: the embedded statement (core/store/report-repo.ts).
 */
export function pgPlacedAlerts(pool: PgPool): PlacedAlertsReader {
  return async (level, code, from, to) => {
    const { rows } = await pool.query<PlacedAlert>(
      `SELECT a.id, a.audience, a.state, a.outcome, ${RAISED}, ${FIRST_ACK},
         st.district AS district, c.street AS street, g.community AS community, a.grid AS grid,
         h.building AS building, h.unit AS unit
       FROM alerts a
       LEFT JOIN households h ON h.id = a.household_id
       LEFT JOIN grids g ON g.code = a.grid
       LEFT JOIN communities c ON c.code = g.community
       LEFT JOIN streets st ON st.code = c.street
       WHERE ${REPORT_COLUMN[level]} = $1 AND a.opened_at >= $2 AND a.opened_at < $3 ORDER BY a.opened_at, a.id COLLATE "C"`,
      [code, from, to],
    );
    return rows.map((r) => ({
      ...r,
      raisedAt: Number(r.raisedAt),
      firstAcknowledgedAt: ms(r.firstAcknowledgedAt),
    }));
  };
}
