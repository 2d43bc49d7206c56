import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../core/store/store.ts';
import { ADMIN_TOKEN, startTestService, testRegistry, type TestService } from './harness.ts';
import { rawConnect } from './raw-connect.ts';

/**
 * Issue 12, defect 3: wrong-secret CONNECTs are throttled per address and per id (reserved before the scrypt,
 * so a concurrent flood costs at most the allowance), unknown ids are treated exactly like known ones, a
 * device that already proved its secret still gets in, and refusals are counted and summarised.
 */
const services: TestService[] = [];
afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.dispose();
});

async function service() {
  const svc = await startTestService({
    registry: testRegistry(3),
    config: {
      mqtt: { host: '127.0.0.1', port: 0, authFailuresPerAddress: 6, authFailuresPerId: 4 },
    },
  });
  services.push(svc);
  return svc;
}

/** The value of one sample line (`name{labels} value`) of the exposition. */
function metric(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return Number(line?.split(' ').at(-1));
}

async function metrics(svc: TestService): Promise<string> {
  const res = await svc.cf.http.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return res.body;
}

const deviceChecks = async (svc: TestService) =>
  metric(await metrics(svc), 'careflow_secret_checks_total{kind="device"}');

function flood(svc: TestService, n: number, username: string, localAddress: string) {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      rawConnect({
        port: svc.cf.mqttPort,
        clientId: `${username}-x${i}`,
        username,
        password: `wrong-${i}`,
        localAddress,
      }),
    ),
  );
}

describe('CONNECT throttling', () => {
  it('a concurrent flood against one id checks at most the id allowance; the rest are refused unchecked', async () => {
    const svc = await service();
    const before = await deviceChecks(svc);
    const results = await flood(svc, 60, 'm-g1-1', '127.0.0.2');
    const codes = results.map((r) => r.returnCode);
    expect(codes.filter((c) => c === 4)).toHaveLength(4); // bad credentials, checked
    expect(codes.filter((c) => c === 3)).toHaveLength(56); // throttled (server unavailable), not checked
    expect((await deviceChecks(svc)) - before).toBe(4);

    // Another id from another address is not affected; the same address is now close to its own limit.
    const other = await rawConnect({
      port: svc.cf.mqttPort,
      clientId: 'm-g1-2',
      username: 'm-g1-2',
      password: 'secret-m-g1-2',
      localAddress: '127.0.0.3',
    });
    expect(other.returnCode).toBe(0);
  });

  it('an unknown id is throttled and checked exactly like a known one (nothing to enumerate)', async () => {
    const svc = await service();
    const c0 = await deviceChecks(svc);
    const known = (await flood(svc, 30, 'm-g2-1', '127.0.0.4')).map((r) => r.returnCode).sort();
    const c1 = await deviceChecks(svc);
    const unknown = (await flood(svc, 30, 'm-g9-9', '127.0.0.5')).map((r) => r.returnCode).sort();
    const c2 = await deviceChecks(svc);
    expect(unknown).toEqual(known);
    expect(c2 - c1).toBe(c1 - c0);
    expect(c1 - c0).toBe(4);
  });

  it('a per-address flood over many ids stops at the address allowance', async () => {
    const svc = await service();
    const before = await deviceChecks(svc);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        rawConnect({
          port: svc.cf.mqttPort,
          clientId: `probe-${i}`,
          username: `id-${i}`,
          password: 'guess',
          localAddress: '127.0.0.6',
        }),
      ),
    );
    expect(results.filter((r) => r.returnCode === 4)).toHaveLength(6);
    expect((await deviceChecks(svc)) - before).toBe(6);
  });

  it('a meter that proved its secret since start still connects while its id is under attack', async () => {
    const svc = await service();
    const connect = () =>
      mqtt.connectAsync(svc.mqttUrl, {
        clientId: 'm-g1-3',
        username: 'm-g1-3',
        password: 'secret-m-g1-3',
        reconnectPeriod: 0,
        connectTimeout: 5_000,
      });
    await (await connect()).endAsync();
    await flood(svc, 30, 'm-g1-3', '127.0.0.7');
    const again = await connect();
    expect(again.connected).toBe(true);
    await again.endAsync();
  });

  it('counts refusals by reason in /metrics and writes a summary, not one audit entry per attempt', async () => {
    const svc = await service();
    await flood(svc, 50, 'm-g2-2', '127.0.0.8');
    const text = await metrics(svc);
    expect(metric(text, 'careflow_mqtt_connect_refused_total{reason="bad-credentials"}')).toBe(4);
    expect(metric(text, 'careflow_mqtt_connect_refused_total{reason="throttled"}')).toBe(46);
    const during = svc.cf.store.audit.list({ action: 'mqtt.connect.refused' });
    expect(during.length).toBeLessThanOrEqual(2); // the first of each reason from the address
    await svc.stop(); // flushes the window's summary
    const store = openStore({ path: join(svc.dataDir, 'careflow.db') });
    try {
      const entries = store.audit.list({ action: 'mqtt.connect.refused' });
      expect(entries.length).toBeLessThanOrEqual(4);
      const total = entries.reduce((n, e) => n + Number(e.detail.count), 0);
      expect(total).toBe(50);
      expect(entries.every((e) => e.ip === '127.0.0.8')).toBe(true);
      expect(JSON.stringify(entries)).not.toContain('wrong-');
    } finally {
      store.close();
    }
  });
});
