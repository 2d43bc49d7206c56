import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { limitParam } from '../validate.ts';
import { Instant } from '../time-range.ts';
import { AuditEntrySchema } from '../response-schemas.ts';
import type { AuditEntry, AuditFilter } from '../../core/store/audit-repo.ts';

const AuditQuery = z.strictObject({
  from: Instant.optional(),
  to: Instant.optional(),
  actor: z.string().max(100).optional(),
  action: z.string().max(100).optional(),
  limit: limitParam(),
});

/** Where the audit log is read: the embedded store (default), or a cluster's PostgreSQL (cluster/audit-log.ts). */
export type AuditReader = (filter: AuditFilter) => Promise<AuditEntry[]>;

/** `GET /api/audit`: who did what, when — limited to the caller's grids (admins see everything). */
export function auditRoutes(app: FastifyInstance, ctx: ApiContext, source?: AuditReader): void {
  const read: AuditReader = source ?? ((f) => Promise.resolve(ctx.store.audit.list(f)));
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/audit',
    summary: 'The audit log of state-changing actions, newest first',
    tags: ['access'],
    permission: 'audit:read',
    query: AuditQuery,
    responses: {
      200: {
        description: 'Audit entries, newest first',
        schema: z.object({ entries: z.array(AuditEntrySchema) }),
      },
    },
    handler: async ({ principal, query }) => ({
      entries: await read({ ...query, grids: ctx.access.visibleGrids(principal) }),
    }),
  });
}
