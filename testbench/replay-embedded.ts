import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../core/clock.ts';
import { loadConfig, type ConfigInput } from '../core/config.ts';
import { silentLogger, createLogger } from '../core/logger.ts';
import type { RegistryInput } from '../core/registry.ts';
import { importRegistry } from '../core/registry-import.ts';
import {
  toReplayAlert,
  type ReplayAlertDetail,
  type ReplayTarget,
  type ServiceIngestCounts,
} from './replay-target.ts';
import { startCareflow, type Careflow } from '../app/start-careflow.ts';

/** Processing settings a user may set for an embedded replay; ports, data dir and clock are the replay's. */
const PASSED_ENV = [
  'CAREFLOW_CONFIG',
  'CAREFLOW_TIMEZONE',
  'CAREFLOW_BUCKET_MINUTES',
  'CAREFLOW_MAX_GAP_MINUTES',
  'CAREFLOW_MAX_FLOW_LITERS_PER_HOUR',
  'CAREFLOW_TICK_INTERVAL_MS',
  'CAREFLOW_LOG_LEVEL',
];

export interface EmbeddedTargetOptions {
  /** Where the embedded service keeps its SQLite file; default a temp dir removed at the end. */
  dataDir?: string;
  /** Bucketing zone unless CAREFLOW_TIMEZONE says otherwise (the recording's zone). */
  timeZone?: string;
  /** Simulated time the service starts at (a step boundary at or before the first reading). */
  startAt: number;
  /** How often wall-clock rules are checked, in simulated time: the replay's step (at most an hour). */
  tickIntervalMs: number;
  /** Registered before the replay starts (auto-registered or a registry file). */
  registry?: RegistryInput;
  env?: NodeJS.ProcessEnv;
}

/**
 * The service a replay starts for itself: the whole careflow in this process on loopback ephemeral ports,
 * a ManualClock the replay moves directly, `synchronous=NORMAL` (a throw-away data dir), wall-clock rules
 * checked once per replay step, on step boundaries.
 */
export class EmbeddedTarget implements ReplayTarget {
  readonly mode = 'embedded';

  private constructor(
    readonly cf: Careflow,
    readonly clock: ManualClock,
    readonly dataDir: string,
    private readonly ownsDir: boolean,
  ) {}

  static async start(opts: EmbeddedTargetOptions): Promise<EmbeddedTarget> {
    const env = opts.env ?? process.env;
    const passed = Object.fromEntries(PASSED_ENV.filter((k) => env[k] !== undefined).map((k) => [k, env[k]]));
    const ownsDir = opts.dataDir === undefined;
    const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'careflow-replay-'));
    const overrides: ConfigInput = {
      dataDir,
      clock: 'manual',
      logLevel: 'silent',
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      store: { synchronous: 'NORMAL' },
      detectors: { tickIntervalMs: Math.min(opts.tickIntervalMs, 3_600_000) },
      ...(opts.timeZone === undefined ? {} : { timezone: opts.timeZone }),
    };
    try {
      const config = loadConfig(passed, overrides);
      const clock = new ManualClock(opts.startAt);
      const logger =
        config.logLevel === 'silent' ? silentLogger : createLogger(config.logLevel, process.stderr);
      const cf = await startCareflow(config, { clock, logger, listenHttp: false });
      const target = new EmbeddedTarget(cf, clock, dataDir, ownsDir);
      if (opts.registry) {
        try {
          await importRegistry(cf.store, opts.registry);
        } catch (err) {
          await target.stop();
          throw err;
        }
      }
      return target;
    } catch (err) {
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  get mqttUrl(): string {
    return `mqtt://127.0.0.1:${this.cf.mqttPort}`;
  }

  async now(): Promise<number> {
    return this.clock.now();
  }

  async advanceClock(t: number): Promise<void> {
    if (t > this.clock.now()) this.clock.advanceTo(t);
  }

  async waitUntilUp(): Promise<void> {}

  async alerts(householdIds: readonly string[]): Promise<ReplayAlertDetail[]> {
    const store = this.cf.store;
    return householdIds.flatMap((id) =>
      store.alerts
        .list({ householdId: id, limit: 10_000 })
        .map((a) => toReplayAlert(a, store.alerts.timeline(a.id))),
    );
  }

  async ingestCounts(): Promise<ServiceIngestCounts> {
    return {
      normalizer: this.cf.ingest.stats().normalizer,
      deadLetters: this.cf.store.deadLetters.countsByCode(),
    };
  }

  async stop(): Promise<void> {
    await this.cf.stop();
    if (this.ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
