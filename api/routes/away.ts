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
/**
 * Where away marks are written: the embedded store (default: the span, the registry's `awayUntil` and the audit
 * entry in one transaction), or the cluster's shared spans (cluster/away-writer.ts).
 */
export interface AwayWriter {
  /** A new mark from `at` (the one in force ends); returns when the previous mark would have ended. */
  mark(
    householdId: string,
    mark: { from: number; until: number; reason: string },
    by: { actor: string; ip: string | null },
    grid: string,
  ): Promise<{ previousUntil: number | null }>;
  /** Ends the mark in force at `at`; whether there was one. */
  clear(
    householdId: string,
    at: number,
    by: { actor: string; ip: string | null },
    grid: string,
  ): Promise<boolean>;
}

function storeWriter(ctx: ApiContext, onChange: (householdId: string) => void): AwayWriter {
  const { store } = ctx;
  const audit = (
    by: { actor: string; ip: string | null },
    at: number,
    action: string,
    hid: string,
    grid: string,
    detail: Record<string, unknown>,
  ) => store.audit.add({ at, actor: by.actor, action, target: hid, grid, detail, ip: by.ip });
  return {
    mark(householdId, m, by, grid) {
      const previous = store.away.current(householdId, m.from);
      store.transaction(() => {
        if (previous) store.away.clear(previous.id, m.from, by.actor);
        store.away.add({
          householdId,
          from: m.from,
          until: m.until,
          reason: m.reason,
          setBy: by.actor,
          setAt: m.from,
        });
        store.registry.setAway(householdId, m.until);
        audit(by, m.from, 'household.away', householdId, grid, {
          from: m.from,
          until: m.until,
          reason: m.reason,
          previousUntil: previous?.until ?? null,
        });
      });
      onChange(householdId);
      return Promise.resolve({ previousUntil: previous?.until ?? null });
    },
    clear(householdId, at, by, grid) {
      const current = store.away.current(householdId, at);
      store.transaction(() => {
        if (current) store.away.clear(current.id, at, by.actor);
        store.registry.setAway(householdId, null);
        audit(by, at, 'household.away-cleared', householdId, grid, { until: current?.until ?? null });
      });
      onChange(householdId);
      return Promise.resolve(current !== undefined);
    },
  };
}

export function awayRoutes(onChange: (householdId: string) => void, writer?: AwayWriter) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    const { store, clock, access } = ctx;
    const write = writer ?? storeWriter(ctx, onChange);

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
      handler: async ({ principal, params, body, request }) => {
        const grid = access.assertHousehold(principal, params.id);
        const now = clock.now();
        if (body.until <= now || body.until > now + MAX_AWAY_DAYS * 86_400_000) {
          throw new CareflowError('ERR_API_VALIDATION', 'The body is not valid (until)', [
            { path: 'until', message: `must lie after now and within ${MAX_AWAY_DAYS} days` },
          ]);
        }
        await write.mark(
          params.id,
          { from: now, until: body.until, reason: body.reason },
          { actor: principal.id, ip: request.ip },
          grid,
        );
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
      handler: async ({ principal, params, request }) => {
        const grid = access.assertHousehold(principal, params.id);
        const now = clock.now();
        const cleared = await write.clear(params.id, now, { actor: principal.id, ip: request.ip }, grid);
        return { householdId: params.id, awayUntil: null, cleared };
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
