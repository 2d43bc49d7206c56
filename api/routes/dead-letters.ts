import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../../core/access.ts';
import { CareflowError, ERRORS, type ErrorCode } from '../../core/errors.ts';
import type { DeadLetterFilter, DeadLetterView } from '../../core/store/dead-letter-repo.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { Instant } from '../time-range.ts';
import { DeadLetterSchema } from '../response-schemas.ts';

const CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

const Filters = {
  meter: z.string().min(1).max(100).optional(),
  code: z
    .enum(CODES, { error: 'expected an error code from docs/errors.md, e.g. ERR_INGEST_PAYLOAD_INVALID' })
    .optional(),
  /** Received at or after. */
  from: Instant.optional(),
  /** Received before. */
  to: Instant.optional(),
};

export const DeadLetterQuery = z.strictObject({
  ...Filters,
  /** Only letters older than this id (paging: the last id of the previous page). */
  before: z
    .string()
    .regex(/^\d{1,15}$/, 'expected a dead letter id')
    .transform(Number)
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'expected an integer from 1 to 1000')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .default(100),
});
export const DeadLetterCountsQuery = z.strictObject(Filters);

/**
 * `/api/deadletters`: rejected input (meter, time, reason code, payload excerpt), newest first, and its
 * counts by reason. A dead letter belongs to its meter's household's grid: a caller with a scope sees only
 * the letters of meters in their grids; letters of unknown meters (or none) only admins see.
 */
/** Where dead letters are read: the embedded store (default), or a cluster's PostgreSQL (ingest's). */
export interface DeadLetterReader {
  list(filter: DeadLetterFilter): Promise<DeadLetterView[]>;
  countsByCode(filter: DeadLetterFilter): Promise<Record<string, number>>;
}

export function deadLetterRoutes(app: FastifyInstance, ctx: ApiContext, source?: DeadLetterReader): void {
  const { store, access } = ctx;
  const letters: DeadLetterReader = source ?? {
    list: (f) => Promise.resolve(store.deadLetters.list(f)),
    countsByCode: (f) => Promise.resolve(store.deadLetters.countsByCode(f)),
  };

  /** The store filter for this caller; 403 for a named meter outside their grids (or not registered). */
  function scopedFilter(principal: Principal, q: z.output<typeof DeadLetterCountsQuery>): DeadLetterFilter {
    const grids = access.visibleGrids(principal);
    if (q.meter !== undefined && grids !== null) {
      const householdId = store.registry.meter(q.meter)?.householdId;
      if (householdId === undefined) throw forbiddenMeter(q.meter);
      access.assertHousehold(principal, householdId);
    }
    if (q.from !== undefined && q.to !== undefined && q.from >= q.to) {
      throw new CareflowError('ERR_API_VALIDATION', 'The query string is not valid (to)', [
        { path: 'to', message: 'must be after from' },
      ]);
    }
    return { meterId: q.meter, code: q.code, from: q.from, to: q.to, grids };
  }

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/deadletters',
    summary: 'Rejected input from meters (reason code, payload excerpt), newest first, in your grids',
    tags: ['operations'],
    permission: 'deadletters:read',
    query: DeadLetterQuery,
    responses: {
      200: {
        description: 'A page of dead letters; `next.before` asks for the next page',
        schema: z.object({
          deadLetters: z.array(DeadLetterSchema),
          next: z.object({ before: z.number().int() }).nullable(),
        }),
      },
    },
    handler: async ({ principal, query }) => {
      const filter = scopedFilter(principal, query);
      const deadLetters = await letters.list({ ...filter, beforeId: query.before, limit: query.limit });
      const last = deadLetters[deadLetters.length - 1];
      return {
        deadLetters,
        next: deadLetters.length === query.limit && last ? { before: last.id } : null,
      };
    },
  });

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/deadletters/counts',
    summary: 'Dead letters by reason code, with the same filters and scope as the list',
    tags: ['operations'],
    permission: 'deadletters:read',
    query: DeadLetterCountsQuery,
    responses: {
      200: {
        description: 'Dead letters by reason code, and their total',
        schema: z.object({ counts: z.record(z.string(), z.number().int()), total: z.number().int() }),
      },
    },
    handler: async ({ principal, query }) => {
      const counts = await letters.countsByCode(scopedFilter(principal, query));
      return { counts, total: Object.values(counts).reduce((a, b) => a + b, 0) };
    },
  });
}

function forbiddenMeter(meterId: string): CareflowError {
  return new CareflowError(
    'ERR_API_FORBIDDEN',
    `You may not access meter ${meterId}: it is outside your grids or area`,
  );
}
