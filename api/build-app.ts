import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AlertActions, AlertFeed } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { CareflowError } from '../core/errors.ts';
import { HashQueue } from '../core/hash-queue.ts';
import { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import { AccessPolicy } from './access-policy.ts';
import { authenticate } from './authenticate.ts';
import { defineRoute, RouteCatalog, type ApiContext } from './define-route.ts';
import { z } from 'zod';
import { errorHandler, frameworkErrorHandler, notFoundHandler } from './error-handler.ts';
import { docsRoutes } from './routes/docs.ts';
import { alertRoutes } from './routes/alerts.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { auditRoutes } from './routes/audit.ts';
import { clockRoutes } from './routes/clock.ts';
import { healthRoutes, storeHealth, type HealthCheck } from './routes/health.ts';
import { householdRoutes } from './routes/households.ts';
import { loginRoutes } from './routes/login.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import { meRoutes } from './routes/me.ts';
import { overviewRoutes } from './routes/overview.ts';
import { readinessRoutes } from './routes/readiness.ts';
import { registryRoutes } from './routes/registry.ts';
import { securityHeaders } from './security-headers.ts';
import { consoleRoutes } from '../dashboards/serve-console.ts';
import { StoreAlertDesk, type AlertDesk } from '../notifier/alert-desk.ts';
import { eventRoutes } from './routes/events.ts';
import type { UsageReader } from './routes/households.ts';
import type { SharedLoginFailures } from './routes/login.ts';
import { escalationRoutes, type EscalationWriter } from './routes/escalation.ts';
import type { HouseholdFacts } from './routes/registry.ts';
import type { AlertFigures } from './routes/overview.ts';
import { awayRoutes, type AwayWriter } from './routes/away.ts';
import { ruleRoutes } from './routes/rules.ts';
import { backtestRoutes } from './routes/backtest.ts';
import type { Backtester } from '../core/backtest.ts';
import { deadLetterRoutes, type DeadLetterReader } from './routes/dead-letters.ts';
import type { AuditReader } from './routes/audit.ts';
import { statsRoutes, type AlertFactsReader } from './routes/stats.ts';
import { reportRoutes, type PlacedAlertsReader } from './routes/reports.ts';
import type { ApiKeyWriter } from './routes/api-keys.ts';
import { webhookRoutes, type WebhookWriter } from './routes/webhooks.ts';
import { privacyRoutes, type PrivacyHooks } from './routes/privacy.ts';
import { ingestRoutes, type StoredReadings } from './routes/ingest.ts';
import type { Ingest } from '../ingest/start-ingest.ts';
import type { RuleAdmin } from '../core/rules.ts';
import type { AuditEntry } from '../core/store/audit-repo.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Method and full URL of every route (HEAD excluded). */
    registeredRoutes: { method: string; url: string }[];
  }
}

export interface BuildAppOptions {
  config: Config;
  store: Store;
  /** People's actions on the embedded store's alerts (one of `alerts` and `cluster` is given). */
  alerts?: AlertActions;
  /** A cluster worker's API instead of the embedded one (below). */
  cluster?: ClusterApi;
  clock: Clock;
  logger: Logger;
  /** Defaults to "the store is open and answers". */
  health?: HealthCheck;
  /** Key that signs session tokens; a random one (sessions end with the process) by default. */
  sessionKey?: Buffer;
  /** Bounded queue for people's password checks (the composition root reads its figures for /metrics). */
  passwordChecks?: HashQueue;
  /** Registers more `/api` routes (modules that own routes hand them in here). */
  extraRoutes?: ((api: FastifyInstance, ctx: ApiContext) => void)[];
  /** Registers routes outside `/api` (`/metrics`); they authenticate like `/api` routes. */
  rootRoutes?: ((app: FastifyInstance, ctx: ApiContext) => void)[];
  /** Prometheus metrics of the service (failed authentications are counted there). */
  metrics?: ServiceMetrics;
}

