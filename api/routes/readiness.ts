import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../core/logger.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import type { HealthCheck } from './health.ts';
import { z } from 'zod';

const ReadyAnswer = z.object({ status: z.enum(['ready', 'not-ready']) });

/**
 * `GET /readyz` (no auth): 200 `{ status: 'ready' }` once the service answers (store open, broker up),
 * else 503 `{ status: 'not-ready' }` — for a load balancer or orchestrator; details stay in `/healthz`.
 */
export function readinessRoutes(
  app: FastifyInstance,
  ctx: ApiContext,
  health: HealthCheck,
  logger: Logger,
): void {
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/readyz',
    summary: 'Whether the service is ready to take traffic',
    tags: ['operations'],
    permission: 'public',
    responses: {
      200: { description: 'Ready', schema: ReadyAnswer },
      503: { description: 'Not ready', schema: ReadyAnswer },
    },
    handler: ({ reply }) => {
      let ok = false;
      try {
        ok = health().ok;
      } catch (err) {
        logger.error({ err }, 'readiness check failed');
      }
      void reply.code(ok ? 200 : 503);
      return { status: ok ? 'ready' : 'not-ready' };
    },
  });
}
