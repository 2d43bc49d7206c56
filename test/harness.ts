import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startCareflow, type Careflow } from '../app/start-careflow.ts';
import { ManualClock } from '../core/clock.ts';
import { loadConfig, type ConfigInput } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';
import type { RegistryInput } from '../core/registry.ts';
import { importRegistry } from '../core/registry-import.ts';
import { openStore } from '../core/store/store.ts';

/** 2026-01-05 00:00 in Asia/Shanghai (a Monday). */
export const T0 = Date.UTC(2026, 0, 4, 16);
export const HOUR = 3_600_000;
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestService {
  cf: Careflow;
  clock: ManualClock;
  dataDir: string;
  mqttUrl: string;
  /** Stops the service (orderly) but keeps the data dir. */
  stop(): Promise<void>;
  /** Stops everything and removes the data dir. */
  dispose(): Promise<void>;
}

/** A small registry: two grids with one worker each, `perGrid` households each with a meter. */
export function testRegistry(perGrid = 3): RegistryInput {
  const grids = ['g1', 'g2'];
  return {
    streets: [{ code: 's1', name: 'Test Street' }],
    communities: [{ code: 'c1', street: 's1', name: 'Test Community' }],
    grids: grids.map((g) => ({ code: g, community: 'c1', name: `Grid ${g}` })),
    workers: grids.map((g) => ({
      id: `w-${g}`,
      name: `Worker ${g}`,
      role: 'grid-worker' as const,
      grids: [g],
      secret: `secret-w-${g}`,
    })),
    households: grids.flatMap((g) =>
      Array.from({ length: perGrid }, (_, i) => ({
        id: `h-${g}-${i + 1}`,
        grid: g,
        address: `${g} 楼 ${i + 1} 号`,
      })),
    ),
    meters: grids.flatMap((g) =>
      Array.from({ length: perGrid }, (_, i) => ({
        id: `m-${g}-${i + 1}`,
        household: `h-${g}-${i + 1}`,
        secret: `secret-m-${g}-${i + 1}`,
      })),
    ),
  };
}

export async function seedRegistry(dataDir: string, registry: RegistryInput): Promise<void> {
  const store = openStore({ path: join(dataDir, 'careflow.db') });
  try {
    await importRegistry(store, registry);
  } finally {
    store.close();
  }
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'careflow-test-'));
}

/** Starts the real service on ephemeral ports with a manual clock and a real SQLite file. */
export async function startTestService(
  opts: { dataDir?: string; registry?: RegistryInput; config?: ConfigInput; clock?: ManualClock } = {},
): Promise<TestService> {
  const dataDir = opts.dataDir ?? tempDataDir();
  if (opts.registry) await seedRegistry(dataDir, opts.registry);
  const clock = opts.clock ?? new ManualClock(T0);
  const config = loadConfig(
    {},
    {
      dataDir,
      adminToken: ADMIN_TOKEN,
      logLevel: 'silent',
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      store: { synchronous: 'NORMAL' },
      ...opts.config,
    },
  );
  const cf = await startCareflow(config, { clock, logger: silentLogger });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await cf.stop();
  };
  return {
    cf,
    clock,
    dataDir,
    mqttUrl: `mqtt://127.0.0.1:${cf.mqttPort}`,
    stop,
    async dispose() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function connectClient(
  url: string,
  username: string,
  password: string,
  clean = true,
): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    clientId: `${username}-${Math.random().toString(16).slice(2, 8)}`,
    username,
    password,
    clean,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  });
}

/** A worker app: subscribes to its alert topic and collects every message. */
export async function connectWorker(url: string, workerId: string, secret: string) {
  const client = await connectClient(url, workerId, secret);
  const messages: Record<string, unknown>[] = [];
  client.on('message', (_topic, payload) =>
    messages.push(JSON.parse(payload.toString()) as Record<string, unknown>),
  );
  await client.subscribeAsync(`workers/${workerId}/alerts`, { qos: 1 });
  return { client, messages };
}

/** Lets queued I/O (PUBACKs, deliveries) run. */
export async function settle(ms = 20): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Waits until `check` returns true, polling; fails after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await settle(10);
  }
}
