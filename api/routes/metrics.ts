import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ERRORS } from '../../core/errors.ts';
import { DEFAULT_RULES } from '../../detectors/rules/default-rules.ts';
import type { ServiceMetrics } from '../../core/metrics.ts';
import type { Store } from '../../core/store/store.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';

/** What the composition root hands in: live figures of the running modules. */
export interface MetricsSources {
  /** What prom-client keeps: latency histograms, alerts opened, failed authentications, process metrics. */
  metrics?: ServiceMetrics;
  ingest(): {
    committedReadings: number;
    commits: number;
    normalizer: Readonly<Record<string, number>>;
    rateLimitedReadings?: number;
  };
  /** Inbox `seq` the normalizer has processed. */
  processingCursor(): number;
  mqttConnectedClients(): number;
  /** Refused CONNECTs and secret checks (absent in apps built without a broker). */
  security?: () => {
    refusedConnects: Readonly<Record<string, number>>;
    secretChecks: number;
    secretChecksQueued: number;
    /** CONNECTs accepted by a stored keyed verifier, without scrypt. */
    secretFastChecks?: number;
    passwordChecks: number;
    passwordChecksRefused: number;
  };
  /** Absent when no archive is configured. */
  archive?: () => {
    up: boolean;
    spoolReadings: number;
    lagSeconds: number;
    writtenReadings: number;
    writes: number;
    writeFailures: number;
    rejectedBatches: number;
  };
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Codes that dead letters can carry, reported as 0 before the first one so that `rate()` works. */
const DEAD_LETTER_CODES = Object.keys(ERRORS).filter(
  (c) => c.startsWith('ERR_INGEST_') || c === 'ERR_BROKER_TOPIC_FORBIDDEN',
);

/**
 * `GET /metrics`: Prometheus text exposition format 0.0.4, written by hand. Needs a token with
 * `metrics:read` (the admin token, or an API key with role `monitor` or `admin`): the figures cover every
 * grid.
 */
export function metricsRoutes(sources: MetricsSources) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    defineRoute(app, ctx, {
      method: 'GET',
      url: '/metrics',
      summary:
        'Prometheus metrics (text format 0.0.4): ingest, dead letters, alerts, outbox, MQTT, archive, process',
      tags: ['operations'],
      permission: 'metrics:read',
      responses: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          media: { 'text/plain; version=0.0.4': z.string() },
        },
      },
      handler: async ({ reply }) => {
        void reply.type(CONTENT_TYPE);
        const observed = sources.metrics ? await sources.metrics.text() : processMetrics();
        return renderMetrics(ctx.store, sources) + observed;
      },
    });
  };
}

/** The parts of the embedded store the metrics read: counters, dead letters, the checkpoint and the outbox. */
export type MetricsTables = Pick<Store, 'metrics' | 'deadLetters' | 'checkpoints' | 'outbox'>;

