import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CareflowError } from '../core/errors.ts';
import { packageRoot } from '../core/package-root.ts';
import { defineRoute, type ApiContext } from '../api/define-route.ts';

/** Where `npm run build:console` (run by `npm install`) writes the console. */
// From the package root, so that the compiled service in dist/ finds it as well as the TypeScript sources.
export const CONSOLE_DIST = join(packageRoot(), 'dashboards', 'console', 'dist');

/** The console's own pages (history routing): each answers index.html, the app shows the screen. */
export const CONSOLE_PAGES = [
  '/',
  '/login',
  '/inbox',
  '/alerts/:id',
  '/households',
  '/rules',
  '/overview',
  '/staff/escalation',
  '/staff/meters',
  '/staff/registry',
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

interface Asset {
  type: string;
  raw: Buffer;
  /** Compressed once, in the thread pool, on first use or when the warm-up reaches it; kept in memory. */
  encoded: Map<Encoding, Promise<Buffer>>;
}

type Encoding = 'br' | 'gzip';

const compress: Record<Encoding, (raw: Buffer) => Promise<Buffer>> = {
  br: promisify(brotliCompress),
  gzip: promisify(gzip),
};

const AssetParams = z.strictObject({ file: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'a file name') });

/**
 * Serves the built console from memory: its pages at `/` (and the app's own paths), its hashed files under
 * `/assets/` (cached for a year: the name changes with the content), gzip or brotli as the browser accepts.
 * Without a build it answers a page that says how to build it. No file is read from a request's path.
 * The build writes each text file's brotli and gzip forms beside it (dashboards/console/vite.config.ts), which are
 * served as they are. A file without them (an older build) is compressed off the event loop once the service is
 * listening (a request that comes first waits for its file's, and gets it raw if that fails), so start-up does
 * not pay for it (brotli at its best quality takes over a second for the console's files).
 */
export function consoleRoutes(dist = CONSOLE_DIST) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    const assets = loadAssets(join(dist, 'assets'));
    const index = existsSync(join(dist, 'index.html'))
      ? asset('.html', readFileSync(join(dist, 'index.html')), join(dist, 'index.html'))
      : asset('.html', Buffer.from(NOT_BUILT));

    for (const url of CONSOLE_PAGES) {
      defineRoute(app, ctx, {
        method: 'GET',
        url,
        summary: 'The web console (HTML; the app loads its data from /api)',
        tags: ['console'],
        permission: 'public',
        responses: { 200: { description: 'The console page', media: { 'text/html': z.string() } } },
        handler: ({ request, reply }) => send(request, reply, index, 'no-cache'),
      });
    }
    defineRoute(app, ctx, {
      method: 'GET',
      url: '/assets/:file',
      summary: 'A file of the built console (content-hashed name)',
      tags: ['console'],
      permission: 'public',
      params: AssetParams,
      responses: {
        200: { description: 'The file (script, style sheet, font, image)', media: { '*/*': z.string() } },
        404: 'No such file',
      },
      handler: ({ request, reply, params }) => {
        const file = assets.get(params.file);
        if (!file) throw new CareflowError('ERR_API_NOT_FOUND', `No console file ${params.file}`);
        return send(request, reply, file, 'public, max-age=31536000, immutable');
      },
    });
    app.addHook('onListen', (done) => {
      // Warm-up: one file at a time, so that the thread pool stays free for what the service needs it for.
      void (async () => {
        for (const a of [index, ...assets.values()])
          for (const e of ['br', 'gzip'] as const) await encoded(a, e).catch(() => undefined);
      })();
      done();
    });
  };
}

async function send(request: FastifyRequest, reply: FastifyReply, a: Asset, cache: string): Promise<Buffer> {
  const accepts = String(request.headers['accept-encoding'] ?? '');
  void reply.type(a.type).header('cache-control', cache).header('vary', 'accept-encoding');
  const e: Encoding | null = /\bbr\b/.test(accepts) ? 'br' : /\bgzip\b/.test(accepts) ? 'gzip' : null;
  if (e === null) return a.raw;
  const body = await encoded(a, e).catch(() => null);
  if (body === null) return a.raw;
  void reply.header('content-encoding', e);
  return body;
}

function encoded(a: Asset, e: Encoding): Promise<Buffer> {
  let body = a.encoded.get(e);
  if (!body) a.encoded.set(e, (body = compress[e](a.raw)));
  return body;
}

function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type) out.set(name, asset(extname(name), readFileSync(join(dir, name)), join(dir, name)));
  }
  return out;
}

/** A file, with the compressed forms the build wrote beside it (`path.br`, `path.gz`) when there are any. */
function asset(ext: string, raw: Buffer, path?: string): Asset {
  const encoded = new Map<Encoding, Promise<Buffer>>();
  if (path)
    for (const [e, suffix] of [
      ['br', '.br'],
      ['gzip', '.gz'],
    ] as const)
      if (existsSync(path + suffix)) encoded.set(e, Promise.resolve(readFileSync(path + suffix)));
  return { type: TYPES[ext] ?? 'application/octet-stream', raw, encoded };
}

const NOT_BUILT = `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>careflow</title>
<p>控制台尚未构建：请运行 <code>npm run build:console</code>（<code>npm install</code> 会自动运行）。</p>
<p lang="en">The console is not built: run <code>npm run build:console</code> (<code>npm install</code> runs it).</p></html>`;
