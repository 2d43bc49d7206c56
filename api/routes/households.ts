import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { CareflowError } from '../../core/errors.ts';
import type { LocalTime } from '../../core/local-time.ts';
import type { Household } from '../../core/registry.ts';
import type { Store } from '../../core/store/store.ts';
import { parseTimeRange } from '../time-range.ts';
import { usageSeries } from '../usage-series.ts';
import { parseInput } from '../validate.ts';

/** `/api/households/:id` (the registry record and the grid's workers, no secrets) and its usage buckets. */
export interface HouseholdRoutesDeps {
  store: Store;
  clock: Clock;
  localTime: LocalTime;
  bucketMinutes: number;
}

export const HouseholdParams = z.strictObject({ id: z.string().min(1).max(64) });

export function householdRoutes(app: FastifyInstance, deps: HouseholdRoutesDeps): void {
  const { store, clock, localTime, bucketMinutes } = deps;

  function mustGetHousehold(params: unknown): Household {
    const { id } = parseInput(HouseholdParams, params, 'path');
    const household = store.registry.household(id);
    if (!household) throw new CareflowError('ERR_HOUSEHOLD_NOT_FOUND', `No household ${id}`);
    return household;
  }

  app.get('/households/:id', async (request) => {
    const household = mustGetHousehold(request.params);
    return { household, workers: store.registry.workersOfGrid(household.gridCode) };
  });

  app.get('/households/:id/usage', async (request) => {
    const household = mustGetHousehold(request.params);
    const { from, to } = parseTimeRange(request.query, clock.now());
    const stored = store.usage.range(household.id, from, to);
    return {
      householdId: household.id,
      bucketMinutes,
      from,
      to,
      buckets: usageSeries(stored, from, to, localTime),
    };
  });
}
