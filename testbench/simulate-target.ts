import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../core/clock.ts';
import { loadConfig, type ConfigInput } from '../core/config.ts';
import { CareflowError } from '../core/errors.ts';
import { silentLogger } from '../core/logger.ts';
import type { RegistryInput } from '../core/registry.ts';
import { importRegistry } from '../core/registry-import.ts';
import { openStore } from '../core/store/store.ts';
import { SimulationApi } from './simulate-api.ts';
import { startCareflow, type Careflow } from '../app/start-careflow.ts';

/**
 * The careflow a simulation runs against: embedded (started here on a manual clock, like testbench/lockstep.ts)
 * or a running service (`CAREFLOW_CLOCK=manual`, its time moved by `POST /api/clock`). Either way the
 * meters publish over real MQTT and the results are read over the HTTP API.
 */
export interface SimulationTarget {
  readonly kind: 'embedded' | 'remote';
  readonly mqttUrl: string;
  readonly api: SimulationApi;
  /** Moves the service's clock (timers such as meter-silent fire on the way). */
  advanceTo(t: number): Promise<void>;
  /** Marks a household away (the API route, else the registry for an embedded service). */
  markAway(id: string, until: number, reason: string): Promise<'api' | 'registry' | 'not-applied'>;
  /** Waits until queued alert messages have gone out (best effort). */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedTargetOptions {
  registry: RegistryInput;
  start: number;
  /** Data dir to keep (default: a temporary one, removed on stop). */
  dataDir?: string;
  config?: ConfigInput;
}

export async function startEmbeddedTarget(opts: EmbeddedTargetOptions): Promise<SimulationTarget> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'careflow-simulate-'));
  mkdirSync(dataDir, { recursive: true });
  const clock = new ManualClock(opts.start);
  const config = loadConfig(
    {},
    {
      dataDir,
      logLevel: 'silent',
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      store: { synchronous: 'NORMAL' },
      detectors: { tickIntervalMs: 5 * 60_000 },
      ...opts.config,
    },
  );
  let cf: Careflow | undefined;
  try {
    // The registry goes in before the service starts, as `careflow import` would: the detectors read who
    // is away (vacant flats) when they start.
    const store = openStore({ path: join(dataDir, 'careflow.db'), synchronous: 'NORMAL' });
    try {
      await importRegistry(store, opts.registry);
    } finally {
      store.close();
    }
    cf = await startCareflow(config, { clock, logger: silentLogger });
  } catch (err) {
    await cf?.stop();
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const service = cf;
  const api = new SimulationApi(`http://127.0.0.1:${service.httpPort}`, service.adminToken);
  const households = new Map((opts.registry.households ?? []).map((h) => [h.id, h]));
  return {
    kind: 'embedded',
    mqttUrl: `mqtt://127.0.0.1:${service.mqttPort}`,
    api,
    async advanceTo(t) {
      if (t > clock.now()) clock.advanceTo(t);
    },
    async markAway(id, until, reason) {
      if (await api.markAway(id, until, reason)) return 'api';
      const h = households.get(id);
      if (!h) return 'not-applied';
      await importRegistry(service.store, {
        households: [{ ...h, awayUntil: new Date(until).toISOString() }],
      });
      return 'registry';
    },
    async drain() {
      const deadline = Date.now() + 5_000;
      while (service.store.outbox.pendingCount() > 0 && Date.now() < deadline) await sleep(20);
      await sleep(50);
    },
    async stop() {
      await service.stop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RemoteTargetOptions {
  mqttUrl: string;
  httpUrl: string;
  token: string;
  start: number;
  /** A household the simulation expects in the service's registry (checked before starting). */
  someHouseholdId: string;
}

export async function connectRemoteTarget(opts: RemoteTargetOptions): Promise<SimulationTarget> {
  const api = new SimulationApi(opts.httpUrl.replace(/\/$/, ''), opts.token);
  const clock = await api.clock();
  const fail = (message: string) => new CareflowError('ERR_SIMULATION_TARGET', message);
  if (clock.mode !== 'manual')
    throw fail('the service runs on the system clock: start it with CAREFLOW_CLOCK=manual');
  if (clock.now > opts.start) {
    throw fail(
      `the service's clock (${new Date(clock.now).toISOString()}) is past the simulation's start ` +
        `(${new Date(opts.start).toISOString()}): use a fresh data dir or a later --start`,
    );
  }
  if (!(await api.householdExists(opts.someHouseholdId))) {
    throw fail(
      `household ${opts.someHouseholdId} is not registered: careflow import the registry written by --write-registry first`,
    );
  }
  await api.moveClock(opts.start);
  return {
    kind: 'remote',
    mqttUrl: opts.mqttUrl,
    api,
    advanceTo: (t) => api.moveClock(t),
    async markAway(id, until, reason) {
      return (await api.markAway(id, until, reason)) ? 'api' : 'not-applied';
    },
    drain: () => sleep(200),
    async stop() {},
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
