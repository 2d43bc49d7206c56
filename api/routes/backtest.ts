import type { FastifyInstance } from 'fastify';
import { BacktestRequest, scopeOfRef, type Backtester } from '../../core/backtest.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { assertScope } from './rules.ts';
import { z } from 'zod';
import { Outcome } from '../../core/alerts.ts';
import { RuleOverride } from '../../core/rules.ts';
import { EvidenceSchema, Ms } from '../response-schemas.ts';

const BacktestReportSchema = z.object({
  scope: z.string(),
  from: Ms,
  to: Ms,
  households: z.number().int(),
  buckets: z.number().int(),
  rulesVersion: z.number().int().describe('the rules version the candidate starts from'),
  candidate: z.record(z.string(), RuleOverride.nullable()).nullable(),
  warmupDays: z.number(),
  excludedRules: z.array(z.string()).describe('rules a backtest cannot replay'),
  wouldFire: z.array(
    z.object({
      householdId: z.string(),
      ruleId: z.string(),
      at: Ms,
      alertId: z.string().nullable(),
      evidence: EvidenceSchema.pick({ windowStart: true, windowEnd: true, thresholds: true }).describe(
        'the window the rule looked at and the thresholds that applied (the console draws them on the chart)',
      ),
    }),
  ),
  didFire: z.array(
    z.object({
      alertId: z.string(),
      householdId: z.string(),
      ruleId: z.string(),
      openedAt: Ms,
      outcome: Outcome.nullable(),
      verdict: z.enum(['confirmed', 'false', 'other', 'open']),
      caught: z.boolean(),
      shiftMs: z.number().nullable(),
    }),
  ),
  rules: z.array(
    z.object({
      ruleId: z.string(),
      audience: z.string(),
      wouldFire: z.number().int(),
      didFire: z.number().int(),
      caught: z.number().int(),
      confirmed: z.number().int(),
      confirmedCaught: z.number().int(),
      falseAlarms: z.number().int(),
      falseAlarmsAvoided: z.number().int(),
      newAlerts: z.number().int(),
      earlier: z.array(z.number()),
      later: z.array(z.number()),
    }),
  ),
  summary: z.array(z.string()).describe('the difference in words, one sentence per rule'),
  detections: z
    .array(
      z.object({ key: z.string(), householdId: z.string(), ruleId: z.string(), kind: z.string(), at: Ms }),
    )
    .optional(),
  durationMs: z.number(),
});

/**
 * `POST /api/backtest`: candidate rules over the stored buckets of a scope and period, with the detectors'
 * own code, next to the alerts that fired and their outcomes, and the difference in words. Callers backtest
 * only the part of the organisation they answer for.
 */
export function backtestRoutes(backtester: Backtester) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    defineRoute(app, ctx, {
      method: 'POST',
      url: '/backtest',
      summary:
        'Backtest candidate rules on stored usage: would-be alerts next to real ones and their outcomes',
      tags: ['rules'],
      permission: 'backtest:run',
      body: BacktestRequest,
      responses: { 200: { description: 'The backtest report', schema: BacktestReportSchema } },
      handler: async ({ principal, body, audit }) => {
        const scope = scopeOfRef(body.scope);
        assertScope(ctx.store, ctx.access, principal, scope);
        const report = await backtester.run(body);
        audit('backtest.run', body.scope, scope.level === 'grid' ? scope.code : null, {
          from: body.from,
          to: body.to,
          candidate: body.rules ?? null,
          households: report.households,
        });
        return report;
      },
    });
  };
}
