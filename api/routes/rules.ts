import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../../core/access.ts';
import { CareflowError } from '../../core/errors.ts';
import {
  GLOBAL_CODE,
  RuleOverride,
  RuleScopeLevel,
  scopeName,
  type RuleAdmin,
  type RuleScope,
} from '../../core/rules.ts';
import type { Store } from '../../core/store/store.ts';
import type { AccessPolicy } from '../access-policy.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { EffectiveRulesSchema, RuleChangeSchema } from '../response-schemas.ts';

/**
 * `/api/rules`: the rule hierarchy. Effective rules of a household with the source of every value; the
 * overrides of a scope; changing them (validated, versioned, audited, applied to the running detectors at
 * once); a scope's change history. People act within their own part of the organisation: community staff
 * on their community, its grids and households; street staff on their street; only admins globally.
 */
const Code = z.string().min(1).max(64);
const ScopeParams = z.strictObject({ scope: RuleScopeLevel, code: Code });
const EffectiveQuery = z.strictObject({ household: Code });
const HistoryQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'expected an integer from 1 to 1000')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .default(100),
});
export const RuleChangeBody = z.strictObject({
  /** Rule id → its new override at this scope (replacing the scope's previous one), or null to remove it. */
  rules: z.record(z.string(), RuleOverride.nullable()),
  reason: z.string().trim().min(1, 'say why the rules change').max(500),
});

function scopeOf(params: { scope: RuleScope['level']; code: string }): RuleScope {
  if (params.scope === 'global' && params.code !== GLOBAL_CODE)
    throw new CareflowError('ERR_API_VALIDATION', 'The global scope is /rules/global/all', [
      { path: 'code', message: `must be "${GLOBAL_CODE}" for the global scope` },
    ]);
  return { level: params.scope, code: params.code };
}

/** The parts of the embedded store a check of the caller's scope reads: the places of scopes. */
export type ScopeTables = Pick<Store, 'rules'>;

/**
 * Throws 403 unless the principal answers for the scope: admins for everything; a street for its street
 * and everything below; a community for itself and below; a grid for its grid and households.
 */
export function assertScope(
  store: ScopeTables,
  access: AccessPolicy,
  principal: Principal,
  scope: RuleScope,
): void {
  if (principal.scope.all) return;
  const forbidden = () =>
    new CareflowError('ERR_API_FORBIDDEN', `You may not act on ${scopeName(scope)}: it is outside your area`);
  if (scope.level === 'global') throw forbidden();
  if (scope.level === 'household') {
    access.assertHousehold(principal, scope.code);
    return;
  }
  if (scope.level === 'grid' || scope.level === 'building') {
    const grid = store.rules.scopePlace(scope)?.grid;
    if (grid === undefined) return; // not found is answered by the handler
    access.assertGrid(principal, grid);
    return;
  }
  // A district spans street offices: only admins act on it.
  if (scope.level === 'district') throw forbidden();
  const place = store.rules.scopePlace(scope);
  if (!place) return;
  const s = principal.scope;
  const ok =
    (place.street !== undefined && s.streets.includes(place.street)) ||
    (scope.level === 'community' && s.communities.includes(scope.code));
  if (!ok) throw forbidden();
}

export function ruleRoutes(admin: RuleAdmin) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    const { store, access, clock } = ctx;

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/rules/effective',
      summary: "A household's effective rules, where each value comes from, and what was learned",
      tags: ['rules'],
      permission: 'rules:read',
      query: EffectiveQuery,
      responses: { 200: { description: "The household's effective rules", schema: EffectiveRulesSchema } },
      handler: ({ principal, query }) => {
        access.assertHousehold(principal, query.household);
        return admin.effective(query.household);
      },
    });

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/rules/:scope/:code',
      summary: 'The rule overrides one scope sets',
      tags: ['rules'],
      permission: 'rules:read',
      params: ScopeParams,
      responses: {
        200: {
          description: 'The overrides the scope sets, by rule id',
          schema: z.object({
            scope: z.string(),
            rulesVersion: z.number().int(),
            rules: z.record(z.string(), RuleOverride),
          }),
        },
      },
      handler: ({ principal, params }) => {
        const scope = scopeOf(params);
        assertScope(store, access, principal, scope);
        if (!store.rules.scopePlace(scope)) throw notFound(scope);
        return { scope: scopeName(scope), rulesVersion: admin.version(), rules: admin.overrides(scope) };
      },
    });

    defineRoute(app, ctx, {
      method: 'PUT',
      url: '/rules/:scope/:code',
      summary: 'Set rule overrides at a scope (validated, versioned, audited, applied at once)',
      tags: ['rules'],
      permission: 'rules:write',
      params: ScopeParams,
      body: RuleChangeBody,
      responses: {
        200: {
          description: 'The new rules version and what changed',
          schema: z.object({
            scope: z.string(),
            rulesVersion: z.number().int(),
            changes: z.array(RuleChangeSchema),
          }),
        },
      },
      handler: async ({ principal, params, body, audit }) => {
        const scope = scopeOf(params);
        assertScope(store, access, principal, scope);
        const by = { actor: principal.id, at: clock.now(), reason: body.reason };
        const result = await admin.set(scope, body.rules, by, (r) =>
          audit('rules.change', scopeName(scope), store.rules.scopePlace(scope)?.grid ?? null, {
            version: r.version,
            reason: body.reason,
            changes: r.changes.map((c) => ({ ruleId: c.ruleId, old: c.old, new: c.new })),
          }),
        );
        return { scope: scopeName(scope), rulesVersion: result.version, changes: result.changes };
      },
    });

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/rules/:scope/:code/history',
      summary: "A scope's rule changes, newest first: who, when, old → new, why",
      tags: ['rules'],
      permission: 'rules:read',
      params: ScopeParams,
      query: HistoryQuery,
      responses: {
        200: {
          description: 'Changes, newest first',
          schema: z.object({ scope: z.string(), changes: z.array(RuleChangeSchema) }),
        },
      },
      handler: ({ principal, params, query }) => {
        const scope = scopeOf(params);
        assertScope(store, access, principal, scope);
        if (!store.rules.scopePlace(scope)) throw notFound(scope);
        return { scope: scopeName(scope), changes: admin.history(scope, query.limit) };
      },
    });
  };
}

function notFound(scope: RuleScope): CareflowError {
  return scope.level === 'household'
    ? new CareflowError('ERR_HOUSEHOLD_NOT_FOUND', `No household ${scope.code}`)
    : new CareflowError('ERR_SCOPE_NOT_FOUND', `No ${scope.level} ${scope.code}`);
}
