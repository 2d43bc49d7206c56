import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CareflowError, describeIssues, fieldIssues } from './errors.ts';
import { LocalTime } from './local-time.ts';
import { RuleOverride } from './rules.ts';

/**
 * The whole configuration: one schema, units in names, every default here and in the README table.
 * Sources, later wins: defaults ← JSON file (`CAREFLOW_CONFIG`) ← environment variables.
 */
const port = z.number().int().min(0).max(65_535);

export const Config = z
  .strictObject({
    dataDir: z.string().min(1).default('./data'),
    timezone: z
      .string()
      .refine(LocalTime.isValidTimeZone, 'not an IANA time zone known to this runtime')
      .default('Asia/Shanghai'),
    bucketMinutes: z.union([z.literal(15), z.literal(30), z.literal(60)]).default(60),
    adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
    /** `system` (production) or `manual`: time moves only through `POST /api/clock` (simulation, replay). */
    clock: z.enum(['system', 'manual']).default('system'),
    /**
     * Where a manual clock starts (ISO 8601 with a zone); default 2000-01-01. After a restart it resumes at the
     * newest stored reading's arrival if that is later. Start near the data: every timer fires on the way.
     */
    clockStart: z.iso.datetime({ offset: true }).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    mqtt: z
      .strictObject({
        host: z.string().default('0.0.0.0'),
        port: port.default(1883),
        /** Largest reading payload accepted; larger ones are dead-lettered and answered on the error topic. */
        maxPayloadBytes: z.number().int().min(256).max(1_048_576).default(65_536),
        /** Hard cap on one MQTT packet; a client sending more is disconnected before it is buffered. */
        maxPacketBytes: z.number().int().min(1024).max(16_777_216).default(1_048_576),
        /**
         * An existing broker to attach to (mqtt:// or mqtts://): careflow then runs no broker of its own and
         * consumes the readings from it as a client (shared subscription, persistent session, QoS 1).
         */
        url: z
          .url({ protocol: /^mqtts?$/, error: 'expected an mqtt:// or mqtts:// URL' })
          .nullable()
          .default(null),
        /** careflow's own login at that broker. */
        username: z.string().min(1).nullable().default(null),
        password: z.string().min(1).nullable().default(null),
        /** Client id of careflow's persistent session there (one per careflow instance). */
        clientId: z.string().min(1).max(64).default('careflow'),
        /**
         * Shared secret EMQX sends (header `x-careflow-hook-secret`) with its HTTP authentication and authorisation
         * calls to `/hooks/emqx/authn` and `/hooks/emqx/authz`; null: those hooks are off.
         */
        emqxHookSecret: z.string().min(24, 'at least 24 characters').max(256).nullable().default(null),
        /**
         * Shared secret RabbitMQ's HTTP auth backend sends (as the password of HTTP Basic authentication in the
         * backend's URLs, or header `x-careflow-hook-secret`) to `/hooks/rabbitmq/{user,vhost,resource,topic}`;
         * null: those routes are off.
         */
        rabbitmqHookSecret: z.string().min(24, 'at least 24 characters').max(256).nullable().default(null),
        /** Addresses RabbitMQ's nodes call those routes from; calls from anywhere else are refused. */
        rabbitmqHookSources: z
          .array(z.union([z.ipv4(), z.ipv6()]))
          .min(1)
          .max(256)
          .default(['127.0.0.1', '::1']),
        /** The RabbitMQ virtual host meters and worker apps may use. */
        rabbitmqVhost: z.string().min(1).max(255).default('/'),
        /** Shared-subscription group: instances in one group share the readings. */
        shareGroup: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .default('careflow'),
        /** The plain (unencrypted) listener on `port`; `false` leaves only TLS and `wss`. */
        plain: z.boolean().default(true),
        /** MQTT over TLS, when `tls.certFile` and `tls.keyFile` are set. */
        tlsPort: port.default(8883),
        /** MQTT over WebSocket on the HTTP(S) server at this path (`ws://`, `wss://`); null turns it off. */
        websocketPath: z
          .string()
          .regex(/^\/[A-Za-z0-9/_-]*$/, 'must be a path such as /mqtt')
          .nullable()
          .default('/mqtt'),
        /** Failed CONNECTs from one address before its backoff starts (1 s, doubling). */
        authFailuresPerAddress: z.number().int().min(1).max(100_000).default(10),
        /** Failed CONNECTs for one client id before its backoff starts (1 s, doubling). */
        authFailuresPerId: z.number().int().min(1).max(100_000).default(5),
        /** Longest CONNECT backoff for an address or an id. */
        authBackoffMaxMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
        /** Device-secret checks (scrypt) running at once. */
        hashConcurrency: z.number().int().min(1).max(16).default(2),
        /** Device-secret checks waiting for a slot; CONNECTs past this are refused (server unavailable). */
        hashQueueMax: z.number().int().min(1).max(100_000).default(64),
      })
      .prefault({}),
    http: z
      .strictObject({
        host: z.string().default('0.0.0.0'),
        port: port.default(3000),
        bodyLimitBytes: z.number().int().min(1024).max(10_485_760).default(1_048_576),
        /** Lifetime of a session token from `POST /api/login`. */
        sessionTtlMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(60),
        /** Failed logins per account (and per address) allowed in `loginWindowMinutes`. */
        loginMaxFailures: z.number().int().min(1).max(1000).default(5),
        loginWindowMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(15),
        /** People's password checks (scrypt) running at once; more wait, and past 100 waiting get 429. */
        passwordHashConcurrency: z.number().int().min(1).max(16).default(1),
        /** Requests to `/api` per client address per minute (429 past it); 0 turns the limit off. */
        rateLimitPerMinute: z.number().int().min(0).max(1_000_000).default(600),
        /** Loopback callers (the CLI, simulate and replay tools on the same host) are not rate-limited. */
        rateLimitExemptLoopback: z.boolean().default(true),
        /** The plain HTTP listener on `port`; `false` leaves only HTTPS. */
        plain: z.boolean().default(true),
        /** HTTPS (API, console, `wss`), when `tls.certFile` and `tls.keyFile` are set. */
        tlsPort: port.default(3443),
      })
      .prefault({}),
    /** Certificate and key (PEM files) for MQTT over TLS, `wss` and HTTPS; re-read on SIGHUP and on change. */
    tls: z
      .strictObject({
        certFile: z.string().min(1).nullable().default(null),
        keyFile: z.string().min(1).nullable().default(null),
      })
      .superRefine((t, ctx) => {
        if ((t.certFile === null) !== (t.keyFile === null))
          ctx.addIssue({ code: 'custom', message: 'certFile and keyFile must be set together' });
      })
      .prefault({}),
    store: z
      .strictObject({
        /** SQLite `synchronous`: FULL survives power loss, NORMAL survives a process crash. */
        synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
        /** How long closed usage buckets are kept (days). */
        bucketRetentionDays: z.number().int().min(1).max(3650).default(400),
      })
      .prefault({}),
    ingest: z
      .strictObject({
        /** Most readings in one batch payload. */
        maxBatchReadings: z.number().int().min(1).max(10_000).default(1_000),
        /** A reading stamped further than this ahead of the clock is rejected. */
        maxFutureSkewMinutes: z
          .number()
          .int()
          .min(0)
          .max(24 * 60)
          .default(10),
        /** An interval between two readings longer than this is a gap: its buckets are unknown. */
        maxGapMinutes: z
          .number()
          .int()
          .min(15)
          .max(7 * 24 * 60)
          .default(360),
        /** A difference implying more flow than this is a glitch. */
        maxFlowLitersPerHour: z.number().gt(0).max(1_000_000).default(3_000),
        /** A drop to a register at or below this is read as a meter reset / replacement. */
        resetNearZeroLiters: z.number().min(0).default(100),
        /** Register wrap-around value of the meters, if they roll over (e.g. 99,999,999 L). */
        rolloverLiters: z.number().gt(0).nullable().default(null),
        /** Longest a reading waits for its group commit before the PUBACK. */
        commitMaxDelayMs: z.number().int().min(0).max(1_000).default(2),
        /** Most readings committed in one transaction. */
        commitMaxReadings: z.number().int().min(1).max(100_000).default(5_000),
        /**
         * Inbox commits on a thread of their own with its own connection to the store file (the main thread then
         * only parses, processes and acknowledges). Ignored for an in-memory store. Off by default until a quiet
         * A/B shows it pays: on two cores shared with the load it moved work without removing any (README).
         */
        writerThread: z.boolean().default(false),
        /**
         * Per-meter allowance (token bucket refilled continuously on the service clock; a full bucket also lets
         * one maximal batch through). Readings beyond it are dead-lettered with ERR_INGEST_RATE_LIMITED.
         */
        maxReadingsPerMeterPerMinute: z.number().int().min(1).max(1_000_000).default(600),
      })
      .prefault({}),
    detectors: z
      .strictObject({
        /** How often wall-clock rules (meter-silent) are evaluated. */
        tickIntervalMs: z.number().int().min(100).max(3_600_000).default(60_000),
        /** How often detector state is checkpointed to the store. */
        checkpointIntervalMs: z.number().int().min(10).max(600_000).default(1_000),
        /** Overrides of the default rules, by rule id (any field or param). */
        rules: z.record(z.string(), RuleOverride).default({}),
        /**
         * Correlated silence: when at least this many meters of one grid, and `outageMinShare` of its
         * reporting meters, went quiet within `outageWithinMinutes` of each other, careflow reports one outage
         * (`meter-outage`, maintenance) and keeps the silences it explains quiet. 0: off.
         */
        outageMinMeters: z.number().int().min(0).max(1_000_000).default(10),
        outageMinShare: z.number().gt(0).max(1).default(0.3),
        outageWithinMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(60),
      })
      .prefault({}),
    notifier: z
      .strictObject({
        /** First retry delay of an undelivered alert message; doubles each attempt (with jitter). */
        retryBaseMs: z.number().int().min(10).max(600_000).default(5_000),
        /** Longest delay between two attempts. */
        retryMaxMs: z.number().int().min(10).max(3_600_000).default(600_000),
        /** A message gives up (state `failed`, which escalates) after this many attempts… */
        maxAttempts: z.number().int().min(1).max(1000).default(10),
        /** …or once it is this old, whichever comes first. */
        maxAgeMinutes: z
          .number()
          .int()
          .min(1)
          .max(7 * 24 * 60)
          .default(60),
        /** How long a webhook call may take before it counts as failed. */
        webhookTimeoutMs: z.number().int().min(50).max(120_000).default(10_000),
        /** MQTT messages a worker app never acknowledged are sent again, up to this age, when it resubscribes. */
        redeliverMaxAgeMinutes: z
          .number()
          .int()
          .min(0)
          .max(30 * 24 * 60)
          .default(24 * 60),
        /** Comment line sent on idle server-sent event streams (real time, keeps proxies from closing them). */
        sseHeartbeatMs: z.number().int().min(20).max(300_000).default(15_000),
        /**
         * Grouping: alerts opened for one person within this long after a message to them are held and sent as
         * one message listing the households (on `workers/{id}/alerts`, `event: "grouped"`). 0: every alert its
         * own message at once.
         */
        groupWindowMs: z.number().int().min(0).max(3_600_000).default(60_000),
      })
      .prefault({}),
    /**
     * Personal information (README "Personal information"): the lawful basis of each kind of monitoring and how
     * long each kind of data is kept.
     */
    privacy: z
      .strictObject({
        /**
         * A household with no consent record at all (imported before consent was recorded): `assume` keeps
         * monitoring it as before; `refuse` treats it as having consented to nothing.
         */
        unrecordedConsent: z.enum(['assume', 'refuse']).default('assume'),
        /** Leak rules: `vital-interest` run without consent (a burst pipe harms the home); `consent` need it. */
        leakBasis: z.enum(['vital-interest', 'consent']).default('vital-interest'),
        /** Raw readings in the store's inbox, once processed and archived (days). */
        readingRetentionDays: z.number().int().min(1).max(3650).default(400),
        /** Resolved alerts with their timelines and deliveries, by audience (days after resolution). */
        welfareAlertRetentionDays: z.number().int().min(1).max(3650).default(1095),
        leakAlertRetentionDays: z.number().int().min(1).max(3650).default(1095),
        maintenanceAlertRetentionDays: z.number().int().min(1).max(3650).default(365),
      })
      .prefault({}),
    /** The optional InfluxDB archive of raw readings (InfluxDB v2 write API); off while `url` is null. */
    /**
     * Cluster mode (`careflow start --cluster`, preview): readings come from RabbitMQ's partitioned work queue
     * and are committed to PostgreSQL. See the README's "Cluster (preview)".
     */
    cluster: z
      .strictObject({
        /** careflow's own AMQP login at RabbitMQ (a user of RabbitMQ's internal database). */
        amqpUrl: z
          .url({ protocol: /^amqps?$/, error: 'expected an amqp:// or amqps:// URL' })
          .nullable()
          .default(null),
        /** The shared PostgreSQL store. */
        postgresUrl: z
          .url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// URL' })
          .nullable()
          .default(null),
        /** Partitions of the readings queue (quorum queues); every worker of a cluster must use the same number. */
        partitions: z.number().int().min(1).max(1024).default(16),
        /**
         * Partitions this worker takes first, as `0-3,8`; it stands by for all the others and takes them over
         * when their worker goes. null: it takes every partition first.
         */
        prefer: z
          .string()
          .regex(/^\d+(-\d+)?(,\d+(-\d+)?)*$/, 'a list such as 0-3,8')
          .nullable()
          .default(null),
        /** Unacknowledged deliveries per partition (readings committed in one transaction at most this many). */
        prefetch: z.number().int().min(1).max(10_000).default(500),
        /** How long a worker waits before it stands by for the partitions it does not prefer. */
        standbyDelayMs: z.number().int().min(0).max(600_000).default(3_000),
        /**
         * The wall-clock floor of a partition's clock (event time): while a partition's queue is empty, its clock
         * is kept at least this far behind the wall clock, so that silences and outages are raised even when none
         * of its meters sends. 0 turns the floor off.
         */
        clockFloorLagMs: z.number().int().min(0).max(86_400_000).default(300_000),
        /**
         * The floor follows the wall clock only while the partition's clock is at most this far behind it: a
         * partition replaying older readings (or a cluster back after a longer stop) keeps its own clock until
         * its readings bring it near the present.
         */
        clockFloorMaxJumpMs: z
          .number()
          .int()
          .min(0)
          .max(30 * 86_400_000)
          .default(6 * 3_600_000),
        /**
         * How often a worker checks the shared registry's version (`careflow import --cluster`) and pulls a new
         * one: a re-import reaches every worker within this interval.
         */
        registryPollMs: z.number().int().min(100).max(3_600_000).default(5_000),
      })
      .prefault({}),
    archive: z
      .strictObject({
        url: z
          .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
          .nullable()
          .default(null),
        token: z.string().min(1).nullable().default(null),
        org: z.string().min(1).nullable().default(null),
        bucket: z.string().min(1).nullable().default(null),
        /** Most readings in one write request. */
        batchReadings: z.number().int().min(1).max(50_000).default(5_000),
        /** Longest a committed reading waits before it is written (unless a full batch is ready sooner). */
        flushIntervalMs: z.number().int().min(0).max(60_000).default(1_000),
        /** First delay after a failed write; doubles (with jitter) up to `retryMaxMs`. */
        retryMinMs: z.number().int().min(10).max(600_000).default(1_000),
        retryMaxMs: z.number().int().min(10).max(3_600_000).default(60_000),
        /** A write request without an answer after this long has failed. */
        requestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
        /** Write bodies larger than this are sent gzip-compressed. */
        gzipThresholdBytes: z.number().int().min(0).default(1_000),
      })
      .superRefine((a, ctx) => {
        if (a.url === null) return;
        for (const key of ['org', 'bucket'] as const) {
          if (a[key] !== null) continue;
          const message = `required when archive.url is set (CAREFLOW_INFLUX_${key.toUpperCase()})`;
          ctx.addIssue({ code: 'custom', path: [key], message });
        }
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    // A plain listener switched off needs TLS in its place.
    for (const part of ['mqtt', 'http'] as const) {
      if (c[part].plain || c.tls.certFile !== null) continue;
      const message = 'false needs tls.certFile and tls.keyFile (there would be no listener)';
      ctx.addIssue({ code: 'custom', path: [part, 'plain'], message });
    }
  });
export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;

interface EnvVar {
  name: string;
  path: string[];
  type: 'string' | 'int' | 'number';
}

/** Environment variables, each mapped to one config field. Documented in the README config table. */
export const ENV_VARS: EnvVar[] = [
  { name: 'CAREFLOW_DATA_DIR', path: ['dataDir'], type: 'string' },
  { name: 'CAREFLOW_TIMEZONE', path: ['timezone'], type: 'string' },
  { name: 'CAREFLOW_BUCKET_MINUTES', path: ['bucketMinutes'], type: 'int' },
  { name: 'CAREFLOW_ADMIN_TOKEN', path: ['adminToken'], type: 'string' },
  { name: 'CAREFLOW_LOG_LEVEL', path: ['logLevel'], type: 'string' },
  { name: 'CAREFLOW_CLOCK', path: ['clock'], type: 'string' },
  { name: 'CAREFLOW_CLOCK_START', path: ['clockStart'], type: 'string' },
  { name: 'CAREFLOW_MQTT_HOST', path: ['mqtt', 'host'], type: 'string' },
  { name: 'CAREFLOW_MQTT_PORT', path: ['mqtt', 'port'], type: 'int' },
  { name: 'CAREFLOW_MQTT_MAX_PAYLOAD_BYTES', path: ['mqtt', 'maxPayloadBytes'], type: 'int' },
  { name: 'CAREFLOW_MQTT_URL', path: ['mqtt', 'url'], type: 'string' },
  { name: 'CAREFLOW_MQTT_USERNAME', path: ['mqtt', 'username'], type: 'string' },
  { name: 'CAREFLOW_MQTT_PASSWORD', path: ['mqtt', 'password'], type: 'string' },
  { name: 'CAREFLOW_MQTT_CLIENT_ID', path: ['mqtt', 'clientId'], type: 'string' },
  { name: 'CAREFLOW_EMQX_HOOK_SECRET', path: ['mqtt', 'emqxHookSecret'], type: 'string' },
  { name: 'CAREFLOW_RABBITMQ_HOOK_SECRET', path: ['mqtt', 'rabbitmqHookSecret'], type: 'string' },
  { name: 'CAREFLOW_AMQP_URL', path: ['cluster', 'amqpUrl'], type: 'string' },
  { name: 'CAREFLOW_POSTGRES_URL', path: ['cluster', 'postgresUrl'], type: 'string' },
  { name: 'CAREFLOW_CLUSTER_PARTITIONS', path: ['cluster', 'partitions'], type: 'int' },
  { name: 'CAREFLOW_CLUSTER_PREFER', path: ['cluster', 'prefer'], type: 'string' },
  { name: 'CAREFLOW_CLUSTER_REGISTRY_POLL_MS', path: ['cluster', 'registryPollMs'], type: 'int' },
  { name: 'CAREFLOW_HTTP_HOST', path: ['http', 'host'], type: 'string' },
  { name: 'CAREFLOW_HTTP_PORT', path: ['http', 'port'], type: 'int' },
  { name: 'CAREFLOW_SQLITE_SYNCHRONOUS', path: ['store', 'synchronous'], type: 'string' },
  { name: 'CAREFLOW_MAX_GAP_MINUTES', path: ['ingest', 'maxGapMinutes'], type: 'int' },
  { name: 'CAREFLOW_MAX_FLOW_LITERS_PER_HOUR', path: ['ingest', 'maxFlowLitersPerHour'], type: 'number' },
  { name: 'CAREFLOW_TICK_INTERVAL_MS', path: ['detectors', 'tickIntervalMs'], type: 'int' },
  { name: 'CAREFLOW_MQTT_TLS_PORT', path: ['mqtt', 'tlsPort'], type: 'int' },
  { name: 'CAREFLOW_HTTP_TLS_PORT', path: ['http', 'tlsPort'], type: 'int' },
  { name: 'CAREFLOW_TLS_CERT_FILE', path: ['tls', 'certFile'], type: 'string' },
  { name: 'CAREFLOW_TLS_KEY_FILE', path: ['tls', 'keyFile'], type: 'string' },
  { name: 'CAREFLOW_INFLUX_URL', path: ['archive', 'url'], type: 'string' },
  { name: 'CAREFLOW_INFLUX_TOKEN', path: ['archive', 'token'], type: 'string' },
  { name: 'CAREFLOW_INFLUX_ORG', path: ['archive', 'org'], type: 'string' },
  { name: 'CAREFLOW_INFLUX_BUCKET', path: ['archive', 'bucket'], type: 'string' },
];

/** Reads config from a JSON file (optional) and the environment; throws ERR_CONFIG_INVALID naming every bad field. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigInput = {}): Config {
  const issues: { path: string; message: string }[] = [];
  let fromFile: Record<string, unknown> = {};
  const file = env.CAREFLOW_CONFIG;
  if (file) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (!isPlainObject(parsed)) throw new Error('the file must hold a JSON object');
      fromFile = parsed;
    } catch (err) {
      throw new CareflowError(
        'ERR_CONFIG_INVALID',
        `CAREFLOW_CONFIG (${file}) could not be read as JSON: ${(err as Error).message}`,
      );
    }
  }
  const merged: Record<string, unknown> = deepMerge(fromFile, overrides as Record<string, unknown>);
  for (const v of ENV_VARS) {
    const raw = env[v.name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (v.type !== 'string') {
      value = Number(raw);
      // Number(' ') is 0: a blank value must not become port 0.
      const blank = raw.trim() === '';
      if (blank || !Number.isFinite(value as number) || (v.type === 'int' && !Number.isInteger(value))) {
        issues.push({
          path: v.name,
          message: `expected ${v.type === 'int' ? 'an integer' : 'a number'}, got "${raw}"`,
        });
        continue;
      }
    }
    setPath(merged, v.path, value);
  }
  const parsed = Config.safeParse(merged);
  if (!parsed.success) issues.push(...fieldIssues(parsed.error.issues));
  if (issues.length > 0 || !parsed.success) {
    throw new CareflowError('ERR_CONFIG_INVALID', `Invalid configuration: ${describeIssues(issues)}`, issues);
  }
  return parsed.data;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
