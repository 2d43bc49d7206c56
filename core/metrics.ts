import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** Seconds: from 1 ms to a minute, for acknowledgements and commits. */
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds: from 10 ms to an hour, for detection and delivery (a worker app may be offline for a while). */
const SLOW_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** How an authentication was attempted: MQTT CONNECT, `POST /api/login`, or a bearer token / API key. */
export type AuthChannel = 'mqtt' | 'login' | 'bearer';

/**
 * careflow's own Prometheus metrics, kept by prom-client in a registry per service (tests run several in one
 * process), with Node's default process metrics. Figures that are read from the store or from a module at
 * scrape time are added by `api/routes/metrics.ts`; this holds what is observed as it happens. Every name is
 * listed in the README's Monitoring section.
 */
export class ServiceMetrics {
  readonly registry = new Registry();

  /** From a payload's arrival to its acknowledgement being released (MQTT PUBACK, HTTP answer). */
  readonly ackSeconds = new Histogram({
    name: 'careflow_ingest_ack_seconds',
    help: 'From the arrival of a reading payload to its acknowledgement (MQTT PUBACK, HTTP answer), after commit',
    labelNames: ['channel'] as const,
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });

  readonly commitSeconds = new Histogram({
    name: 'careflow_inbox_commit_seconds',
    help: 'Duration of one group commit of the inbox (the fsync with synchronous=FULL)',
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });

  readonly detectionSeconds = new Histogram({
    name: 'careflow_reading_to_detection_seconds',
    help: 'From the arrival of the reading that completed the evidence to the alert-opening detection',
    labelNames: ['rule'] as const,
    buckets: SLOW_BUCKETS,
    registers: [this.registry],
  });

  readonly firstDeliverySeconds = new Histogram({
    name: 'careflow_reading_to_first_delivery_seconds',
    help: 'From the arrival of the reading that opened an alert to the first delivery of its message',
    labelNames: ['rule'] as const,
    buckets: SLOW_BUCKETS,
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: 'careflow_auth_failures_total',
    help: 'Failed authentications since start, by channel (mqtt, login, bearer)',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });

  /** `ruleIds`: the rules whose latency series exist from the start (at 0), so `rate()` sees the first alert. */
  constructor(ruleIds: readonly string[] = []) {
    collectDefaultMetrics({ register: this.registry });
    for (const rule of ruleIds) {
      this.detectionSeconds.zero({ rule });
      this.firstDeliverySeconds.zero({ rule });
    }
    // Series that exist from the start, so that rate() and the dashboards have data before the first event.
    for (const channel of ['mqtt', 'login', 'bearer'] as const) this.authFailures.inc({ channel }, 0);
    this.ackSeconds.zero({ channel: 'mqtt' });
  }

  /** Counts one failed authentication (a wrong secret, an unknown client, a bad or revoked token). */
  countFailedAuthentication(channel: AuthChannel): void {
    this.authFailures.inc({ channel });
  }

  /** The whole registry in the Prometheus text format. */
  async text(): Promise<string> {
    // prom-client separates families with empty lines (allowed, ignored); one line per entry reads better.
    return (await this.registry.metrics()).replace(/\n{2,}/g, '\n');
  }
}
