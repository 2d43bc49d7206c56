import { z } from 'zod';
import { ERRORS } from '../core/errors.ts';
import type { CatalogEntry, RouteCatalog } from './define-route.ts';

/**
 * The OpenAPI 3.1 document, generated from the route catalog: the same zod schemas the routes validate with
 * become the parameter and request-body schemas.
 */
export function openApiDocument(catalog: RouteCatalog, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const e of catalog.entries) {
    const path = e.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    (paths[path] ??= {})[e.method.toLowerCase()] = operation(e);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'careflow API',
      version,
      description:
        'Smart water meter welfare alerts. Every /api route needs `Authorization: Bearer <token>` (admin token, ' +
        'API key, or a session token from POST /api/login) unless marked public. Times are epoch milliseconds. ' +
        'Errors are `{ code, message, issues? }`.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { type: 'string', enum: Object.keys(ERRORS) },
            message: { type: 'string' },
            issues: {
              type: 'array',
              items: {
                type: 'object',
                required: ['path', 'message'],
                properties: {
                  path: { type: 'string' },
                  message: { type: 'string' },
                  kind: {
                    type: 'string',
                    description: 'what kind of problem, for clients that word it in their own language',
                  },
                  limit: {
                    type: ['number', 'string'],
                    description: 'the bound, expected type, allowed values or other field the problem names',
                  },
                },
              },
            },
          },
        },
      },
    },
    paths,
  };
}

function operation(e: CatalogEntry): Record<string, unknown> {
  const parameters = [...objectParameters(e.params, 'path'), ...objectParameters(e.query, 'query')];
  const responses: Record<string, unknown> = {};
  for (const [status, doc] of Object.entries(e.responses)) {
    if (typeof doc === 'string') {
      responses[status] = { description: doc };
      continue;
    }
    const content: Record<string, unknown> = {};
    if (doc.schema) content['application/json'] = { schema: jsonSchema(doc.schema, 'output') };
    for (const [media, schema] of Object.entries(doc.media ?? {})) {
      content[media] = { schema: jsonSchema(schema, 'output') };
    }
    responses[status] = { description: doc.description, content };
  }
  const errorRef = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  responses['400'] = { description: 'Invalid request (ERR_API_VALIDATION, ERR_API_BAD_JSON)', ...errorRef };
  if (e.permission !== 'public') {
    responses['401'] = { description: 'Missing or invalid token (ERR_API_UNAUTHORIZED)', ...errorRef };
    responses['403'] = { description: 'Not allowed for this role or scope (ERR_API_FORBIDDEN)', ...errorRef };
  }
  return {
    summary: e.summary,
    tags: e.tags,
    ...(e.permission === 'public' ? { security: [] } : { security: [{ bearer: [] }] }),
    ...(e.permission && e.permission !== 'public' ? { 'x-permission': e.permission } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(e.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(e.body, 'input') } },
          },
        }
      : {}),
    responses,
  };
}

function objectParameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}
