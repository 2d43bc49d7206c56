import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Alert } from '../core/alerts.ts';
import { ManualClock } from '../core/clock.ts';
import { loadConfig, type ConfigInput } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { openStore, type Store } from '../core/store/store.ts';
import type { Detection } from '../core/streams.ts';
import { AlertService } from '../notifier/alert-service.ts';
import { buildApp } from './build-app.ts';
import type { HealthCheck } from './routes/health.ts';

/** Shared set-up for the API tests: a real SQLite file, a tiny registry, the real AlertService, the app. */
export const ADMIN_TOKEN = 'test-admin-token-123456';
export const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
export const HOUR = 3_600_000;
/** 2026-01-05 08:00 in Asia/Shanghai. */
export const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

export interface Fixture {
  app: FastifyInstance;
  store: Store;
  alerts: AlertService;
  clock: ManualClock;
  close(): Promise<void>;
}

export interface FixtureOptions {
  config?: ConfigInput;
  health?: HealthCheck;
  logger?: Logger;
}

export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'careflow-api-'));
  const store = openStore({ path: join(dir, 'careflow.db') });
  seedRegistry(store);
  const clock = new ManualClock(T0);
  const localTime = new LocalTime('Asia/Shanghai', 60);
  const alerts = new AlertService(store, clock, localTime, silentLogger);
  const config = loadConfig({}, opts.config ?? { adminToken: ADMIN_TOKEN });
  let app: FastifyInstance;
  try {
    app = await buildApp({
      config,
      store,
      alerts,
      clock,
      logger: opts.logger ?? silentLogger,
      ...(opts.health ? { health: opts.health } : {}),
    });
  } catch (err) {
    store.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    app,
    store,
    alerts,
    clock,
    close: async () => {
      await app.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function seedRegistry(store: Store): void {
  store.registry.upsertStreet('S1', 'Lishan Street');
  store.registry.upsertCommunity('C1', 'S1', 'Quanfu Community');
  store.registry.upsertGrid('G1', 'C1', 'Grid 1');
  store.registry.upsertGrid('G2', 'C1', 'Grid 2');
  store.registry.upsertWorker({
    id: 'w-li',
    name: 'Li Na',
    role: 'grid-worker',
    grids: ['G1'],
    secretHash: 'not-a-real-hash',
    phone: '13800000000',
  });
  store.registry.upsertHousehold({
    id: 'H1',
    gridCode: 'G1',
    address: 'Building 3, Unit 2, Room 101',
    livesAlone: true,
    elderly: true,
    awayUntil: null,
    notes: 'lives alone, 72',
  });
  store.registry.upsertHousehold({
    id: 'H2',
    gridCode: 'G2',
    address: 'Building 5, Unit 1, Room 302',
    livesAlone: false,
    elderly: false,
    awayUntil: null,
    notes: null,
  });
}

/** A realistic `opened` detection of the continuous-flow (leak) rule for `householdId`. */
export function leakDetection(
  householdId: string,
  at: number = T0,
  overrides: Partial<Detection> = {},
): Detection {
  const buckets = Array.from({ length: 24 }, () => 6.5);
  return {
    key: `${householdId}:continuous-flow:opened:${at}`,
    householdId,
    ruleId: 'continuous-flow',
    kind: 'opened',
    at,
    evidence: {
      windowStart: at - 24 * HOUR,
      windowEnd: at,
      buckets,
      totalLiters: 156,
      thresholds: { minLitersPerBucket: 1, windowMinutes: 1440 },
      ruleVersion: 1,
    },
    ruleType: 'sustained-high',
    severity: 'warning',
    audience: 'leak',
    autoResolve: true,
    ...overrides,
  };
}

/** Opens an alert through the real AlertService. */
export function openAlert(f: Fixture, detection: Detection): Alert {
  const alert = f.alerts.applyDetection(detection);
  if (!alert) throw new Error(`detection ${detection.key} opened no alert`);
  return alert;
}