/**
 * What a cluster worker serves (app/start-cluster-worker.ts): its store is the registry and rules it follows from
 * PostgreSQL, and alerts, timelines, usage and the event feed come from PostgreSQL through these. It serves the
 * console and the API of its inbox, alert, household, registry, escalation and overview pages — login,
 * `/api/me`, `/api/alerts` (list, detail, acknowledge, resolve, comment, reopen), `/api/households` (list, one,
 * usage), `/api/registry/:kind`, `/api/escalation` (read, and set for the whole cluster), `/api/overview`,
 * `/api/overview/trend`, `/api/assessment`, `/api/households/:id/away` and `/api/rules…` (read, and changed for
 * the whole cluster), `/api/deadletters`, `/api/audit`, `/api/api-keys` (made and revoked for the whole cluster),
 * `/api/events` — its own `/healthz` and `/readyz` (`operations`, unauthenticated, for supervisors and load
 * balancers), `/metrics` for callers with `metrics:read` (`metricsText`), `/api/backtest`, `/api/stats/rules` and
 * `/api/reports/rollup`, `/api/webhooks` and `/api/households/:id/consent` (set for the whole cluster). The rest
 * (the manual clock, the export and erasure of a household's personal data) is not served by the workers.
 */
export interface ClusterApi {
  desk: AlertDesk;
  usage: UsageReader;
  feed: AlertFeed;
  /** Failed logins per account, counted across the workers. */
  loginFailures: SharedLoginFailures;
  /** Escalation chains are set for the whole cluster. */
  escalation: EscalationWriter;
  /** The rule hierarchy the worker follows; a change is published for the whole cluster. */
  rules: RuleAdmin;
  /** Backtests on the buckets and alerts in PostgreSQL. */
  backtester: Backtester;
  /** Where the API's audit entries go (PostgreSQL's audit log). */
  writeAudit: (entry: Omit<AuditEntry, 'id'>) => void;
  /** API keys are made and revoked for the whole cluster. */
  apiKeys: ApiKeyWriter;
  /** The worker's `/metrics` (Prometheus text), for callers with `metrics:read`. */
  metricsText: () => Promise<{ contentType: string; body: string }>;
  /** The statistics' and the roll-up's alerts (PostgreSQL's). */
  alertFacts: AlertFactsReader;
  placedAlerts: PlacedAlertsReader;
  /** Consent records are registry rows written for the whole cluster; export and erasure read and write PostgreSQL. */
  privacy: PrivacyHooks;
  /** HTTP ingest: readings published to the partitions' queue; the duplicate check reads PostgreSQL. */
  httpIngest?: { ingest: Pick<Ingest, 'handle' | 'deadLetter'>; stored: StoredReadings };
  /** Webhook endpoints are registry rows written for the whole cluster. */
  webhooks: WebhookWriter;
  /** The audit log's reading (PostgreSQL's). */
  readAudit: AuditReader;
  /** Dead letters (ingest's, in PostgreSQL). */
  deadLetters: DeadLetterReader;
  /** Away marks are set for the whole cluster. */
  away: AwayWriter;
  /** The overview's and the assessment's alerts. */
  figures: AlertFigures;
  /** The household list's readings and alerts. */
  householdFacts: (householdIds: readonly string[]) => Promise<Map<string, HouseholdFacts>>;
  operations: (app: FastifyInstance) => void;
}

