import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AlertActions } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import { AccessPolicy } from './access-policy.ts';
import { authenticate } from './authenticate.ts';
import { defineRoute, RouteCatalog, type ApiContext } from './define-route.ts';
import { errorHandler, frameworkErrorHandler, notFoundHandler } from './error-handler.ts';
import { openApiDocument } from './openapi.ts';
import { alertRoutes } from './routes/alerts.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { auditRoutes } from './routes/audit.ts';
import { clockRoutes } from './routes/clock.ts';
import { healthRoutes, storeHealth, type HealthCheck } from './routes/health.ts';
import { householdRoutes } from './routes/households.ts';
import { loginRoutes } from './routes/login.ts';
import { meRoutes } from './routes/me.ts';
import { overviewRoutes } from './routes/overview.ts';
import { readinessRoutes } from './routes/readiness.ts';
import { registryRoutes } from './routes/registry.ts';
import { securityHeaders } from './security-headers.ts';
import { consoleRoutes } from '../dashboards/serve-console.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Method and full URL of every route (HEAD excluded). */
    registeredRoutes: { method: string; url: string }[];
  }
}

export interface BuildAppOptions {
  config: Config;
  store: Store;
  alerts: AlertActions;
  clock: Clock;
  logger: Logger;
  /** Defaults to "the store is open and answers". */
  health?: HealthCheck;
  /** Key that signs session tokens; a random one (sessions end with the process) by default. */
  sessionKey?: Buffer;
  /** Registers more `/api` routes (modules that own routes hand them in here). */
  extraRoutes?: ((api: FastifyInstance, ctx: ApiContext) => void)[];
  /** Registers routes outside `/api` (`/metrics`); they authenticate like `/api` routes. */
  rootRoutes?: ((app: FastifyInstance, ctx: ApiContext) => void)[];
}

/**
 * Builds the HTTP app without listening (the entry point listens; tests use `inject`).
 *
 * - `GET /healthz` and `GET /docs` (the OpenAPI document) — no auth.
 * - `/api/*` — `Authorization: Bearer <token>`: the admin token, an API key or a session token; every route
 *   checks the caller's permission and scope. Times are epoch ms everywhere.
 * - Every error is `{ code, message, issues? }` with a code from core/errors.ts.
 */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { config, store, alerts, clock } = opts;
  const logger = opts.logger.child({ module: 'api' });
  const bodyLimitBytes = config.http.bodyLimitBytes;
  const sessionKey = opts.sessionKey ?? randomBytes(32);
  const ctx: ApiContext = { store, clock, access: new AccessPolicy(store), catalog: new RouteCatalog() };

  const app = Fastify({
    // Fastify's request serializer logs method, url and addresses: never headers, so never Authorization.
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors raised before routing (bad percent-encoding, over-long path parameter) get our codes too.
    frameworkErrors: frameworkErrorHandler(logger, bodyLimitBytes),
  });

  // Every route fastify registers, so that a test can hold the OpenAPI document to all of them.
  const registered: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') registered.push({ method, url: route.url });
    }
  });
  app.decorate('registeredRoutes', registered);

  // JSON is the only body type: text/plain (parsed by default) is refused with 415.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler(logger, bodyLimitBytes));
  app.setNotFoundHandler(notFoundHandler);

  app.addHook('onSend', securityHeaders);
  healthRoutes(app, ctx, opts.health ?? storeHealth(store), logger);
  readinessRoutes(app, ctx, opts.health ?? storeHealth(store), logger);
  consoleRoutes()(app, ctx);
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/docs',
    summary: 'This OpenAPI document',
    tags: ['operations'],
    permission: 'public',
    handler: () => openApiDocument(ctx.catalog, '0.1.0'),
  });

  await app.register(
    async (api) => {
      api.addHook('onRequest', authenticate({ store, clock, adminToken: config.adminToken, sessionKey }));
      api.addHook('onSend', async (_request, reply) => {
        reply.header('cache-control', 'no-store');
      });
      // Unknown /api routes answer 404 only to an authenticated caller.
      api.setNotFoundHandler(notFoundHandler);
      loginRoutes(api, ctx, {
        sessionKey,
        tokenTtlMinutes: config.http.sessionTtlMinutes,
        maxFailures: config.http.loginMaxFailures,
        windowMinutes: config.http.loginWindowMinutes,
      });
      alertRoutes(api, ctx, alerts);
      const localTime = new LocalTime(config.timezone, config.bucketMinutes);
      householdRoutes(api, ctx, localTime);
      registryRoutes(api, ctx);
      overviewRoutes(localTime)(api, ctx);
      meRoutes(config.timezone)(api, ctx);
      apiKeyRoutes(api, ctx);
      auditRoutes(api, ctx);
      clockRoutes(api, ctx);
      for (const register of opts.extraRoutes ?? []) register(api, ctx);
    },
    { prefix: '/api' },
  );
  await app.register(async (root) => {
    root.addHook('onRequest', authenticate({ store, clock, adminToken: config.adminToken, sessionKey }));
    for (const register of opts.rootRoutes ?? []) register(root, ctx);
  });

  await app.ready();
  return app;
}
