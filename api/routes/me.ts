import type { FastifyInstance } from 'fastify';
import { ROLE_PERMISSIONS } from '../../core/access.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { MeAnswer } from '../response-schemas.ts';

/** `GET /api/me`: who the caller is, what they may do and where, and the deployment's time zone (the console). */
export function meRoutes(timeZone: string) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    defineRoute(app, ctx, {
      method: 'GET',
      url: '/me',
      summary: "The caller: id, name, role, permissions and scope; the deployment's time zone and time",
      tags: ['access'],
      permission: null,
      responses: { 200: { description: 'The caller', schema: MeAnswer } },
      handler: ({ principal }) => {
        const person = principal.kind === 'person' ? ctx.store.access.person(principal.id) : undefined;
        return {
          id: principal.id,
          name: person?.name ?? principal.id,
          role: principal.role,
          permissions: [...ROLE_PERMISSIONS[principal.role]],
          scope: principal.scope,
          grids: ctx.access.visibleGrids(principal),
          timeZone,
          now: ctx.clock.now(),
        };
      },
    });
  };
}
