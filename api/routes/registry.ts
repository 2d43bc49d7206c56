import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { hasPermission } from '../../core/access.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { limitParam } from '../validate.ts';
import { HouseholdListItemSchema, Next } from '../response-schemas.ts';
import type { HouseholdListItem } from '../../core/store/console-repo.ts';

/**
 * Registry lists for the console, each limited to the caller's grids or area, searchable and paged with a
 * cursor: `GET /api/households` (with each household's status and last reading) and
 * `GET /api/registry/{streets|communities|grids|workers|meters}`.
 */
const Search = z.string().trim().max(100).optional();
const Code = z.string().min(1).max(64);
export const HouseholdListQuery = z.strictObject({
  grid: Code.optional(),
  q: Search,
  cursor: z.string().max(200).optional(),
  limit: limitParam(50, 500),
});
export const RegistryParams = z.strictObject({
  kind: z.enum(['streets', 'communities', 'grids', 'workers', 'meters']),
});
export const RegistryQuery = z.strictObject({
  q: Search,
  cursor: z.string().max(200).optional(),
  limit: limitParam(50, 500),
});
const KeyCursor = z.string().max(200);

const Count = z.number().int();
/** One row of `/registry/:kind`, by kind (`grids` and `areas` of workers: codes separated by spaces). */
const RegistryItem = z.union([
  z.strictObject({ code: z.string(), name: z.string(), communities: Count }).describe('streets'),
  z
    .strictObject({ code: z.string(), name: z.string(), street: z.string(), grids: Count })
    .describe('communities'),
  z
    .strictObject({ code: z.string(), name: z.string(), community: z.string(), households: Count })
    .describe('grids'),
  z
    .strictObject({
      id: z.string(),
      name: z.string(),
      role: z.string(),
      grids: z.string().nullable(),
      areas: z.string().nullable(),
    })
    .describe('workers'),
  z
    .strictObject({
      id: z.string(),
      household: z.string(),
      address: z.string(),
      grid: z.string(),
      active: Count.describe('1 active, 0 retired'),
      reportEveryMinutes: z.number().nullable(),
    })
    .describe('meters'),
]);

/** What a household list shows besides the registry: its last reading and its open alerts. */
export type HouseholdFacts = Pick<HouseholdListItem, 'lastReadingAt' | 'openAlerts' | 'meterSilent'>;

/**
 * `facts`: where the list's readings and alerts come from when they are not in the embedded store (a cluster
 * worker's: PostgreSQL); by default the store's own.
 */
export function registryRoutes(
  app: FastifyInstance,
  ctx: ApiContext,
  facts?: (householdIds: readonly string[]) => Promise<Map<string, HouseholdFacts>>,
): void {
  const { store, access, clock } = ctx;

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/households',
    summary:
      'Households of your grids (building and unit heads, family: the households they look after) with their status (open alerts, silent meter, away) and last reading; `q` searches address and id',
    tags: ['households'],
    permission: 'households:read',
    query: HouseholdListQuery,
    responses: {
      200: {
        description: 'A page of households',
        schema: z.object({ households: z.array(HouseholdListItemSchema), next: Next }),
      },
    },
    handler: async ({ principal, query }) => {
      if (query.grid) access.assertGrid(principal, query.grid);
      const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor, KeyCursor);
      // Building and unit heads and family: exactly the households they look after (no grid at all).
      const mine = access.visibleHouseholds(principal);
      const listed = store.console.householdPage(mine === null ? access.visibleGrids(principal) : null, {
        ...(mine !== null ? { householdIds: mine } : {}),
        ...(query.grid ? { grid: query.grid } : {}),
        ...(query.q ? { search: query.q } : {}),
        ...(afterId !== undefined ? { afterId } : {}),
        limit: query.limit,
        now: clock.now(),
      });
      const known = facts ? await facts(listed.map((h) => h.id)) : undefined;
      const page = known ? listed.map((h) => ({ ...h, ...known.get(h.id) })) : listed;
      // Who may not read water use does not learn when the meter last read either.
      const households = hasPermission(principal, 'usage:read')
        ? page
        : page.map((h) => ({ ...h, lastReadingAt: null }));
      const last = households[households.length - 1];
      return {
        households,
        next: households.length === query.limit && last ? encodeCursor(last.id) : null,
      };
    },
  });

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/registry/:kind',
    summary: 'Streets, communities, grids, workers or meters of your area; `q` searches codes and names',
    tags: ['households'],
    permission: 'households:read',
    params: RegistryParams,
    query: RegistryQuery,
    responses: {
      200: {
        description: 'A page of the kind asked for (the fields of one of the item shapes)',
        schema: z.object({ items: z.array(RegistryItem), next: Next }),
      },
    },
    handler: ({ principal, params, query }) => {
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, KeyCursor);
      const rows = store.console.registryPage(params.kind, access.visibleGrids(principal), {
        ...(query.q ? { search: query.q } : {}),
        ...(after !== undefined ? { after } : {}),
        limit: query.limit,
      });
      const last = rows[rows.length - 1];
      const items = rows.map(({ key: _key, ...rest }) => rest);
      return {
        items,
        next: rows.length === query.limit && last ? encodeCursor(String(last.key)) : null,
      };
    },
  });
}
