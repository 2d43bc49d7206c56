import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importRegistry } from '../core/registry-import.ts';
import type { RegistryInput } from '../core/registry.ts';
import { openStore } from '../core/store/store.ts';
import {
  ADMIN_TOKEN,
  connectClient,
  eventually,
  HOUR,
  settle,
  startTestService,
  T0,
  testRegistry,
  type TestService,
} from './harness.ts';

/**
 * `careflow import` into a running service: another process writes the registry while meters report.
 * Ingest must follow within about a second — a moved meter's water goes to its new household, a retired
 * meter is refused — without a restart.
 */
let svc: TestService;
let meter: MqttClient;
let other: MqttClient;
let total = 100;

/** Imports through a connection of its own, as the `careflow import` command does from another process. */
async function importElsewhere(registry: RegistryInput) {
  const elsewhere = openStore({ path: join(svc.dataDir, 'careflow.db') });
  try {
    await importRegistry(elsewhere, registry);
  } finally {
    elsewhere.close();
  }
}

/** One reading an hour after the last; resolves when the service has taken it in (accepted or refused). */
async function report(at: number): Promise<void> {
  svc.clock.advanceTo(at);
  total += 5;
  await meter.publishAsync('meters/m-g1-1/readings', JSON.stringify({ ts: at, totalLiters: total }), {
    qos: 1,
  });
  await settle(50);
}

beforeAll(async () => {
  svc = await startTestService({ registry: testRegistry(2) });
  meter = await connectClient(svc.mqttUrl, 'm-g1-1', 'secret-m-g1-1');
  other = await connectClient(svc.mqttUrl, 'm-g1-2', 'secret-m-g1-2');
});

afterAll(async () => {
  await meter?.endAsync(true);
  await other?.endAsync(true);
  await svc?.dispose();
});

describe('registry changes while the service runs', () => {
  it('follows a meter moved to another household, and refuses it once it is retired', async () => {
    await report(T0);
    await report(T0 + HOUR);
    expect(svc.cf.store.usage.range('h-g1-1', T0, T0 + HOUR).map((b) => b.liters)).toEqual([5]);

    // The meter is fitted in h-g2-2 instead (its old meter retires).
    await importElsewhere({ meters: [{ id: 'm-g1-1', household: 'h-g2-2', secret: 'secret-m-g1-1' }] });
    await settle(1_100);
    await report(T0 + 2 * HOUR);
    await report(T0 + 3 * HOUR);
    await eventually(
      () => svc.cf.store.usage.range('h-g2-2', T0, T0 + 4 * HOUR).length > 0,
      3_000,
      'usage of h-g2-2',
    );
    expect(svc.cf.store.usage.range('h-g1-1', T0 + 2 * HOUR, T0 + 4 * HOUR)).toEqual([]);

    // h-g2-2 gets a replacement meter: m-g1-1 is retired and refused.
    await importElsewhere({ meters: [{ id: 'm-new', household: 'h-g2-2', secret: 'secret-m-new-0001' }] });
    await settle(1_100);
    const before = svc.cf.store.inbox.countForMeter('m-g1-1');
    await report(T0 + 4 * HOUR);
    await eventually(
      () =>
        svc.cf.store.deadLetters
          .list({ meterId: 'm-g1-1' })
          .some((d) => d.code === 'ERR_INGEST_UNKNOWN_METER'),
      3_000,
      'the retired meter refused',
    );
    expect(svc.cf.store.inbox.countForMeter('m-g1-1')).toBe(before);
  });

  it('applies the rules of the grid a household moved to', async () => {
    // Grid g2 trials a heavy-use bar of 4 L an hour; h-g1-2 uses 5 L an hour.
    const put = await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/rules/grid/g2',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { rules: { 'heavy-use': { params: { minLitersPerBucket: 4 } } }, reason: 'trial' },
    });
    expect(put.statusCode).toBe(200);
    const start = T0 + 6 * HOUR;
    let register = 0;
    const use = async (from: number, hours: number) => {
      for (let k = 0; k < hours; k++) {
        svc.clock.advanceTo(from + k * HOUR);
        register += k === 0 && from === start ? 0 : 5;
        await other.publishAsync(
          'meters/m-g1-2/readings',
          JSON.stringify({ ts: from + k * HOUR, totalLiters: register }),
          { qos: 1 },
        );
        await settle(50);
      }
    };
    await use(start, 4);
    const heavy = () =>
      svc.cf.store.alerts.list({ householdId: 'h-g1-2' }).filter((a) => a.ruleId === 'heavy-use');
    expect(heavy()).toEqual([]);

    await importElsewhere({ households: [{ id: 'h-g1-2', grid: 'g2', address: 'g2 楼 9 号' }] });
    await use(start + 4 * HOUR, 3); // the clock's ticks (every minute) notice the change
    await eventually(() => heavy().length === 1, 3_000, 'heavy-use under g2’s bar');
    expect(heavy()[0]!.evidence).toMatchObject({ thresholds: { minLitersPerBucket: 4 } });
  });

  it('takes an away mark from an import, without a restart', async () => {
    const away = await connectClient(svc.mqttUrl, 'm-g2-1', 'secret-m-g2-1');
    try {
      const start = T0 + 16 * HOUR;
      svc.clock.advanceTo(start);
      await importElsewhere({
        households: [
          {
            id: 'h-g2-1',
            grid: 'g2',
            address: 'g2 楼 1 号',
            awayUntil: new Date(start + 7 * 24 * HOUR).toISOString(),
          },
        ],
      });
      // 27 hours without water: low-use (24 h under 10 L) if the household were not away.
      for (let k = 0; k <= 27; k++) {
        svc.clock.advanceTo(start + k * HOUR);
        await away.publishAsync(
          'meters/m-g2-1/readings',
          JSON.stringify({ ts: start + k * HOUR, totalLiters: 50 }),
          {
            qos: 1,
          },
        );
        await settle(20);
      }
      await settle(200);
      expect(svc.cf.store.usage.range('h-g2-1', start, start + 27 * HOUR).length).toBe(27);
      expect(
        svc.cf.store.alerts.list({ householdId: 'h-g2-1' }).filter((a) => a.audience === 'welfare'),
      ).toEqual([]);
    } finally {
      await away.endAsync(true);
    }
  });
});
