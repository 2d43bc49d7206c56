import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/build-app.ts';
import { createBacktester } from '../backtest/backtest.ts';
import { PgAlertDesk } from '../cluster/alert-desk.ts';
import type { PgAlertFeed } from '../cluster/alert-feed.ts';
import { pgAlertFigures } from '../cluster/alert-figures.ts';
import { sharedApiKeyWriter } from '../cluster/api-key-writer.ts';
import { sharedWebhookWriter } from '../cluster/webhook-writer.ts';
import { clusterPrivacy } from '../cluster/consent-writer.ts';
import { readAudit, writeAudit } from '../cluster/audit-log.ts';
import { sharedAwayWriter } from '../cluster/away-writer.ts';
import { pgBacktestHistory } from '../cluster/backtest-history.ts';
import { sharedEscalationWriter } from '../cluster/escalation-writer.ts';
import { householdFactsOf } from '../cluster/household-facts.ts';
import { PgLoginFailures } from '../cluster/login-failures.ts';
import { pgAlertFacts, pgPlacedAlerts } from '../cluster/report-facts.ts';
import { followedRuleBook, sharedRuleAdmin } from '../cluster/rule-admin.ts';
import { clusterSessionKey } from '../cluster/session-key.ts';
import type { PgUnitOfWork } from '../cluster/unit-of-work.ts';
import { systemClock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedFollower } from '../core/shared-follower.ts';
import type { Store } from '../core/store/store.ts';
import { ConsentGate } from '../detectors/consent-gate.ts';
import { PgDeadLetterReader } from '../ingest/postgres-dead-letters.ts';
import { PgIngestRepository } from '../ingest/postgres-repository.ts';
import type { Ingest } from '../ingest/start-ingest.ts';
import type { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import type { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import type { SharedStoreNotifier } from '../notifier/shared-store-notifier.ts';
import { REGISTRY_SET } from '../registry/tables.ts';

export interface ClusterApiParts {
  config: Config;
  logger: Logger;
  pool: PgPool;
  /** The worker's embedded store: the registry, rules, chains, away marks and keys it follows. */
  store: Store;
  follower: Pick<SharedFollower, 'poll'>;
  /** The notifier's repositories, opened on `uow.pool` (people's actions join its transactions). */
  uow: PgUnitOfWork;
  alerts: PgAlertRepository;
  escalations: PgEscalationRepository;
  notifier: SharedStoreNotifier;
  feed: PgAlertFeed;
  /** Messages were queued by a person's action (the outbox relay sends them now). */
  onQueued?: () => void;
  metricsText: () => Promise<{ contentType: string; body: string }>;
  /** The worker's `/healthz` and `/readyz`. */
  operations: (app: FastifyInstance) => void;
  /** HTTP ingest to the partitions' queue (cluster/http-ingest.ts); absent: `POST /api/ingest/readings` not served. */
  httpIngest?: Pick<Ingest, 'handle' | 'deadLetter'>;
}

/**
 * A cluster worker's HTTP app (api/build-app.ts `ClusterApi`): the console and its API on the shared PostgreSQL
 * store and the tables the worker follows. Composed here once, for `careflow start --cluster` and for the tests
 * that run workers' apps without RabbitMQ.
 */
export async function buildClusterApp(p: ClusterApiParts): Promise<FastifyInstance> {
  const { config, logger, pool, store, follower } = p;
  const ingest = await PgIngestRepository.open(pool);
  const book = followedRuleBook(store, config);
  return buildApp({
    config,
    store,
    clock: systemClock,
    logger,
    sessionKey: await clusterSessionKey(pool),
    cluster: {
      ...(p.httpIngest
        ? {
            httpIngest: {
              ingest: p.httpIngest,
              stored: (meterId: string, from: number, to: number) => ingest.storedReadings(meterId, from, to),
            },
          }
        : {}),
      desk: new PgAlertDesk({
        directory: store,
        alerts: p.alerts,
        escalations: p.escalations,
        notifier: p.notifier,
        uow: p.uow,
        ...(p.onQueued ? { onQueued: p.onQueued } : {}),
      }),
      usage: { range: (householdId, from, to) => ingest.usageRange(householdId, from, to) },
      feed: p.feed,
      loginFailures: new PgLoginFailures(pool),
      escalation: sharedEscalationWriter(pool, [REGISTRY_SET], follower),
      away: sharedAwayWriter(pool, follower),
      rules: sharedRuleAdmin(book, config, pool, follower),
      apiKeys: sharedApiKeyWriter(pool, follower),
      webhooks: sharedWebhookWriter(pool, store, follower),
      privacy: clusterPrivacy(pool, follower),
      backtester: createBacktester({
        store,
        book,
        localTime: new LocalTime(config.timezone, config.bucketMinutes),
        consent: new ConsentGate(store, config.privacy),
        history: pgBacktestHistory(pool),
      }),
      householdFacts: (ids) => householdFactsOf(pool, ids),
      figures: pgAlertFigures(pool),
      alertFacts: pgAlertFacts(pool),
      placedAlerts: pgPlacedAlerts(pool),
      deadLetters: new PgDeadLetterReader(pool),
      readAudit: (f) => readAudit(pool, f),
      writeAudit: (entry) =>
        void writeAudit(pool, entry).catch((err: unknown) =>
          logger.error({ err }, 'could not write an audit entry'),
        ),
      metricsText: p.metricsText,
      operations: p.operations,
    },
  });
}
