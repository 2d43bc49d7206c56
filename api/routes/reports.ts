import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../../core/access.ts';
import { CareflowError } from '../../core/errors.ts';
import { REPORT_LEVELS, type PlacedAlert, type ReportLevel } from '../../core/store/report-repo.ts';
import type { Store } from '../../core/store/store.ts';
import type { AccessPolicy } from '../access-policy.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { Instant } from '../time-range.ts';
import { DEFAULT_STATS_RANGE_MS, MAX_STATS_RANGE_MS } from './stats.ts';

export const RollupQuery = z.strictObject({
  level: z.enum(REPORT_LEVELS),
  code: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a registry code'),
  from: Instant.optional(),
  to: Instant.optional(),
});

/**
 * Figures of one part of the organisation over a period. Every figure is a count or a sum, so a part's
 * figures are exactly the sums of its children's; the mean is derived from the two sums.
 */
export interface RollupFigures {
  alerts: number;
  open: number;
  acknowledged: number;
  resolved: number;
  byAudience: { welfare: number; leak: number; maintenance: number };
  outcomes: Record<string, number>;
  /** Alerts acknowledged at least once, and the sum of their times from raising to first acknowledgement. */
  acknowledgedAlerts: number;
  timeToAcknowledgeMsTotal: number;
  meanTimeToAcknowledgeMs: number | null;
}

export interface RollupNode {
  level: ReportLevel;
  /** null: the alerts of households the registry places in no building (or unit) of this grid (building). */
  code: string | null;
  name: string;
  figures: RollupFigures;
}

/** Adds up alerts into figures. */
export function rollupFigures(alerts: readonly PlacedAlert[]): RollupFigures {
  const f: RollupFigures = {
    alerts: alerts.length,
    open: 0,
    acknowledged: 0,
    resolved: 0,
    byAudience: { welfare: 0, leak: 0, maintenance: 0 },
    outcomes: {},
    acknowledgedAlerts: 0,
    timeToAcknowledgeMsTotal: 0,
    meanTimeToAcknowledgeMs: null,
  };
  for (const a of alerts) {
    f[a.state]++;
    f.byAudience[a.audience]++;
    if (a.outcome) f.outcomes[a.outcome] = (f.outcomes[a.outcome] ?? 0) + 1;
    if (a.firstAcknowledgedAt !== null) {
      f.acknowledgedAlerts++;
      f.timeToAcknowledgeMsTotal += a.firstAcknowledgedAt - a.raisedAt;
    }
  }
  if (f.acknowledgedAlerts > 0)
    f.meanTimeToAcknowledgeMs = Math.round(f.timeToAcknowledgeMsTotal / f.acknowledgedAlerts);
  return f;
}

/**
 * `GET /api/reports/rollup?level=&code=&from=&to=`: alert counts, acknowledgement times and outcomes of one
 * unit, building, grid, community, street or district, and of each part one level below it, for alerts
 * opened in `[from, to)` (default the last 30 days, at most 366).
 */
const Count = z.number().int();
const RollupFiguresSchema = z.object({
  alerts: Count,
  open: Count,
  acknowledged: Count,
  resolved: Count,
  byAudience: z.object({ welfare: Count, leak: Count, maintenance: Count }),
  outcomes: z.record(z.string(), Count),
  acknowledgedAlerts: Count,
  timeToAcknowledgeMsTotal: z.number(),
  meanTimeToAcknowledgeMs: z.number().nullable(),
});
const RollupAnswer = z.object({
  from: z.number().int(),
  to: z.number().int(),
  level: z.enum(REPORT_LEVELS),
  code: z.string(),
  name: z.string(),
  figures: RollupFiguresSchema,
  parts: z.array(
    z.object({
      level: z.enum(REPORT_LEVELS),
      code: z.string().nullable().describe('null: households placed in no part of this level'),
      name: z.string(),
      figures: RollupFiguresSchema,
    }),
  ),
});

/** Where the roll-up's alerts come from: the embedded store (default), or a cluster's PostgreSQL. */
export type PlacedAlertsReader = (
  level: ReportLevel,
  code: string,
  from: number,
  to: number,
) => Promise<PlacedAlert[]>;

export function reportRoutes(app: FastifyInstance, ctx: ApiContext, source?: PlacedAlertsReader): void {
  const { store, clock, access } = ctx;
  const placed: PlacedAlertsReader =
    source ?? ((level, code, from, to) => Promise.resolve(store.reports.placedAlerts(level, code, from, to)));
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/reports/rollup',
    summary: 'Alert counts, acknowledgement times and outcomes of a part of the organisation and its parts',
    tags: ['stats'],
    permission: 'stats:read',
    query: RollupQuery,
    responses: { 200: { description: 'Figures of the whole and of each part', schema: RollupAnswer } },
    handler: async ({ principal, query }) => {
      const to = query.to ?? clock.now();
      const from = query.from ?? to - DEFAULT_STATS_RANGE_MS;
      if (from >= to || to - from > MAX_STATS_RANGE_MS) {
        throw new CareflowError('ERR_API_VALIDATION', 'The query string is not valid (to)', [
          { path: 'to', message: from >= to ? 'must be after from' : 'the range may span at most 366 days' },
        ]);
      }
      const entry = store.reports.entry(query.level, query.code);
      if (!entry) throw new CareflowError('ERR_SCOPE_NOT_FOUND', `No ${query.level} ${query.code}`);
      assertCovers(store, access, principal, query.level, query.code, entry);
      const alerts = await placed(query.level, query.code, from, to);
      const children = store.reports.children(query.level, query.code);
      const childLevel = children[0]?.level ?? childOf(query.level);
      const parts: RollupNode[] = children.map((c) => ({
        level: c.level,
        code: c.code,
        name: c.name,
        figures: rollupFigures(alerts.filter((a) => a[c.level] === c.code)),
      }));
      if (childLevel) {
        const named = new Set(children.map((c) => c.code));
        const rest = alerts.filter((a) => a[childLevel] === null || !named.has(a[childLevel]));
        if (rest.length > 0) {
          parts.push({
            level: childLevel,
            code: null,
            name: `(no ${childLevel})`,
            figures: rollupFigures(rest),
          });
        }
      }
      return {
        from,
        to,
        level: query.level,
        code: query.code,
        name: entry.name,
        figures: rollupFigures(alerts),
        parts,
      };
    },
  });
}

function childOf(level: ReportLevel): ReportLevel | null {
  const i = REPORT_LEVELS.indexOf(level);
  return i + 1 < REPORT_LEVELS.length ? REPORT_LEVELS[i + 1]! : null;
}

/** The caller must answer for the whole part: a district needs every street of it (or an admin). */
function assertCovers(
  store: Pick<Store, 'reports'>,
  access: AccessPolicy,
  principal: Principal,
  level: ReportLevel,
  code: string,
  entry: { grid: string | null; street: string | null },
): void {
  const s = principal.scope;
  if (s.all) return;
  const forbidden = () =>
    new CareflowError(
      'ERR_API_FORBIDDEN',
      `You may not read reports of ${level} ${code}: it is outside your area`,
    );
  if (entry.grid !== null) {
    access.assertGrid(principal, entry.grid);
    return;
  }
  if (level === 'district') {
    const streets = store.reports.streetsOfDistrict(code);
    if (streets.length === 0 || !streets.every((st) => s.streets.includes(st))) throw forbidden();
    return;
  }
  if (level === 'street') {
    if (!s.streets.includes(code)) throw forbidden();
    return;
  }
  if (!s.communities.includes(code) && !(entry.street !== null && s.streets.includes(entry.street)))
    throw forbidden();
}
