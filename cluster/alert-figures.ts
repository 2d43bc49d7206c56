import type { AlertFigures } from '../api/routes/overview.ts';
import type { PgPool } from '../core/postgres.ts';
import { FIGURE_EVENTS, type ActiveAlert, type AssessmentFacts } from '../core/store/console-repo.ts';

/**
 * The overview's and the assessment's alerts from the cluster's PostgreSQL (`GET /api/overview`,
 * `/api/overview/trend` and `/api/assessment` in a worker): the statements of the embedded console's
 * (core/store/console-repo.ts), on the shared alerts, escalations and timeline.
 */
export function pgAlertFigures(pool: PgPool): AlertFigures {
  return {
    async revision() {
      const { rows } = await pool.query<{ kind: string; id: number | null }>(
        `SELECT k.kind, (SELECT max(t.id) FROM alert_timeline t WHERE t.kind = k.kind) AS id
         FROM unnest($1::text[]) AS k(kind)`,
        [[...FIGURE_EVENTS]],
      );
      const latest = new Map(rows.map((r) => [r.kind, r.id === null ? 0 : Number(r.id)]));
      return FIGURE_EVENTS.map((kind) => latest.get(kind) ?? 0).join('.');
    },

    async activeAlerts() {
      const { rows } = await pool.query<ActiveAlert>(
        `SELECT a.grid, a.audience, a.state, a.opened_at AS "openedAt", coalesce(e.level, 0) AS level
         FROM alerts a LEFT JOIN escalations e ON e.alert_id = a.id
         WHERE a.state <> 'resolved' AND a.state IN ('open', 'acknowledged')`,
      );
      return rows.map((r) => ({ ...r, openedAt: Number(r.openedAt), level: Number(r.level) }));
    },

    async assessmentFacts(from, to, grids) {
      if (grids && grids.length === 0) return [];
      const earliest = (kind: string) =>
        `(SELECT min(t.at) FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = '${kind}')`;
      const firstAck = (column: 'at' | 'actor') =>
        `(SELECT t.${column} FROM alert_timeline t WHERE t.alert_id = a.id AND t.kind = 'acknowledged'
          ORDER BY t.id LIMIT 1)`;
      const { rows } = await pool.query<AssessmentFacts>(
        `SELECT a.id, a.grid, a.audience, a.state, a.outcome, a.resolved_at AS "resolvedAt",
           coalesce(${earliest('opened')}, a.opened_at) AS "raisedAt",
           ${firstAck('at')} AS "firstAckAt", ${firstAck('actor')} AS "firstAckBy",
           ${earliest('escalated')} AS "firstEscalatedAt"
         FROM alerts a WHERE a.opened_at >= $1 AND a.opened_at < $2 AND ($3::text[] IS NULL OR a.grid = ANY($3))
         ORDER BY a.opened_at, a.id COLLATE "C"`,
        [from, to, grids ? [...grids] : null],
      );
      const ms = (v: number | null) => (v === null ? null : Number(v));
      return rows.map((r) => ({
        ...r,
        resolvedAt: ms(r.resolvedAt),
        raisedAt: Number(r.raisedAt),
        firstAckAt: ms(r.firstAckAt),
        firstEscalatedAt: ms(r.firstEscalatedAt),
      }));
    },
  };
}
