import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { CONFIRMING_OUTCOMES, type Outcome } from '../../core/alerts.ts';
import { CareflowError } from '../../core/errors.ts';
import type { LocalTime } from '../../core/local-time.ts';
import { gridFiguresOf, type ActiveAlert, type AssessmentFacts } from '../../core/store/console-repo.ts';
import type { Store } from '../../core/store/store.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { Instant } from '../time-range.ts';
import { percentile } from './stats.ts';
import { RuleAudience } from '../../core/rules.ts';
import { Ms } from '../response-schemas.ts';

/**
 * The street office's one-screen overview (一屏统览) and the grid-work assessment (网格工作在线考评):
 * `GET /api/overview` — every grid of the caller's area today, with 30-day trends;
 * `GET /api/overview/trend?grid=` — one grid's 30-day trend;
 * `GET /api/assessment?from=&to=&format=json|csv` — per grid and per grid worker over a period.
 */
const DAY_MS = 86_400_000;
const TREND_DAYS = 30;
const MAX_ASSESSMENT_DAYS = 366;
/** Answers are kept this long per caller scope and period: a wall screen refreshing does not recompute. */
const CACHE_MS = 10_000;
const CACHE_ENTRIES = 100;
const FALSE_OUTCOMES: ReadonlySet<Outcome> = new Set(['false-alarm', 'resident-ok']);

export const AssessmentQuery = z.strictObject({
  from: Instant.optional(),
  to: Instant.optional(),
  format: z.enum(['json', 'csv']).default('json'),
});

export const TrendQuery = z.strictObject({ grid: z.string().min(1).max(64) });

/** The assessment figures of one grid or worker. Durations in milliseconds. */
export interface AssessmentRow {
  code: string;
  name: string;
  grid: string;
  alerts: number;
  acknowledged: number;
  acknowledgeP50Ms: number | null;
  acknowledgeP90Ms: number | null;
  resolved: number;
  resolveP50Ms: number | null;
  resolveP90Ms: number | null;
  confirmed: number;
  falseAlarms: number;
  away: number;
  /** Share of the alerts acknowledged before the chain left its first level; null without alerts. */
  withinFirstLevel: number | null;
}

const Count = z.number().int();
const NullableMsSpan = z.number().nullable();
const AssessmentRowSchema = z.object({
  code: z.string(),
  name: z.string(),
  grid: z.string(),
  alerts: Count,
  acknowledged: Count,
  acknowledgeP50Ms: NullableMsSpan,
  acknowledgeP90Ms: NullableMsSpan,
  resolved: Count,
  resolveP50Ms: NullableMsSpan,
  resolveP90Ms: NullableMsSpan,
  confirmed: Count,
  falseAlarms: Count,
  away: Count,
  withinFirstLevel: z
    .number()
    .nullable()
    .describe('share acknowledged within the first level; null: no alerts'),
});
const TrendDay = z.object({ day: Ms, raised: Count, acknowledged: Count, acknowledgeP50Ms: NullableMsSpan });
const TrendAnswer = z.object({ grid: z.string(), trend: z.array(TrendDay) });

const OverviewAnswer = z.object({
  now: Ms,
  timeZone: z.string(),
  grids: z.array(
    z.object({
      grid: z.string(),
      name: z.string(),
      community: z.string(),
      street: z.string(),
      households: Count,
      active: z.record(RuleAudience, Count).describe('open or acknowledged alerts by audience'),
      unacknowledgedByAge: z.tuple([Count, Count, Count]).describe('under 1 h, 1–24 h, over 24 h'),
      overdue: Count,
      silentMeters: Count,
    }),
  ),
  trend: z.array(TrendDay),
});

/**
 * Where the overview's and the assessment's alerts come from: the embedded store (default), or a cluster's
 * PostgreSQL (cluster/alert-figures.ts). The grids, their households and their workers come from the registry.
 */
export interface AlertFigures {
  /** Changes whenever an alert's state, level or figures change (see ConsoleRepo.alertsRevision). */
  revision(): Promise<string>;
  activeAlerts(): Promise<ActiveAlert[]>;
  assessmentFacts(from: number, to: number, grids: readonly string[] | null): Promise<AssessmentFacts[]>;
}

function storeFigures(store: Pick<Store, 'console'>): AlertFigures {
  return {
    revision: () => Promise.resolve(store.console.alertsRevision()),
    activeAlerts: () => Promise.resolve(store.console.activeAlerts()),
    assessmentFacts: (from, to, grids) => Promise.resolve(store.console.assessmentFacts(from, to, grids)),
  };
}

