import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, testRegistry, type TestService } from './harness.ts';

/**
 * EMQX 5's HTTP authentication and authorisation hooks, over real HTTP against a real careflow with a real
 * registry in SQLite. No EMQX server runs here (none is packaged for Debian): the requests are the ones the
 * EMQX settings in the README make EMQX send.
 */
const SECRET = 'emqx-hook-secret-0123456789abcdef';
let svc: TestService;
let base: string;

beforeAll(async () => {
  svc = await startTestService({
    registry: testRegistry(2),
    config: {
      mqtt: {
        host: '127.0.0.1',
        port: 0,
        username: 'careflow',
        password: 'careflow-broker-secret',
        emqxHookSecret: SECRET,
      },
      http: { host: '127.0.0.1', port: 0, loginMaxFailures: 3 },
    },
  });
  base = `http://127.0.0.1:${svc.cf.httpPort}`;
});
afterAll(async () => svc?.dispose());

async function hook(path: 'authn' | 'authz', body: unknown, secret: string | null = SECRET) {
  const res = await fetch(`${base}/hooks/emqx/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret ? { 'x-careflow-hook-secret': secret } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const authn = async (username: string, password: string, peerhost = '10.0.0.7') =>
  (await hook('authn', { username, password, clientid: `${username}-1`, peerhost })).body.result;
const authz = async (username: string, action: string, topic: string) =>
  (await hook('authz', { username, clientid: `${username}-1`, topic, action })).body.result;

describe('EMQX HTTP authentication', () => {
  it("lets in meters, workers and careflow's own login with their secrets, nobody else", async () => {
    expect(await hook('authn', { username: 'm-g1-1', password: 'secret-m-g1-1', clientid: 'x' })).toEqual({
      status: 200,
      body: { result: 'allow', is_superuser: false },
    });
    expect(await authn('w-g2', 'secret-w-g2')).toBe('allow');
    expect(await authn('careflow', 'careflow-broker-secret')).toBe('allow');
    expect(await authn('m-g1-1', 'secret-m-g1-2')).toBe('deny');
    expect(await authn('careflow', 'wrong')).toBe('deny');
    expect(await authn('nobody', 'secret-m-g1-1')).toBe('deny');
    expect(await authn('m-g1-1', '')).toBe('deny');
  });

  it('limits failures per username like logins, also when they come at once, and keeps a known secret working', async () => {
    // loginMaxFailures = 3: of ten concurrent wrong guesses at most three are checked; then even the right
    // secret is denied for this username, which has never connected before (nothing to recognise it by).
    const guesses = await Promise.all(Array.from({ length: 10 }, () => authn('m-g2-1', 'guess')));
    expect(guesses.every((r) => r === 'deny')).toBe(true);
    expect(await authn('m-g2-1', 'secret-m-g2-1')).toBe('deny');
    // A device whose secret was verified before still gets in while its username is under attack.
    expect(await authn('m-g2-2', 'secret-m-g2-2')).toBe('allow');
    await Promise.all(Array.from({ length: 5 }, () => authn('m-g2-2', 'guess')));
    expect(await authn('m-g2-2', 'secret-m-g2-2')).toBe('allow');
    const metrics = await (
      await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } })
    ).text();
    expect(
      Number(/careflow_auth_failures_total\{channel="mqtt"\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(15);
  });

  it('refuses callers without the shared secret, and limits them too', async () => {
    expect((await hook('authn', { username: 'm-g1-1', password: 'secret-m-g1-1' }, null)).status).toBe(401);
    expect(
      (
        await hook(
          'authz',
          { username: 'm-g1-1', topic: 'meters/m-g1-1/readings', action: 'publish' },
          'wrong-secret-wrong-secret',
        )
      ).body,
    ).toMatchObject({ code: 'ERR_API_UNAUTHORIZED' });
    expect((await hook('authn', { username: 'm-g1-1', password: 'secret-m-g1-1' }, 'x')).status).toBe(401);
    expect((await hook('authn', { username: 'm-g1-1', password: 'secret-m-g1-1' }, 'y')).status).toBe(429);
  });
});

describe('EMQX HTTP authorisation', () => {
  it('holds meters, workers and careflow to the topics of the MQTT contract', async () => {
    expect(await authz('m-g1-1', 'publish', 'meters/m-g1-1/readings')).toBe('allow');
    expect(await authz('m-g1-1', 'publish', 'meters/m-g1-2/readings')).toBe('deny');
    expect(await authz('m-g1-1', 'subscribe', 'meters/m-g1-1/errors')).toBe('allow');
    expect(await authz('m-g1-1', 'subscribe', 'meters/+/errors')).toBe('deny');
    expect(await authz('m-g1-1', 'subscribe', 'workers/w-g1/alerts')).toBe('deny');
    expect(await authz('w-g1', 'subscribe', 'workers/w-g1/alerts')).toBe('allow');
    expect(await authz('w-g1', 'subscribe', 'workers/w-g2/alerts')).toBe('deny');
    expect(await authz('w-g1', 'subscribe', 'workers/#')).toBe('deny');
    expect(await authz('w-g1', 'publish', 'workers/w-g1/alerts/a-1/ack')).toBe('allow');
    expect(await authz('w-g1', 'publish', 'workers/w-g2/alerts/a-1/ack')).toBe('deny');
    expect(await authz('w-g1', 'publish', 'workers/w-g1/received')).toBe('allow');
    expect(await authz('w-g1', 'publish', 'workers/w-g2/received')).toBe('deny');
    expect(await authz('w-g1', 'publish', 'workers/+/received')).toBe('deny');
    expect(await authz('careflow', 'subscribe', '$share/careflow/workers/+/received')).toBe('allow');
    expect(await authz('w-g1', 'publish', 'meters/m-g1-1/readings')).toBe('deny');
    expect(await authz('careflow', 'subscribe', '$share/careflow/meters/+/readings')).toBe('allow');
    expect(await authz('careflow', 'subscribe', '$share/careflow/workers/+/alerts/+/ack')).toBe('allow');
    expect(await authz('careflow', 'publish', 'workers/w-g1/alerts')).toBe('allow');
    expect(await authz('careflow', 'publish', 'meters/m-g1-1/errors')).toBe('allow');
    expect(await authz('careflow', 'publish', 'meters/m-g1-1/readings')).toBe('deny');
    expect(await authz('careflow', 'subscribe', '#')).toBe('deny');
    expect(await authz('stranger', 'subscribe', 'meters/m-g1-1/errors')).toBe('deny');
    expect(await authz('m-g1-1', 'all', 'meters/m-g1-1/readings')).toBe('deny');
  });

  it('answers a malformed request with 400 and the field', async () => {
    const res = await hook('authz', {
      username: 'm-g1-1',
      topic: 'meters/m-g1-1/readings',
      action: 'delete',
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'ERR_API_VALIDATION', issues: [{ path: 'action' }] });
  });
});
