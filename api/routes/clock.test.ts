import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { rmSync } from 'node:fs';
import { startCareflow } from '../../app/start-careflow.ts';
import { silentLogger } from '../../core/logger.ts';
import { tempDataDir } from '../../test/harness.ts';

async function service(clock: 'system' | 'manual') {
  const dataDir = tempDataDir();
  const config = loadConfig(
    {},
    {
      dataDir,
      clock,
      adminToken: 'clock-admin-token-0123456789',
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
    },
  );
  const cf = await startCareflow(config, { logger: silentLogger, listenHttp: false });
  const call = (method: 'GET' | 'POST', body?: unknown) =>
    cf.http.inject({
      method,
      url: '/api/clock',
      headers: { authorization: 'Bearer clock-admin-token-0123456789' },
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
  return {
    call,
    async dispose() {
      await cf.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describe('/api/clock', () => {
  it('moves a manual clock forward and refuses to move it back', async () => {
    const s = await service('manual');
    try {
      expect((await s.call('GET')).json()).toEqual({ now: Date.UTC(2000, 0, 1), mode: 'manual' });
      const to = '2026-03-02T08:00:00+08:00';
      expect((await s.call('POST', { to })).json()).toEqual({ now: Date.parse(to), mode: 'manual' });
      const back = await s.call('POST', { to: '2026-03-01T00:00:00Z' });
      expect(back.statusCode).toBe(409);
      expect(back.json()).toMatchObject({ code: 'ERR_CLOCK_BACKWARDS' });
      const bad = await s.call('POST', { to: 'tomorrow' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'ERR_API_VALIDATION' });
    } finally {
      await s.dispose();
    }
  });

  it('starts a fresh service at the first requested time without replaying the years in between', async () => {
    const s = await service('manual');
    try {
      const started = Date.now();
      const res = await s.call('POST', { to: '2026-03-02T00:00:00+08:00' });
      expect(res.json()).toMatchObject({ now: Date.parse('2026-03-02T00:00:00+08:00') });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await s.dispose();
    }
  });

  it('refuses to move the system clock', async () => {
    const s = await service('system');
    try {
      expect((await s.call('GET')).json()).toMatchObject({ mode: 'system' });
      const res = await s.call('POST', { to: Date.now() + 60_000 });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ code: 'ERR_CLOCK_NOT_MANUAL' });
    } finally {
      await s.dispose();
    }
  });
});
