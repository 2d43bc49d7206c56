import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { hasPermission, type Permission, type Principal } from '../core/access.ts';
import type { Clock } from '../core/clock.ts';
import { CareflowError } from '../core/errors.ts';
import type { Store } from '../core/store/store.ts';
import type { AccessPolicy } from './access-policy.ts';
import { parseInput } from './validate.ts';
import type { ServiceMetrics } from '../core/metrics.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Routes that need no bearer token (login, health). */
    public?: boolean;
  }
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** What every route handler may use. */
export interface ApiContext {
  store: Store;
  clock: Clock;
  access: AccessPolicy;
  catalog: RouteCatalog;
  /** Prometheus metrics: `metrics?.countFailedAuthentication('login' | 'bearer')` for a refused caller. */
  metrics?: ServiceMetrics;
}

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** Path inside the plugin (`/alerts/:id`); the catalog records the full path. */
  url: string;
  summary: string;
  tags?: string[];
  /** Required permission; null = any authenticated caller; 'public' = no token needed. */
  permission: Permission | null | 'public';
  params?: P;
  query?: Q;
  body?: B;
  /**
   * Documented responses besides the errors every route may give: a description, or a description with the
   * zod schema of the JSON body (it becomes the response schema of the OpenAPI document).
   */
  responses?: Record<number, ResponseDoc>;
  handler(ctx: HandlerContext<P, Q, B>): Promise<unknown> | unknown;
}

export interface HandlerContext<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  request: FastifyRequest;
  reply: FastifyReply;
  /** Undefined only on public routes. */
  principal: Principal;
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  /** Writes an audit entry for a state-changing action (actor and time are filled in). */
  audit(action: string, target: string | null, grid: string | null, detail?: Record<string, unknown>): void;
}

export interface CatalogEntry {
  method: Method;
  path: string;
  summary: string;
  tags: string[];
  permission: Permission | null | 'public';
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  responses: Record<number, ResponseDoc>;
}

/** A documented response: its description, and the zod schema of its JSON body when it has one. */
export type ResponseDoc = string | { description: string; schema: z.ZodType };

/** Every route defined through `defineRoute`, for the OpenAPI document. */
export class RouteCatalog {
  readonly entries: CatalogEntry[] = [];
}

/**
 * Registers a route: permission check, zod validation of path, query and body (the same schemas feed the
 * OpenAPI document), and an audit writer bound to the caller.
 */
export function defineRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  app: FastifyInstance,
  ctx: ApiContext,
  spec: RouteSpec<P, Q, B>,
): void {
  ctx.catalog.entries.push({
    method: spec.method,
    path: joinPath(app.prefix, spec.url),
    summary: spec.summary,
    tags: spec.tags ?? [],
    permission: spec.permission,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    responses: spec.responses ?? { 200: 'OK' },
  });
  app.route({
    method: spec.method,
    url: spec.url,
    config: { public: spec.permission === 'public' },
    handler: async (request, reply) => {
      const principal = request.principal;
      if (
        spec.permission !== 'public' &&
        spec.permission !== null &&
        !hasPermission(principal, spec.permission)
      ) {
        throw new CareflowError(
          'ERR_API_FORBIDDEN',
          `A ${principal.role} may not do this (needs ${spec.permission})`,
        );
      }
      const params = spec.params ? parseInput(spec.params, request.params, 'path') : undefined;
      const query = spec.query ? parseInput(spec.query, request.query, 'query string') : undefined;
      const body = spec.body ? parseInput(spec.body, request.body, 'body') : undefined;
      return spec.handler({
        request,
        reply,
        principal,
        params: params as z.output<P>,
        query: query as z.output<Q>,
        body: body as z.output<B>,
        audit: (action, target, grid, detail = {}) =>
          ctx.store.audit.add({
            at: ctx.clock.now(),
            actor: principal?.id ?? 'anonymous',
            action,
            target,
            grid,
            detail,
            ip: request.ip,
          }),
      });
    },
  });
}

function joinPath(prefix: string, url: string): string {
  return (prefix + url).replace(/\/+/g, '/') || '/';
}
