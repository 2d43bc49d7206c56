import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../core/config.ts';
import { escalationRegistry, PASSWORD } from './delivery-harness.ts';
import { ADMIN_TOKEN, startTestService, type TestService } from './harness.ts';

/**
 * Issue 12, defect 2: the login limit must hold under concurrency (each attempt reserves its place before
 * the password is checked), bad logins must not starve device CONNECTs, and `/api` has a per-address limit.
 */
const services: TestService[] = [];
afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.dispose();
});

async function service(config: ConfigInput = {}) {
  const svc = await startTestService({ registry: escalationRegistry(), config });
  services.push(svc);
  return svc;
}

/** `careflow_secret_checks_total{kind}` from /metrics over real HTTP. */
async function secretChecks(svc: TestService, kind: 'person' | 'device'): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${svc.cf.httpPort}/metrics`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  const line = (await res.text())
    .split('\n')
    .find((l) => l.startsWith(`careflow_secret_checks_total{kind="${kind}"}`));
  return Number(line?.split(' ')[1]);
}

function login(svc: TestService, id: string, password: string) {
  return fetch(`http://127.0.0.1:${svc.cf.httpPort}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, password }),
  });
}

describe('login limits under concurrency', () => {
  it('300 concurrent logins for one account check 5 passwords; the right one at position 45 is refused until the window passes', async () => {
    const svc = await service();
    const before = await secretChecks(svc, 'person');
    const attempts = Array.from({ length: 300 }, (_, i) => (i === 45 ? PASSWORD : `wrong-${i}`));
    const responses = await Promise.all(attempts.map((p) => login(svc, 'w-g1', p)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(295);
    expect(statuses[45]).toBe(429);
    expect(await secretChecks(svc, 'person')).toBe(before + 5);
    const refused = responses.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ code: 'ERR_API_RATE_LIMITED' });

    expect((await login(svc, 'w-g1', PASSWORD)).status).toBe(429);
    svc.clock.advance(14 * 60_000);
    expect((await login(svc, 'w-g1', PASSWORD)).status).toBe(429);
    svc.clock.advance(61_000); // the 15-minute window has passed
    expect((await login(svc, 'w-g1', PASSWORD)).status).toBe(200);
  });

  it('300 concurrent logins over many accounts from one address check at most 20 passwords; a meter still connects', async () => {
    const svc = await service();
    const before = await secretChecks(svc, 'person');
    const ids = ['w-g1', 'w-g2', 'l-g1', 'cs-c1', 'ss-s1', 'nobody-1', 'nobody-2', 'nobody-3'];
    const burst = Promise.all(
      Array.from({ length: 300 }, (_, i) => login(svc, ids[i % ids.length]!, `wrong-${i}`)),
    );
    // During the burst a meter's CONNECT is checked on its own queue and gets in (its time: bench:security).
    const meter = await mqtt.connectAsync(svc.mqttUrl, {
      clientId: 'm-h-g1-1',
      username: 'm-h-g1-1',
      password: 'secret-m-h-g1-1',
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    });
    expect(meter.connected).toBe(true);
    await meter.endAsync();
    const statuses = (await burst).map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(20);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThan(0);
    expect(await secretChecks(svc, 'person')).toBeLessThanOrEqual(before + 20);
    // Unknown ids are checked too (against a dummy hash): they use up the same allowance as real ones.
    expect(
      svc.cf.store.audit.list({ action: 'login.failed' }).some((e) => e.actor.startsWith('nobody-')),
    ).toBe(true);
  });

  it('limits /api requests per address (loopback exempt by default) with ERR_API_RATE_LIMITED', async () => {
    const svc = await service({ http: { host: '127.0.0.1', port: 0, rateLimitPerMinute: 5 } });
    const key = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { name: 'dashboard', role: 'admin' },
    });
    const token = (key.json() as { key: string }).key;
    const call = (remoteAddress: string, bearer = token) =>
      svc.cf.http.inject({
        method: 'GET',
        url: '/api/alerts',
        remoteAddress,
        headers: { authorization: `Bearer ${bearer}` },
      });
    for (let i = 0; i < 5; i++) expect((await call('203.0.113.7')).statusCode).toBe(200);
    const over = await call('203.0.113.7');
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ code: 'ERR_API_RATE_LIMITED' });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // Another address, and loopback (CLI, simulate, replay), are not affected.
    expect((await call('203.0.113.8')).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) expect((await call('127.0.0.1')).statusCode).toBe(200);
    // The admin token (the tools' token) is not limited.
    expect((await call('203.0.113.7', ADMIN_TOKEN)).statusCode).toBe(200);
    // Bad tokens count too: the limit runs before authentication.
    const anonymous = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/alerts',
      remoteAddress: '203.0.113.7',
    });
    expect(anonymous.statusCode).toBe(429);
  });
});
