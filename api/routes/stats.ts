import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CONFIRMING_OUTCOMES, Outcome } from '../../core/alerts.ts';
import { CareflowError } from '../../core/errors.ts';
import type { AlertFacts } from '../../core/store/stats-repo.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { Instant } from '../time-range.ts';
import { RuleAudience } from '../../core/rules.ts';

const DAY_MS = 24 * 3_600_000;
export const DEFAULT_STATS_RANGE_MS = 30 * DAY_MS;
export const MAX_STATS_RANGE_MS = 366 * DAY_MS;

export const StatsQuery = z.strictObject({
  scope: z
    .string()
    .regex(
      /^(grid|community|street):[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      'expected grid:<code>, community:<code> or street:<code>',
    )
    .optional(),
  from: Instant.optional(),
  to: Instant.optional(),
});

/** One rule's figures over a period. Durations are in milliseconds. */
export interface RuleStats {
  ruleId: string;
  audience: AlertFacts['audience'];
  alerts: number;
  open: number;
  acknowledged: number;
  resolved: number;
  /** Closed by careflow when the condition cleared (no outcome). */
  autoResolved: number;
  /** From raising the alert to its first acknowledgement, over the acknowledged alerts. */
  timeToAcknowledgeMs: { p50: number | null; p90: number | null };
  outcomes: Partial<Record<Outcome, number>>;
  /** Resolved by a person with an outcome other than `other`. */
  judged: number;
  /** Judged with an outcome that confirms the rule's audience (see `confirmingOutcomes`). */
  confirmed: number;
  /** confirmed ÷ judged; null when nothing was judged. */
  precision: number | null;
}

/**
 * `GET /api/stats/rules?scope=&from=&to=`: per rule, the alerts opened in `[from, to)` (default: the last 30
 * days) in the caller's grids — or in `scope`, which the caller must cover entirely — with acknowledgement
 * times, outcomes and observed precision.
 */
/** Where the alerts of the statistics come from: the embedded store (default), or a cluster's PostgreSQL. */
export type AlertFactsReader = (
  from: number,
  to: number,
  grids: readonly string[] | null,
) => Promise<AlertFacts[]>;

export function statsRoutes(app: FastifyInstance, ctx: ApiContext, source?: AlertFactsReader): void {
  const { store, clock, access } = ctx;
  const facts: AlertFactsReader =
    source ?? ((from, to, grids) => Promise.resolve(store.stats.alertFacts(from, to, grids)));

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/stats/rules',
    summary: 'Per rule: alerts, time to acknowledge (p50/p90), outcomes and observed precision',
    tags: ['stats'],
    permission: 'stats:read',
    query: StatsQuery,
    responses: {
      200: {
        description: 'Figures per rule over the period',
        schema: z.object({
          from: z.number().int(),
          to: z.number().int(),
          scope: z.string().nullable(),
          confirmingOutcomes: z.record(RuleAudience, z.array(Outcome)),
          rules: z.array(
            z.object({
              ruleId: z.string(),
              audience: RuleAudience,
              alerts: z.number().int(),
              open: z.number().int(),
              acknowledged: z.number().int(),
              resolved: z.number().int(),
              autoResolved: z.number().int(),
              timeToAcknowledgeMs: z.object({ p50: z.number().nullable(), p90: z.number().nullable() }),
              outcomes: z.partialRecord(Outcome, z.number().int()),
              judged: z.number().int(),
              confirmed: z.number().int(),
              precision: z.number().nullable(),
            }),
          ),
        }),
      },
    },
    handler: async ({ principal, query }) => {
      const to = query.to ?? clock.now();
      const from = query.from ?? to - DEFAULT_STATS_RANGE_MS;
      if (from >= to || to - from > MAX_STATS_RANGE_MS) {
        throw new CareflowError('ERR_API_VALIDATION', 'The query string is not valid (to)', [
          { path: 'to', message: from >= to ? 'must be after from' : 'the range may span at most 366 days' },
        ]);
      }
      let grids = access.visibleGrids(principal);
      if (query.scope) {
        const [level, code] = query.scope.split(':') as ['grid' | 'community' | 'street', string];
        const inScope = store.access
          .gridPlaces()
          .filter((p) => p[level] === code)
          .map((p) => p.grid);
        if (!store.escalation.scopeExists(level, code)) {
          throw new CareflowError('ERR_SCOPE_NOT_FOUND', `No ${level} ${code}`);
        }
        for (const grid of inScope) access.assertGrid(principal, grid);
        grids = inScope;
      }
      return {
        from,
        to,
        scope: query.scope ?? null,
        confirmingOutcomes: CONFIRMING_OUTCOMES,
        rules: ruleStats(await facts(from, to, grids)),
      };
    },
  });
}

/** Groups alert facts by rule and computes each rule's figures. */
export function ruleStats(facts: readonly AlertFacts[]): RuleStats[] {
  const byRule = new Map<string, AlertFacts[]>();
  for (const f of facts) byRule.set(f.ruleId, [...(byRule.get(f.ruleId) ?? []), f]);
  return [...byRule.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([ruleId, list]) => {
      const audience = list[0]!.audience;
      const confirming = new Set<Outcome>(CONFIRMING_OUTCOMES[audience]);
      const outcomes: Partial<Record<Outcome, number>> = {};
      let judged = 0;
      let confirmed = 0;
      for (const f of list) {
        if (f.state !== 'resolved' || !f.outcome) continue;
        outcomes[f.outcome] = (outcomes[f.outcome] ?? 0) + 1;
        if (f.outcome === 'other') continue;
        judged++;
        if (confirming.has(f.outcome)) confirmed++;
      }
      const ackTimes = list
        .filter((f) => f.firstAcknowledgedAt !== null)
        .map((f) => f.firstAcknowledgedAt! - f.raisedAt)
        .sort((a, b) => a - b);
      return {
        ruleId,
        audience,
        alerts: list.length,
        open: list.filter((f) => f.state === 'open').length,
        acknowledged: ackTimes.length,
        resolved: list.filter((f) => f.state === 'resolved').length,
        autoResolved: list.filter((f) => f.state === 'resolved' && !f.outcome).length,
        timeToAcknowledgeMs: { p50: percentile(ackTimes, 0.5), p90: percentile(ackTimes, 0.9) },
        outcomes,
        judged,
        confirmed,
        precision: judged === 0 ? null : Math.round((confirmed / judged) * 1000) / 1000,
      };
    });
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}
