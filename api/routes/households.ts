import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CareflowError } from '../../core/errors.ts';
import type { LocalTime } from '../../core/local-time.ts';
import type { Household } from '../../core/registry.ts';
import type { UsageBucket } from '../../core/streams.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { parseTimeRange, RangeQuery } from '../time-range.ts';
import { usageSeries } from '../usage-series.ts';
import { HouseholdSchema, Ms, UsageBucketSchema, WorkerSchema } from '../response-schemas.ts';

/** `/api/households/:id` (the registry record and the grid's workers, no secrets) and its usage buckets. */
export const HouseholdParams = z.strictObject({ id: z.string().min(1).max(64) });

/** Where a household's stored usage buckets come from: the embedded store, or the cluster's PostgreSQL. */
export interface UsageReader {
  range(householdId: string, from: number, to: number): UsageBucket[] | Promise<UsageBucket[]>;
}

export function householdRoutes(
  app: FastifyInstance,
  ctx: ApiContext,
  localTime: LocalTime,
  usage: UsageReader,
): void {
  const { store, clock, access } = ctx;

  function household(id: string): Household {
    const h = store.registry.household(id);
    if (!h) throw new CareflowError('ERR_HOUSEHOLD_NOT_FOUND', `No household ${id}`);
    return h;
  }

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/households/:id',
    summary: "A household and its grid's workers",
    tags: ['households'],
    permission: 'households:read',
    params: HouseholdParams,
    responses: {
      200: {
        description: 'The household and the workers of its grid',
        schema: z.object({ household: HouseholdSchema, workers: z.array(WorkerSchema) }),
      },
    },
    handler: ({ principal, params }) => {
      access.assertHousehold(principal, params.id);
      const h = household(params.id);
      // Marked away through the API: the span in force (a cluster's shared spans leave the registry's own mark,
      // from the registry file, as it is); else the registry's mark.
      const span = store.away.current(h.id, clock.now());
      const marked = span ? { ...h, awayUntil: span.until } : h;
      return { household: marked, workers: store.registry.workersOfGrid(h.gridCode) };
    },
  });

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/households/:id/usage',
    summary: "A household's usage buckets (liters: null = unknown)",
    tags: ['households'],
    permission: 'usage:read',
    params: HouseholdParams,
    query: RangeQuery,
    responses: {
      200: {
        description: 'Usage buckets over the range, every bucket present (liters null = unknown)',
        schema: z.object({
          householdId: z.string(),
          bucketMinutes: z.number(),
          from: Ms,
          to: Ms,
          buckets: z.array(UsageBucketSchema),
        }),
      },
    },
    handler: async ({ principal, params, request }) => {
      access.assertHousehold(principal, params.id);
      const h = household(params.id);
      const { from, to } = parseTimeRange(request.query, clock.now());
      const stored = await usage.range(h.id, from, to);
      return {
        householdId: h.id,
        bucketMinutes: localTime.bucketMs / 60_000,
        from,
        to,
        buckets: usageSeries(stored, from, to, localTime),
      };
    },
  });
}