export function overviewRoutes(localTime: LocalTime, source?: AlertFigures) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    const { store, clock, access } = ctx;
    const alerts = source ?? storeFigures(store);
    const cache = new Map<string, { at: number; value: unknown }>();
    let cacheRevision = '';
    /**
     * `compute()`'s answer for `key`, reused for CACHE_MS (wall-clock) while the registry and the alerts are
     * unchanged: an acknowledgement or a new alert shows at the next request.
     */
    async function cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
      const revision = `${store.registry.revision()}|${await alerts.revision()}`;
      if (revision !== cacheRevision) {
        cache.clear();
        cacheRevision = revision;
      }
      const hit = cache.get(key);
      const now = Date.now();
      if (hit && now - hit.at < CACHE_MS) return hit.value as T;
      const value = await compute();
      if (cache.size >= CACHE_ENTRIES) cache.clear();
      cache.set(key, { at: now, value });
      return value;
    }
    /** The JSON text of `compute()`'s answer, kept with it: a repeated request is not serialized again. */
    function cachedJson(key: string, compute: () => Promise<unknown>, reply: FastifyReply): Promise<string> {
      void reply.type('application/json; charset=utf-8');
      return cached(`${key}|json`, async () => JSON.stringify(await compute()));
    }
    const scopeKey = (grids: readonly string[] | null) => (grids === null ? '*' : grids.join(','));
    // Count households per grid once at start, not in the first leader's request; then, once the service
    // is up, read the whole area's overview once in the background, so that the first leader does not pay
    // for reading its indexes from disk.
    app.addHook('onReady', async () => {
      try {
        store.console.gridPlaces(store.registry.revision());
      } catch {
        // an empty or closed store: the first request counts
      }
      setTimeout(() => {
        overview(null).catch(() => {
          // closed meanwhile: nothing to warm
        });
      }, 0).unref();
    });

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/overview',
      summary:
        'Every grid of your area now (active alerts by audience, unacknowledged by age, overdue, silent meters) and 30-day trends',
      tags: ['stats'],
      permission: 'stats:read',
      responses: {
        200: { description: 'The grids of your area and the 30-day trend', schema: OverviewAnswer },
      },
      handler: ({ principal, reply }) => {
        const grids = access.visibleGrids(principal);
        return cachedJson(`overview|${scopeKey(grids)}`, () => overview(grids), reply);
      },
    });

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/overview/trend',
      summary:
        'The 30-day trend of one grid of your area: alerts raised and acknowledged per day, median time to acknowledge',
      tags: ['stats'],
      permission: 'stats:read',
      query: TrendQuery,
      responses: {
        200: { description: "The grid's trend, one entry per day of the last 30", schema: TrendAnswer },
      },
      handler: ({ principal, query, reply }) => {
        access.assertGrid(principal, query.grid);
        return cachedJson(
          `trend|${query.grid}`,
          async () => ({ grid: query.grid, trend: await trend(clock.now(), [query.grid]) }),
          reply,
        );
      },
    });

    async function overview(grids: readonly string[] | null) {
      const now = clock.now();
      const places = grids?.length === 0 ? [] : store.console.gridPlaces(store.registry.revision());
      return {
        now,
        timeZone: localTime.timeZone,
        grids: places.length === 0 ? [] : gridFiguresOf(places, await alerts.activeAlerts(), grids, now),
        trend: await trend(now, grids),
      };
    }

    /** Per local day of the last 30: alerts raised, acknowledged, and the median time to acknowledge. */
    async function trend(now: number, grids: readonly string[] | null) {
      const today = localTime.dayNumber(now);
      // Up to and including this millisecond: an alert raised just now is in today's figures.
      const facts = await alerts.assessmentFacts(now - TREND_DAYS * DAY_MS, now + 1, grids);
      const days = new Map<number, { raised: number; acknowledged: number; ack: number[] }>();
      for (let d = today - TREND_DAYS + 1; d <= today; d++)
        days.set(d, { raised: 0, acknowledged: 0, ack: [] });
      for (const f of facts) {
        const day = days.get(localTime.dayNumber(f.raisedAt));
        if (!day) continue;
        day.raised++;
        if (f.firstAckAt !== null) {
          day.acknowledged++;
          day.ack.push(f.firstAckAt - f.raisedAt);
        }
      }
      return [...days.entries()].map(([day, d]) => ({
        day: day * DAY_MS,
        raised: d.raised,
        acknowledged: d.acknowledged,
        acknowledgeP50Ms: percentile(
          d.ack.sort((a, b) => a - b),
          0.5,
        ),
      }));
    }

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/assessment',
      summary:
        'Grid-work assessment per grid and per grid worker: alerts, time to acknowledge and resolve (p50/p90), outcomes, share within the first level',
      tags: ['stats'],
      permission: 'stats:read',
      query: AssessmentQuery,
      responses: {
        200: {
          description: 'Figures per grid and per grid worker (`format=csv`: the same as a CSV file)',
          schema: z.object({
            from: Ms,
            to: Ms,
            grids: z.array(AssessmentRowSchema),
            workers: z.array(AssessmentRowSchema),
          }),
          media: { 'text/csv': z.string() },
        },
      },
      handler: async ({ principal, query, reply }) => {
        const to = query.to ?? clock.now();
        const from = query.from ?? to - TREND_DAYS * DAY_MS;
        if (from >= to || to - from > MAX_ASSESSMENT_DAYS * DAY_MS)
          throw new CareflowError('ERR_API_VALIDATION', 'The query string is not valid (to)', [
            {
              path: 'to',
              message:
                from >= to ? 'must be after from' : `the range may span at most ${MAX_ASSESSMENT_DAYS} days`,
            },
          ]);
        const visible = access.visibleGrids(principal);
        const key = `assessment|${from}|${to}|${scopeKey(visible)}`;
        const figures = () => cached(key, () => assessment(from, to, visible));
        if (query.format === 'json')
          return cachedJson(key, async () => ({ from, to, ...(await figures()) }), reply);
        const { grids, workers } = await figures();
        void reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="careflow-assessment.csv"');
        return assessmentCsv([
          ...grids.map((g) => ['grid', g] as const),
          ...workers.map((w) => ['worker', w] as const),
        ]);
      },
    });

    async function assessment(from: number, to: number, visible: readonly string[] | null) {
      const facts = await alerts.assessmentFacts(from, to, visible);
      const wanted = visible ? new Set(visible) : null;
      const gridNames = new Map(
        store.console
          .gridPlaces(store.registry.revision())
          .filter((g) => !wanted || wanted.has(g.grid))
          .map((g) => [g.grid, g.name]),
      );
      const byGrid = new Map<string, AssessmentFacts[]>();
      for (const g of gridNames.keys()) byGrid.set(g, []);
      for (const f of facts) byGrid.get(f.grid)?.push(f);
      const grids = [...byGrid.entries()].map(([code, list]) =>
        figures(code, gridNames.get(code) ?? code, code, list, list),
      );
      const workers = store.console.gridWorkers(visible).map((w) => {
        const received = byGrid.get(w.grid) ?? [];
        return figures(
          w.id,
          w.name,
          w.grid,
          received,
          received.filter((f) => f.firstAckBy === w.id),
        );
      });
      return { grids, workers };
    }
  };
}

