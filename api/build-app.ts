import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AlertActions } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import { adminAuth } from './auth.ts';
import { errorHandler, frameworkErrorHandler, notFoundHandler } from './error-handler.ts';
import { alertRoutes } from './routes/alerts.ts';
import { clockRoutes } from './routes/clock.ts';
import { healthRoutes, storeHealth, type HealthCheck } from './routes/health.ts';
import { householdRoutes } from './routes/households.ts';

export interface BuildAppOptions {
  config: Config;
  store: Store;
  alerts: AlertActions;
  clock: Clock;
  logger: Logger;
  /** Defaults to "the store is open and answers". */
  health?: HealthCheck;
}

/**
 * Builds the HTTP app without listening (the entry point listens; tests use `inject`).
 *
 * - `GET /healthz` — no auth.
 * - `/api/*` — `Authorization: Bearer <config.adminToken>`; JSON only; times are epoch ms everywhere.
 * - Every error is `{ code, message, issues? }` with a code from core/errors.ts.
 */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { config, store, alerts, clock } = opts;
  const logger = opts.logger.child({ module: 'api' });
  const bodyLimitBytes = config.http.bodyLimitBytes;

  const app = Fastify({
    // Fastify's request serializer logs method, url and addresses: never headers, so never Authorization.
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors raised before routing (bad percent-encoding, over-long path parameter) get our codes too.
    frameworkErrors: frameworkErrorHandler(logger, bodyLimitBytes),
  });

  // JSON is the only body type: text/plain (parsed by default) is refused with 415.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler(logger, bodyLimitBytes));
  app.setNotFoundHandler(notFoundHandler);

  healthRoutes(app, opts.health ?? storeHealth(store), logger);

  await app.register(
    async (api) => {
      api.addHook('onRequest', adminAuth(config.adminToken));
      api.addHook('onSend', async (_request, reply) => {
        reply.header('cache-control', 'no-store');
      });
      // Unknown /api routes answer 404 only to an authenticated caller.
      api.setNotFoundHandler(notFoundHandler);
      alertRoutes(api, { store, alerts, clock }, 'admin');
      clockRoutes(api, clock);
      householdRoutes(api, {
        store,
        clock,
        localTime: new LocalTime(config.timezone, config.bucketMinutes),
        bucketMinutes: config.bucketMinutes,
      });
    },
    { prefix: '/api' },
  );

  await app.ready();
  return app;
}
