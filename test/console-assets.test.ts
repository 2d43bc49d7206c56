import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_DIST } from '../dashboards/serve-console.ts';
import { startTestService, type TestService } from './harness.ts';

/**
 * The console's files over real HTTP: brotli or gzip as the browser accepts, raw otherwise, each the built file
 * byte for byte once decoded — the forms the build compressed, so that the first request (also several at once)
 * gets the same answer as a later one and start-up compresses nothing.
 */
let svc: TestService;
const assets = join(CONSOLE_DIST, 'assets');
const script = readdirSync(assets).find((f) => f.endsWith('.js'))!;
const built = readFileSync(join(assets, script));

function get(
  path: string,
  encoding?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: svc.cf.httpPort,
        path,
        headers: encoding ? { 'accept-encoding': encoding } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  svc = await startTestService();
}, 60_000);
afterAll(async () => {
  await svc?.dispose();
});

describe('the console files', () => {
  it('come compressed as the browser accepts, and decode to the built file (also when asked for at once)', async () => {
    const [br, gz, both] = await Promise.all([
      get(`/assets/${script}`, 'br'),
      get(`/assets/${script}`, 'gzip, deflate'),
      get(`/assets/${script}`, 'gzip, deflate, br'),
    ]);
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.body).equals(built)).toBe(true);
    expect(br.body.length).toBeLessThan(built.length);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(built)).toBe(true);
    expect(both.headers['content-encoding']).toBe('br');
    const again = await get(`/assets/${script}`, 'br');
    expect(again.body.equals(br.body)).toBe(true);
    expect(again.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('come raw to a client that accepts no encoding; the pages too', async () => {
    const raw = await get(`/assets/${script}`);
    expect(raw.headers['content-encoding']).toBeUndefined();
    expect(raw.body.equals(built)).toBe(true);
    const page = await get('/inbox', 'gzip');
    expect(page.status).toBe(200);
    expect(gunzipSync(page.body).equals(readFileSync(join(CONSOLE_DIST, 'index.html')))).toBe(true);
    const missing = await get('/assets/no-such-file.js', 'br');
    expect(missing.status).toBe(404);
  });

  it('are served as the build compressed them, with nothing compressed at start-up', async () => {
    // `npm run build:console` writes each text file's brotli and gzip forms beside it.
    const br = await get(`/assets/${script}`, 'br');
    expect(br.body.equals(readFileSync(join(assets, `${script}.br`)))).toBe(true);
    const gz = await get(`/assets/${script}`, 'gzip');
    expect(gz.body.equals(readFileSync(join(assets, `${script}.gz`)))).toBe(true);
    const page = await get('/', 'br');
    expect(page.body.equals(readFileSync(join(CONSOLE_DIST, 'index.html.br')))).toBe(true);
    // The compressed forms are no files of their own.
    expect((await get(`/assets/${script}.br`)).status).toBe(404);
  });
});