/** Figures over `received` (the alerts a grid or worker got) and `handled` (those they acknowledged). */
function figures(
  code: string,
  name: string,
  grid: string,
  received: readonly AssessmentFacts[],
  handled: readonly AssessmentFacts[],
): AssessmentRow {
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
  const ack = sorted(handled.filter((f) => f.firstAckAt !== null).map((f) => f.firstAckAt! - f.raisedAt));
  const closed = handled.filter((f) => f.state === 'resolved' && f.outcome !== null && f.resolvedAt !== null);
  const resolve = sorted(closed.map((f) => f.resolvedAt! - f.raisedAt));
  const early = handled.filter(
    (f) => f.firstAckAt !== null && (f.firstEscalatedAt === null || f.firstAckAt <= f.firstEscalatedAt),
  ).length;
  return {
    code,
    name,
    grid,
    alerts: received.length,
    acknowledged: ack.length,
    acknowledgeP50Ms: percentile(ack, 0.5),
    acknowledgeP90Ms: percentile(ack, 0.9),
    resolved: closed.length,
    resolveP50Ms: percentile(resolve, 0.5),
    resolveP90Ms: percentile(resolve, 0.9),
    confirmed: closed.filter((f) => CONFIRMING_OUTCOMES[f.audience].includes(f.outcome!)).length,
    falseAlarms: closed.filter(
      (f) => FALSE_OUTCOMES.has(f.outcome!) || (f.outcome === 'meter-fault' && f.audience !== 'maintenance'),
    ).length,
    away: closed.filter((f) => f.outcome === 'resident-away').length,
    withinFirstLevel: received.length === 0 ? null : Math.round((early / received.length) * 1000) / 1000,
  };
}

const CSV_COLUMNS = [
  'kind',
  'code',
  'name',
  'grid',
  'alerts',
  'acknowledged',
  'acknowledge_p50_minutes',
  'acknowledge_p90_minutes',
  'resolved',
  'resolve_p50_minutes',
  'resolve_p90_minutes',
  'confirmed',
  'false_alarms',
  'away',
  'within_first_level',
];

/** CSV (RFC 4180) of the assessment; text cells that a spreadsheet would run as a formula are defused. */
export function assessmentCsv(rows: readonly (readonly ['grid' | 'worker', AssessmentRow])[]): string {
  const minutes = (ms: number | null) => (ms === null ? '' : String(Math.round(ms / 6000) / 10));
  const lines = [CSV_COLUMNS.join(',')];
  for (const [kind, r] of rows) {
    lines.push(
      [
        kind,
        text(r.code),
        text(r.name),
        text(r.grid),
        r.alerts,
        r.acknowledged,
        minutes(r.acknowledgeP50Ms),
        minutes(r.acknowledgeP90Ms),
        r.resolved,
        minutes(r.resolveP50Ms),
        minutes(r.resolveP90Ms),
        r.confirmed,
        r.falseAlarms,
        r.away,
        r.withinFirstLevel ?? '',
      ].join(','),
    );
  }
  return lines.join('\r\n') + '\r\n';
}

function text(s: string): string {
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n']/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
