import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../../core/access.ts';
import { EscalationScopeLevel, EscalationSettings } from '../../core/alerts.ts';
import { CareflowError } from '../../core/errors.ts';
import { RuleAudience } from '../../core/rules.ts';
import type { Store } from '../../core/store/store.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { EffectiveEscalation, EscalationAnswer } from '../response-schemas.ts';

const Code = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a registry code');
export const ScopeParams = z.strictObject({ scope: EscalationScopeLevel, code: Code });
export const EffectiveQuery = z.strictObject({ household: z.string().min(1).max(64) });

/**
 * Escalation chains per scope: `PUT /api/escalation/{global|district|street|community|grid|building}/{code}` replaces what one
 * scope sets (by audience: welfare, leak, maintenance; `{}` removes it), `GET` reads it, and
 * `GET /api/escalation/effective?household=` shows the chain each audience follows for a household, where it
 * comes from, and who fills each level. The global scope's code is `all`.
 */
/** Where a scope's new chains are written: the embedded store (default), or the cluster's shared one. */
export interface EscalationWriter {
  /** Writes the scope's settings with the audit entry (`old`: what it set before); returns when (epoch ms). */
  put(
    change: {
      level: EscalationScopeLevel;
      code: string;
      settings: EscalationSettings;
      old: EscalationSettings;
    },
    by: { actor: string; ip: string | null },
    grid: string | null,
  ): Promise<number>;
}

/** The embedded store's writer: the settings and the audit entry in one transaction. */
function storeWriter(ctx: ApiContext): EscalationWriter {
  const { store, clock } = ctx;
  return {
    put(change, by, grid) {
      const at = clock.now();
      store.transaction(() => {
        store.escalation.putSettings(change.level, change.code, change.settings, at, by.actor);
        store.audit.add({
          at,
          actor: by.actor,
          action: 'escalation.set',
          target: `${change.level}:${change.code}`,
          grid,
          detail: { old: change.old, new: change.settings },
          ip: by.ip,
        });
      });
      return Promise.resolve(at);
    },
  };
}

export function escalationRoutes(app: FastifyInstance, ctx: ApiContext, writer = storeWriter(ctx)): void {
  const { store, access } = ctx;

  defineRoute(app, ctx, {
    method: 'PUT',
    url: '/escalation/:scope/:code',
    summary: 'Set the escalation chains of a scope (by audience; {} removes them)',
    tags: ['escalation'],
    permission: 'escalation:write',
    params: ScopeParams,
    body: EscalationSettings,
    responses: { 200: { description: 'The chains the scope now sets', schema: EscalationAnswer } },
    handler: async ({ principal, params, body, request }) => {
      const grid = assertCovers(store, principal, params.scope, params.code);
      const old = store.escalation.settings(params.scope, params.code) ?? {};
      const at = await writer.put(
        { level: params.scope, code: params.code, settings: body, old },
        { actor: principal.id, ip: request.ip },
        grid,
      );
      return { scope: params.scope, code: params.code, settings: body, updatedAt: at };
    },
  });

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/escalation/:scope/:code',
    summary: 'The escalation chains one scope sets (absent audiences inherit)',
    tags: ['escalation'],
    permission: 'alerts:read',
    params: ScopeParams,
    responses: { 200: { description: 'The chains the scope sets', schema: EscalationAnswer } },
    handler: ({ principal, params }) => {
      assertCovers(store, principal, params.scope, params.code, true);
      return {
        scope: params.scope,
        code: params.code,
        settings: store.escalation.settings(params.scope, params.code) ?? {},
      };
    },
  });

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/escalation/effective',
    summary: "The chain each audience follows for a household's alerts, and who fills each level",
    tags: ['escalation'],
    permission: 'alerts:read',
    query: EffectiveQuery,
    responses: {
      200: { description: 'Each audience’s chain and the people of each level', schema: EffectiveEscalation },
    },
    handler: ({ principal, query }) => {
      const grid = access.assertHousehold(principal, query.household);
      const chains = Object.fromEntries(
        RuleAudience.options.map((audience) => {
          const { chain, source } = store.escalation.effectiveChain(grid, audience, query.household);
          const levels = store.escalation.resolveLevels(chain, grid, query.household).map((l) => ({
            level: l.index,
            notify: l.notify,
            afterMinutes: l.afterMinutes,
            people: l.people.map((p) => ({ id: p.id, name: p.name, role: p.role })),
          }));
          return [audience, { source, reminderMinutes: chain.reminderMinutes, levels }];
        }),
      );
      return { household: query.household, grid, chains };
    },
  });
}

/**
 * The caller must answer for the whole scope (reading the global scope is open to everyone); the scope must
 * exist. Returns the grid code for grid scopes (for the audit log).
 */
function assertCovers(
  store: Pick<Store, 'escalation'>,
  principal: Principal,
  level: EscalationScopeLevel,
  code: string,
  reading = false,
): string | null {
  const s = principal.scope;
  if (level === 'global') {
    if (code !== 'all') throw new CareflowError('ERR_SCOPE_NOT_FOUND', 'The global scope is named "all"');
    if (!reading && !s.all) throw forbidden('the global escalation settings (admins only)');
    return null;
  }
  if (!store.escalation.scopeExists(level, code)) {
    throw new CareflowError('ERR_SCOPE_NOT_FOUND', `No ${level} ${code}`);
  }
  // A building's chain is its grid's business (the audit entry names the grid).
  const grid =
    level === 'grid' ? code : level === 'building' ? (store.escalation.gridOfBuilding(code) ?? null) : null;
  if (s.all) return grid;
  let covered: boolean;
  if (level === 'district')
    covered = false; // a district spans street offices: admins only
  else if (level === 'street') covered = s.streets.includes(code);
  else if (level === 'community') {
    covered =
      s.communities.includes(code) || s.streets.includes(store.escalation.streetOfCommunity(code) ?? '');
  } else {
    const place = grid === null ? undefined : store.escalation.place(grid);
    covered =
      place !== undefined &&
      (s.grids.includes(place.grid) ||
        s.communities.includes(place.community) ||
        s.streets.includes(place.street));
  }
  if (!covered) throw forbidden(`${level} ${code}`);
  return grid;
}

function forbidden(what: string): CareflowError {
  return new CareflowError(
    'ERR_API_FORBIDDEN',
    `You may not change or read ${what}: it is outside your area`,
  );
}