/**
 * Builds the HTTP app without listening (the entry point listens; tests use `inject`).
 *
 * - `GET /healthz`, `GET /docs` (the API reference page) and `GET /docs/openapi.json` — no auth.
 * - `/api/*` — `Authorization: Bearer <token>`: the admin token, an API key or a session token; every route
 *   checks the caller's permission and scope. Times are epoch ms everywhere.
 * - Every error is `{ code, message, issues? }` with a code from core/errors.ts.
 */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { config, store, clock, cluster } = opts;
  if (!cluster && !opts.alerts) throw new Error('buildApp needs the alerts actions or a cluster API');
  const desk = cluster?.desk ?? new StoreAlertDesk(store, opts.alerts!, clock);
  const logger = opts.logger.child({ module: 'api' });
  const bodyLimitBytes = config.http.bodyLimitBytes;
  const sessionKey = opts.sessionKey ?? randomBytes(32);
  const ctx: ApiContext = {
    store,
    clock,
    access: new AccessPolicy(store),
    catalog: new RouteCatalog(),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(cluster ? { writeAudit: cluster.writeAudit } : {}),
  };

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
  if (cluster) cluster.operations(app);
  else {
    healthRoutes(app, ctx, opts.health ?? storeHealth(store), logger);
    readinessRoutes(app, ctx, opts.health ?? storeHealth(store), logger);
  }
  docsRoutes(app, ctx);
  consoleRoutes()(app, ctx);

  // The admin token's holder runs the tools (simulate, replay, import) and is never rate-limited.
  const adminDigest = config.adminToken ? sha256(`Bearer ${config.adminToken}`) : null;
  const isAdminToken = (header: string | undefined) =>
    adminDigest !== null && header !== undefined && timingSafeEqual(sha256(header), adminDigest);
  const passwordChecks =
    opts.passwordChecks ?? new HashQueue(config.http.passwordHashConcurrency, PASSWORD_QUEUE_MAX);
  await app.register(rateLimit, {
    global: false,
    max: config.http.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => request.ip,
    allowList: (request) =>
      config.http.rateLimitPerMinute === 0 ||
      (config.http.rateLimitExemptLoopback && isLoopback(request.ip)) ||
      isAdminToken(request.headers.authorization),
    errorResponseBuilder: (_request, context) =>
      new CareflowError(
        'ERR_API_RATE_LIMITED',
        `More than ${context.max} requests a minute from this address; try again in ${context.after}`,
      ),
  });

  await app.register(
    async (api) => {
      // Before authentication: a flood of requests with bad tokens is limited too.
      api.addHook('onRequest', api.rateLimit());
      api.addHook(
        'onRequest',
        authenticate({
          store,
          clock,
          adminToken: config.adminToken,
          sessionKey,
          ...(opts.metrics ? { metrics: opts.metrics } : {}),
        }),
      );
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
        hashes: passwordChecks,
        ...(cluster ? { shared: cluster.loginFailures } : {}),
      });
      alertRoutes(api, ctx, desk);
      const localTime = new LocalTime(config.timezone, config.bucketMinutes);
      if (cluster) {
        householdRoutes(api, ctx, localTime, cluster.usage);
        meRoutes(config.timezone)(api, ctx);
        eventRoutes(cluster.feed, config.notifier.sseHeartbeatMs)(api, ctx);
        registryRoutes(api, ctx, cluster.householdFacts);
        escalationRoutes(api, ctx, cluster.escalation);
        overviewRoutes(localTime, cluster.figures)(api, ctx);
        // The detectors of each worker read the pulled spans again at their next tick (the store changed).
        awayRoutes(() => {}, cluster.away)(api, ctx);
        ruleRoutes(cluster.rules)(api, ctx);
        backtestRoutes(cluster.backtester)(api, ctx);
        deadLetterRoutes(api, ctx, cluster.deadLetters);
        auditRoutes(api, ctx, cluster.readAudit);
        apiKeyRoutes(api, ctx, cluster.apiKeys);
        statsRoutes(api, ctx, cluster.alertFacts);
        reportRoutes(api, ctx, cluster.placedAlerts);
        webhookRoutes(api, ctx, cluster.webhooks);
        privacyRoutes(cluster.privacy)(api, ctx);
        if (cluster.httpIngest) ingestRoutes(cluster.httpIngest.ingest, cluster.httpIngest.stored)(api, ctx);
        return;
      }
      householdRoutes(api, ctx, localTime, store.usage);
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
    root.addHook(
      'onRequest',
      authenticate({
        store,
        clock,
        adminToken: config.adminToken,
        sessionKey,
        ...(opts.metrics ? { metrics: opts.metrics } : {}),
      }),
    );
    for (const register of opts.rootRoutes ?? []) register(root, ctx);
    if (cluster) workerMetricsRoute(root, ctx, cluster.metricsText);
  });

  await app.ready();
  return app;
}

/** People's password checks waiting for a slot; past this, logins get 429 at once. */
const PASSWORD_QUEUE_MAX = 100;

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A cluster worker's `/metrics`, for callers with `metrics:read` (a monitor's API key, an admin). */
function workerMetricsRoute(app: FastifyInstance, ctx: ApiContext, text: ClusterApi['metricsText']): void {
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/metrics',
    summary:
      "Prometheus metrics of this cluster worker: partitions owned, consumer lag, shared tables' versions",
    tags: ['operations'],
    permission: 'metrics:read',
    responses: {
      200: {
        description: 'Prometheus text exposition format 0.0.4',
        media: { 'text/plain; version=0.0.4': z.string() },
      },
    },
    handler: async ({ reply }) => {
      const { contentType, body } = await text();
      void reply.type(contentType);
      return body;
    },
  });
}
