import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { openApiDocument } from '../openapi.ts';
import { z } from 'zod';

/** The document follows the OpenAPI 3.1 specification; its own schema is that specification's. */
const OpenApiDocument = z.looseObject({
  openapi: z.literal('3.1.0'),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
});

/** The files of Swagger UI (npm package swagger-ui-dist) the page needs: served from here, never a CDN. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>careflow API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
`;

// No inline script (the page's CSP allows none): the start-up lives in its own file.
const START = `window.ui = SwaggerUIBundle({
  url: '/docs/openapi.json',
  dom_id: '#docs',
  validatorUrl: null,
  deepLinking: true,
  tryItOutEnabled: false,
  persistAuthorization: false,
});
`;

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

let assetDir: string | undefined;
const cache = new Map<string, Buffer>();
function asset(name: string): Buffer {
  let body = cache.get(name);
  if (!body) {
    assetDir ??= dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
    body = readFileSync(join(assetDir, name));
    cache.set(name, body);
  }
  return body;
}

/**
 * `GET /docs`: the API reference page (Swagger UI, served offline); `GET /docs/openapi.json`: the OpenAPI 3.1
 * document. Both public: they describe the API, they give no access to it. A client that asks `/docs` for JSON
 * (no `text/html` in Accept, as before the page existed) still gets the document.
 */
export function docsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/docs/openapi.json',
    summary: 'The OpenAPI 3.1 document of this API',
    tags: ['operations'],
    permission: 'public',
    responses: { 200: { description: 'OpenAPI 3.1 document (JSON)', schema: OpenApiDocument } },
    handler: () => openApiDocument(ctx.catalog, '0.1.0'),
  });
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/docs',
    summary: 'The API reference page (HTML); JSON clients get the OpenAPI document',
    tags: ['operations'],
    permission: 'public',
    responses: {
      200: {
        description: 'HTML page, or the OpenAPI document for a client that does not accept text/html',
        schema: OpenApiDocument,
        media: { 'text/html': z.string() },
      },
    },
    handler: ({ request, reply }) => {
      if (!(request.headers.accept ?? '').includes('text/html')) return openApiDocument(ctx.catalog, '0.1.0');
      void reply.type('text/html; charset=utf-8').header('content-security-policy', CSP);
      return PAGE;
    },
  });
  app.get('/docs/start.js', (_request, reply) =>
    reply.type('application/javascript; charset=utf-8').header('cache-control', 'no-cache').send(START),
  );
  for (const [name, type] of Object.entries(ASSETS)) {
    app.get(`/docs/${name}`, (_request, reply) =>
      reply.type(type).header('cache-control', 'public, max-age=86400').send(asset(name)),
    );
  }
}
