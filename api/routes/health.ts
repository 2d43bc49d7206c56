import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../core/logger.ts';
import type { Store } from '../../core/store/store.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { z } from 'zod';

const HealthAnswer = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: z.record(z.string(), z.unknown()).describe('each check and what it found'),
});

export interface HealthReport {
  ok: boolean;
  checks: Record<string, unknown>;
}
export type HealthCheck = () => HealthReport;

/** Default check: the store is open and answers a query. */
export function storeHealth(store: Pick<Store, 'db'>): HealthCheck {
  return () => {
    try {
      store.db.prepare('SELECT 1').get();
      return { ok: true, checks: { store: 'ok' } };
    } catch {
      return { ok: false, checks: { store: store.db.open ? 'failing' : 'closed' } };
    }
  };
}

/** `GET /healthz` (no auth): 200 `{ status: 'ok' }` or 503 `{ status: 'degraded' }`, with the checks. */
export function healthRoutes(
  app: FastifyInstance,
  ctx: ApiContext,
  health: HealthCheck,
  logger: Logger,
): void {
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/healthz',
    summary: 'Health of the store and the broker',
    tags: ['operations'],
    permission: 'public',
    responses: {
      200: { description: 'Healthy', schema: HealthAnswer },
      503: { description: 'Degraded', schema: HealthAnswer },
    },
    handler: ({ reply }) => {
      let report: HealthReport;
      try {
        report = health();
      } catch (err) {
        logger.error({ err }, 'health check failed');
        report = { ok: false, checks: { health: 'check failed' } };
      }
      void reply.code(report.ok ? 200 : 503);
      return { status: report.ok ? 'ok' : 'degraded', checks: report.checks };
    },
  });
}
