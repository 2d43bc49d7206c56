import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../core/logger.ts';
import { ADMIN_TOKEN, AUTH, leakDetection, openAlert, startFixture, type Fixture } from './test-fixture.ts';

const JSON_HEADERS = { ...AUTH, 'content-type': 'application/json' };

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

async function start(opts: Parameters<typeof startFixture>[0] = {}): Promise<Fixture> {
  f = await startFixture(opts);
  return f;
}

describe('GET /healthz', () => {
  it('answers 200 ok without a token while the store is open', async () => {
    const { app } = await start();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', checks: { store: 'ok' } });
  });

  it('answers 503 degraded with the checks of an injected health function', async () => {
    const { app } = await start({ health: () => ({ ok: false, checks: { broker: 'down' } }) });
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'degraded', checks: { broker: 'down' } });
  });

  it('answers 503 degraded when the health function throws', async () => {
    const { app } = await start({
      health: () => {
        throw new Error('boom');
      },
    });
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'degraded', checks: { health: 'check failed' } });
  });
});

describe('authentication of /api', () => {
  it('refuses a request without a token with 401 ERR_API_UNAUTHORIZED and a Bearer challenge', async () => {
    const { app } = await start();
    const res = await app.inject({ method: 'GET', url: '/api/alerts' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.json()).toMatchObject({ code: 'ERR_API_UNAUTHORIZED' });
  });

  it('refuses a wrong token, a token of another length and another scheme with 401', async () => {
    const { app } = await start();
    for (const authorization of [
      'Bearer test-admin-token-123457',
      'Bearer short',
      `Basic ${ADMIN_TOKEN}`,
      ADMIN_TOKEN,
      `Bearer ${ADMIN_TOKEN} extra`,
    ]) {
      const res = await app.inject({ method: 'GET', url: '/api/alerts', headers: { authorization } });
      expect(res.statusCode, authorization).toBe(401);
      expect(res.json().code).toBe('ERR_API_UNAUTHORIZED');
    }
  });

  it('admits the admin token, with the scheme in any case', async () => {
    const { app } = await start();
    const res = await app.inject({
      method: 'GET',
      url: '/api/alerts',
      headers: { authorization: `bearer ${ADMIN_TOKEN}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({ alerts: [], next: null });
  });

  it('accepts no admin token when none is configured', async () => {
    const { app } = await start({ config: {} });
    const res = await app.inject({ method: 'GET', url: '/api/alerts', headers: AUTH });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'ERR_API_UNAUTHORIZED' });
  });

  it('authenticates unknown /api routes and percent-encoded paths before routing them', async () => {
    const { app } = await start();
    const unknown = await app.inject({ method: 'GET', url: '/api/nope' });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().code).toBe('ERR_API_UNAUTHORIZED');
    const encoded = await app.inject({ method: 'GET', url: '/%61pi/alerts' });
    expect(encoded.statusCode).toBe(401);
    expect(encoded.json().code).toBe('ERR_API_UNAUTHORIZED');
  });

  it('never writes the Authorization header to the log', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const { app } = await start({ logger: createLogger('trace', sink) });
    await app.inject({ method: 'GET', url: '/api/alerts', headers: AUTH });
    await app.inject({
      method: 'GET',
      url: '/api/alerts',
      headers: { authorization: 'Bearer wrong-token-abcdefgh' },
    });
    expect(lines.some((l) => l.includes('/api/alerts'))).toBe(true);
    expect(lines.join('\n')).not.toContain(ADMIN_TOKEN);
    expect(lines.join('\n')).not.toContain('wrong-token-abcdefgh');
  });
});

describe('errors', () => {
  it('answers an unknown route with 404 ERR_API_NOT_FOUND, inside and outside /api', async () => {
    const { app } = await start();
    for (const url of ['/nope', '/api/nope']) {
      const res = await app.inject({ method: 'GET', url, headers: AUTH });
      expect(res.statusCode, url).toBe(404);
      expect(res.json(), url).toEqual({ code: 'ERR_API_NOT_FOUND', message: 'No such route' });
    }
  });

  it('answers a body that is not JSON with 400 ERR_API_BAD_JSON', async () => {
    const fx = await start();
    const alert = openAlert(fx, leakDetection('H1'));
    const res = await fx.app.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/resolve`,
      headers: JSON_HEADERS,
      payload: '{"outcome": "other",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_API_BAD_JSON');
    expect(fx.store.alerts.get(alert.id)?.state).toBe('open');
  });

  it('answers an empty body declared as JSON with 400 ERR_API_BAD_JSON', async () => {
    const fx = await start();
    const alert = openAlert(fx, leakDetection('H1'));
    const res = await fx.app.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/ack`,
      headers: JSON_HEADERS,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_API_BAD_JSON');
  });

  it('refuses __proto__ and constructor.prototype keys with 400 ERR_API_BAD_JSON and pollutes nothing', async () => {
    const fx = await start();
    const alert = openAlert(fx, leakDetection('H1'));
    for (const payload of [
      '{"outcome":"other","__proto__":{"polluted":true}}',
      '{"outcome":"other","note":{"a":{"__proto__":{"polluted":true}}}}',
      '{"outcome":"other","constructor":{"prototype":{"polluted":true}}}',
    ]) {
      const res = await fx.app.inject({
        method: 'POST',
        url: `/api/alerts/${alert.id}/resolve`,
        headers: JSON_HEADERS,
        payload,
      });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().code, payload).toBe('ERR_API_BAD_JSON');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(fx.store.alerts.get(alert.id)?.state).toBe('open');
  });

  it('answers a body over http.bodyLimitBytes with 413 ERR_API_BODY_TOO_LARGE', async () => {
    const fx = await start({ config: { adminToken: ADMIN_TOKEN, http: { bodyLimitBytes: 4096 } } });
    const alert = openAlert(fx, leakDetection('H1'));
    const res = await fx.app.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/resolve`,
      headers: JSON_HEADERS,
      payload: JSON.stringify({ outcome: 'other', note: 'x'.repeat(5000) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({
      code: 'ERR_API_BODY_TOO_LARGE',
      message: 'The request body is larger than 4096 bytes',
    });
    expect(fx.store.alerts.get(alert.id)?.state).toBe('open');
  });

  it('refuses a huge string under the body limit with 400 naming the field', async () => {
    const fx = await start();
    const alert = openAlert(fx, leakDetection('H1'));
    const res = await fx.app.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/resolve`,
      headers: JSON_HEADERS,
      payload: JSON.stringify({ outcome: 'other', note: 'x'.repeat(500_000) }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_API_VALIDATION');
    expect(res.json().issues).toEqual([
      { path: 'note', message: expect.stringMatching(/2000/), kind: 'max-length', limit: 2000 },
    ]);
  });

  it('refuses deeply nested JSON with 400 and keeps serving', async () => {
    const fx = await start();
    const alert = openAlert(fx, leakDetection('H1'));
    const depth = 150_000; // about 900 kB: under the 1 MiB body limit
    for (const payload of [
      '['.repeat(depth) + ']'.repeat(depth),
      `{"outcome":"other","note":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
    ]) {
      const res = await fx.app.inject({
        method: 'POST',
        url: `/api/alerts/${alert.id}/resolve`,
        headers: JSON_HEADERS,
        payload,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('ERR_API_VALIDATION');
    }
    const health = await fx.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
  });

  it('answers a body that is not JSON by type with 415 ERR_API_UNSUPPORTED_MEDIA_TYPE', async () => {
    const fx = await start();
    const alert = openAlert(fx, leakDetection('H1'));
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await fx.app.inject({
        method: 'POST',
        url: `/api/alerts/${alert.id}/resolve`,
        headers: { ...AUTH, 'content-type': contentType },
        payload: 'outcome=other',
      });
      expect(res.statusCode, contentType).toBe(415);
      expect(res.json().code, contentType).toBe('ERR_API_UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('answers a malformed percent-encoding with 400 ERR_API_VALIDATION', async () => {
    const { app } = await start();
    const res = await app.inject({ method: 'GET', url: '/api/alerts/%E0%A4%A', headers: AUTH });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_API_VALIDATION');
  });

  it('answers an unexpected failure with 500 ERR_INTERNAL, a generic message and no stack, and logs it', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const fx = await start({ logger: createLogger('info', sink) });
    fx.store.close();
    const res = await fx.app.inject({ method: 'GET', url: '/api/alerts', headers: AUTH });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ code: 'ERR_INTERNAL', message: 'Internal error' });
    const failed = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'request failed');
    expect(failed).toMatchObject({
      level: 50,
      module: 'api',
      err: { message: expect.stringMatching(/not open/) },
    });
    const health = await fx.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toEqual({ status: 'degraded', checks: { store: 'closed' } });
  });
});
