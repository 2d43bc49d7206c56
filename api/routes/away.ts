import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CareflowError } from '../../core/errors.ts';
import { Timestamp } from '../../core/readings.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { HouseholdParams } from './households.ts';
import { AwaySpanSchema, Ms } from '../response-schemas.ts';

const MAX_AWAY_DAYS = 366;
const AwayBody = z.strictObject({
  until: Timestamp,
  reason: z.string().trim().min(1, 'say why the household is away').max(500),
});

/**
 * Away mode: `PUT /api/households/:id/away { until, reason }` marks a household away from now until then,
 * `DELETE` ends the mark early. While away, rules with `suppressedWhenAway` (low-use, no-water-at-peak by
 * default) stay quiet in the detectors themselves; leak and silence rules still fire. Every mark is kept
 * as a span, so backtests see who was away when.
 */
export function awayRoutes(onChange: (householdId: string) => void) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    const { store, clock, access } = ctx;

    defineRoute(app, ctx, {
      method: 'PUT',
      url: '/households/:id/away',
      summary: 'Mark a household away until a date: no welfare alerts until then',
      tags: ['households'],
      permission: 'households:write',
      params: HouseholdParams,
      body: AwayBody,
      responses: {
        200: {
          description: 'The household is away until then',
          schema: z.object({ householdId: z.string(), awayFrom: Ms, awayUntil: Ms, reason: z.string() }),
        },
      },
      handler: ({ principal, params, body, audit }) => {
        const grid = access.assertHousehold(principal, params.id);
        const now = clock.now();
        if (body.until <= now || body.until > now + MAX_AWAY_DAYS * 86_400_000) {
          throw new CareflowError('ERR_API_VALIDATION', 'The body is not valid (until)', [
            { path: 'until', message: `must lie after now and within ${MAX_AWAY_DAYS} days` },
          ]);
        }
        const previous = store.away.current(params.id, now);
        store.transaction(() => {
          if (previous) store.away.clear(previous.id, now, principal.id);
          store.away.add({
            householdId: params.id,
            from: now,
            until: body.until,
            reason: body.reason,
            setBy: principal.id,
            setAt: now,
          });
          store.registry.setAway(params.id, body.until);
          audit('household.away', params.id, grid, {
            from: now,
            until: body.until,
            reason: body.reason,
            previousUntil: previous?.until ?? null,
          });
        });
        onChange(params.id);
        return { householdId: params.id, awayFrom: now, awayUntil: body.until, reason: body.reason };
      },
    });

    defineRoute(app, ctx, {
      method: 'DELETE',
      url: '/households/:id/away',
      summary: 'End a household’s away mark now',
      tags: ['households'],
      permission: 'households:write',
      params: HouseholdParams,
      responses: {
        200: {
          description: 'The away mark is ended (`cleared`: whether there was one)',
          schema: z.object({ householdId: z.string(), awayUntil: z.null(), cleared: z.boolean() }),
        },
      },
      handler: ({ principal, params, audit }) => {
        const grid = access.assertHousehold(principal, params.id);
        const now = clock.now();
        const current = store.away.current(params.id, now);
        store.transaction(() => {
          if (current) store.away.clear(current.id, now, principal.id);
          store.registry.setAway(params.id, null);
          audit('household.away-cleared', params.id, grid, { until: current?.until ?? null });
        });
        onChange(params.id);
        return { householdId: params.id, awayUntil: null, cleared: current !== undefined };
      },
    });

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/households/:id/away',
      summary: 'A household’s away marks, oldest first',
      tags: ['households'],
      permission: 'households:read',
      params: HouseholdParams,
      responses: {
        200: {
          description: 'Away marks, oldest first',
          schema: z.object({ householdId: z.string(), spans: z.array(AwaySpanSchema) }),
        },
      },
      handler: ({ principal, params }) => {
        access.assertHousehold(principal, params.id);
        return { householdId: params.id, spans: store.away.ofHousehold(params.id) };
      },
    });
  };
}
