import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './harness.ts';

/** The API reference: the page and its files come from careflow itself (no CDN), the document at a stable URL. */
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => svc?.dispose());

const get = (url: string, accept?: string) =>
  svc.cf.http.inject({ method: 'GET', url, headers: accept ? { accept } : {} });

describe('GET /docs', () => {
  it('serves the OpenAPI document at /docs/openapi.json, with response schemas from the zod schemas', async () => {
    const res = await get('/docs/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const clock = doc.paths['/api/clock']!.get as {
      responses: Record<string, { content: Record<string, { schema: Record<string, unknown> }> }>;
    };
    expect(clock.responses['200']!.content['application/json']!.schema).toMatchObject({
      type: 'object',
      required: ['now', 'mode'],
      properties: { mode: { enum: ['manual', 'system'] } },
    });
    // A JSON client asking /docs itself still gets the document.
    expect((await get('/docs', 'application/json')).json()).toEqual(doc);
  });

  it('serves a page for people that loads only its own files, under a strict CSP', async () => {
    const page = await get('/docs', 'text/html,application/xhtml+xml');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).not.toMatch(/https?:\/\//);
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.sort()).toEqual(['/docs/start.js', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css']);
    for (const ref of refs) {
      const res = await get(ref);
      expect(res.statusCode, ref).toBe(200);
      expect(res.body.length, ref).toBeGreaterThan(ref.endsWith('start.js') ? 50 : 10_000);
    }
    expect((await get('/docs/start.js')).body).toContain("url: '/docs/openapi.json'");
    expect((await get('/docs/../package.json')).statusCode).toBe(404);
  });
});
