import type { FastifyInstance } from 'fastify';
import { BacktestRequest, scopeOfRef, type Backtester } from '../../core/backtest.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { assertScope } from './rules.ts';

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
