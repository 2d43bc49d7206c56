import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { hasPermission, type Permission, type Principal } from '../core/access.ts';
import type { Clock } from '../core/clock.ts';
import { CareflowError } from '../core/errors.ts';
import type { Store } from '../core/store/store.ts';
import type { AuditEntry } from '../core/store/audit-repo.ts';
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

/**
 * The parts of the embedded store the routes use: all but the alerts (the alert desk's), the usage (handed to the
 * household routes on its own), the archive, MQTT client ids and secret verifiers, and the database itself.
 */
export type ApiTables = Pick<
  Store,
  | 'registry'
  | 'inbox'
  | 'deadLetters'
  | 'checkpoints'
  | 'outbox'
  | 'access'
  | 'audit'
  | 'rules'
  | 'away'
  | 'escalation'
  | 'webhooks'
  | 'stats'
  | 'metrics'
  | 'privacy'
  | 'personalData'
  | 'reports'
  | 'console'
  | 'transaction'
>;

/** What every route handler may use. */
export interface ApiContext {
  store: ApiTables;
  clock: Clock;
  access: AccessPolicy;
  catalog: RouteCatalog;
  /** Prometheus metrics: `metrics?.countFailedAuthentication('login' | 'bearer')` for a refused caller. */
  metrics?: ServiceMetrics;
  /** Check every JSON answer against its documented schema (default: `CAREFLOW_CHECK_RESPONSES=1`, the tests). */
  checkResponses?: boolean;
  /** Where audit entries go; by default the embedded store's audit log (a cluster worker: PostgreSQL's). */
  writeAudit?: (entry: Omit<AuditEntry, 'id'>) => void;
}

/** Writes an audit entry where the API keeps them. */
export function auditEntry(ctx: ApiContext, entry: Omit<AuditEntry, 'id'>): void {
  if (ctx.writeAudit) ctx.writeAudit(entry);
  else ctx.store.audit.add(entry);
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
   * Documented responses besides the errors every route may give: a description with the zod schema of the
   * JSON body (the response schema of the OpenAPI document) and/or the media types of a body that is not
   * JSON; a bare description for an answer without a body. Every route documents at least one 2xx body.
   */
  responses: Record<number, ResponseDoc>;
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

/**
 * A documented response: its description, the zod schema of its JSON body when it has one, and the media types
 * of other bodies it may have (`text/csv`, `text/event-stream`, …) with their schema (usually `z.string()`).
 */
export type ResponseDoc =
  string | { description: string; schema?: z.ZodType; media?: Record<string, z.ZodType> };

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
  const entry: CatalogEntry = {
    method: spec.method,
    path: joinPath(app.prefix, spec.url),
    summary: spec.summary,
    tags: spec.tags ?? [],
    permission: spec.permission,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    responses: spec.responses,
  };
  ctx.catalog.entries.push(entry);
  const checkResponses = ctx.checkResponses ?? process.env.CAREFLOW_CHECK_RESPONSES === '1';
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
      const answer = await spec.handler({
        request,
        reply,
        principal,
        params: params as z.output<P>,
        query: query as z.output<Q>,
        body: body as z.output<B>,
        audit: (action, target, grid, detail = {}) =>
          auditEntry(ctx, {
            at: ctx.clock.now(),
            actor: principal?.id ?? 'anonymous',
            action,
            target,
            grid,
            detail,
            ip: request.ip,
          }),
      });
      if (checkResponses) checkResponse(entry, reply.statusCode, sentJson(answer, reply));
      return answer;
    },
  });
}

/** An answer as JSON for the check: a route that sends ready-made JSON text (a cached answer) is parsed. */
function sentJson(answer: unknown, reply: { getHeader(name: string): unknown }): unknown {
  if (typeof answer !== 'string') return answer;
  const type = reply.getHeader('content-type');
  return typeof type === 'string' && type.startsWith('application/json')
    ? (JSON.parse(answer) as unknown)
    : answer;
}

/**
 * Checks an answer against the route's documented schema as a client receives it (after JSON serialisation):
 * it must parse, and parsing must keep every field (zod drops unknown keys, so an undocumented field shows as
 * a difference). Used by the tests, so the OpenAPI document cannot drift from what the routes send.
 */
export function checkResponse(
  spec: { method: string; path: string; responses: Record<number, ResponseDoc> },
  status: number,
  answer: unknown,
): void {
  if (answer === undefined || typeof answer === 'string' || Buffer.isBuffer(answer)) return;
  const doc = spec.responses[status];
  const schema = typeof doc === 'object' ? doc.schema : undefined;
  const where = `${spec.method} ${spec.path} (${status})`;
  if (!schema) {
    const message = `The answer of ${where} is JSON but the route documents no schema for it`;
    process.stderr.write(`careflow response check: ${message}\n`);
    throw new Error(message);
  }
  const sent: unknown = JSON.parse(JSON.stringify(answer));
  const parsed = schema.safeParse(sent);
  const problem = !parsed.success
    ? `does not match its schema: ${z.prettifyError(parsed.error)}`
    : firstDifference(sent, JSON.parse(JSON.stringify(parsed.data)), '');
  if (problem === null) return;
  const message = parsed.success
    ? `The answer of ${where} has a field its schema does not name: ${problem}`
    : `The answer of ${where} ${problem}`;
  // The test sees a 500 (ERR_INTERNAL); the reason goes to stderr, where the test run shows it.
  process.stderr.write(`careflow response check: ${message}\n`);
  throw new Error(message);
}

/** The path of the first place where `a` has something `b` lacks (or differs), or null. */
function firstDifference(a: unknown, b: unknown, path: string): string | null {
  if (a === b) return null;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return path || '(root)';
  if (Array.isArray(a) !== Array.isArray(b)) return path || '(root)';
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const key of Object.keys(ra)) {
    if (!(key in rb)) return `${path}.${key}`;
    const d = firstDifference(ra[key], rb[key], `${path}.${key}`);
    if (d !== null) return d;
  }
  return null;
}

function joinPath(prefix: string, url: string): string {
  return (prefix + url).replace(/\/+/g, '/') || '/';
}