export function renderMetrics(store: MetricsTables, sources: MetricsSources): string {
  const m = new Exposition();
  const ingest = sources.ingest();
  const lastSeq = store.metrics.inboxMaxSeq();

  m.counter(
    'careflow_readings_committed_total',
    'Readings committed to the inbox since start',
    ingest.committedReadings,
  );
  m.counter('careflow_ingest_commits_total', 'Inbox group commits since start', ingest.commits);
  if (ingest.rateLimitedReadings !== undefined) {
    m.counter(
      'careflow_ingest_rate_limited_readings_total',
      'Readings refused over a meter allowance since start',
      ingest.rateLimitedReadings,
    );
  }
  m.counter(
    'careflow_normalizer_events_total',
    'What committed readings did to their meter normalizer since start, by kind',
    Object.entries(ingest.normalizer).map(([kind, n]) => [{ kind }, n]),
  );
  const counts = store.deadLetters.countsByCode();
  for (const code of DEAD_LETTER_CODES) counts[code] ??= 0;
  m.counter(
    'careflow_dead_letters_total',
    'Rejected input kept in the dead-letter table, by reason code (all time)',
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([code, n]) => [{ code }, n]),
  );
  const opened = Object.fromEntries(DEFAULT_RULES.map((r) => [r.id, 0]));
  for (const { ruleId, n } of store.metrics.alertsByRule()) opened[ruleId] = n;
  m.counter(
    'careflow_alerts_opened_total',
    'Alerts opened, by rule (all time)',
    Object.entries(opened)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([rule, n]) => [{ rule }, n]),
  );
  m.gauge('careflow_inbox_last_seq', 'Sequence number of the newest inbox row', lastSeq);
  m.gauge(
    'careflow_inbox_cursor_lag_readings',
    'Inbox rows not yet processed by the normalizer',
    Math.max(0, lastSeq - sources.processingCursor()),
  );
  m.gauge(
    'careflow_inbox_checkpoint_lag_readings',
    'Inbox rows after the last checkpoint (re-processed after a crash)',
    Math.max(0, lastSeq - store.checkpoints.cursor()),
  );
  m.gauge(
    'careflow_outbox_pending_messages',
    'Alert messages waiting for delivery',
    store.outbox.pendingCount(),
  );
  m.gauge(
    'careflow_open_alerts',
    'Alerts not yet resolved, by rule and state',
    store.metrics.openAlerts().map((a) => [{ rule: a.ruleId, state: a.state }, a.n]),
  );
  m.gauge(
    'careflow_mqtt_connected_clients',
    'MQTT clients connected to the broker',
    sources.mqttConnectedClients(),
  );

  if (sources.security) {
    const sec = sources.security();
    m.counter(
      'careflow_mqtt_connect_refused_total',
      'MQTT CONNECTs refused since start, by reason (bad-credentials, throttled, busy, client-id-taken, client-id-empty)',
      Object.entries(sec.refusedConnects).map(([reason, n]) => [{ reason }, n]),
    );
    m.counter(
      'careflow_secret_checks_total',
      'Secrets checked with scrypt since start, by kind (device: MQTT CONNECT, person: POST /api/login)',
      [
        [{ kind: 'device' }, sec.secretChecks],
        [{ kind: 'person' }, sec.passwordChecks],
      ],
    );
    m.counter(
      'careflow_secret_fast_checks_total',
      'MQTT CONNECTs accepted by a stored keyed verifier without scrypt, since start',
      sec.secretFastChecks ?? 0,
    );
    m.gauge(
      'careflow_secret_checks_queued',
      'Device-secret checks waiting for a slot',
      sec.secretChecksQueued,
    );
    m.counter(
      'careflow_login_busy_total',
      'Logins refused because too many password checks were waiting',
      sec.passwordChecksRefused,
    );
  }

  m.gauge('careflow_archive_enabled', '1 when the InfluxDB archive is configured', sources.archive ? 1 : 0);
  if (sources.archive) {
    const a = sources.archive();
    m.gauge('careflow_archive_up', '0 while archive writes are failing', a.up ? 1 : 0);
    m.gauge(
      'careflow_archive_spool_readings',
      'Committed readings not yet written to the archive',
      a.spoolReadings,
    );
    m.gauge('careflow_archive_lag_seconds', 'Age of the oldest reading not yet archived', a.lagSeconds);
    m.counter(
      'careflow_archive_written_readings_total',
      'Readings written to the archive since start',
      a.writtenReadings,
    );
    m.counter('careflow_archive_writes_total', 'Batches written to the archive since start', a.writes);
    m.counter('careflow_archive_write_failures_total', 'Failed archive writes since start', a.writeFailures);
    m.counter(
      'careflow_archive_rejected_batches_total',
      'Batches the database refused for good (HTTP 422) since start',
      a.rejectedBatches,
    );
  }

  return m.text();
}

/** The process figures, for a service without prom-client metrics (tests that build the API alone). */
function processMetrics(): string {
  const m = new Exposition();
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  m.counter('process_cpu_user_seconds_total', 'User CPU time spent', cpu.user / 1e6);
  m.counter('process_cpu_system_seconds_total', 'System CPU time spent', cpu.system / 1e6);
  m.counter('process_cpu_seconds_total', 'User and system CPU time spent', (cpu.user + cpu.system) / 1e6);
  m.gauge('process_resident_memory_bytes', 'Resident memory size', memory.rss);
  m.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use', memory.heapUsed);
  m.gauge(
    'process_start_time_seconds',
    'Start time of the process (Unix epoch)',
    Math.round(Date.now() / 1000 - process.uptime()),
  );
  return m.text();
}

type Labels = Record<string, string>;
type Samples = number | [Labels, number][];

/** Builds the text format: `# HELP`, `# TYPE`, then one line per sample. */
export class Exposition {
  private readonly lines: string[] = [];

  counter(name: string, help: string, samples: Samples): void {
    this.family(name, 'counter', help, samples);
  }

  gauge(name: string, help: string, samples: Samples): void {
    this.family(name, 'gauge', help, samples);
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }

  private family(name: string, type: 'counter' | 'gauge', help: string, samples: Samples): void {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    this.lines.push(`# TYPE ${name} ${type}`);
    if (typeof samples === 'number') {
      this.lines.push(`${name} ${formatValue(samples)}`);
      return;
    }
    for (const [labels, value] of samples) {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      this.lines.push(`${name}{${pairs.join(',')}} ${formatValue(value)}`);
    }
  }
}

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
