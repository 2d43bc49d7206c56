import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Role } from '../../core/access.ts';
import { CareflowError } from '../../core/errors.ts';
import type { ApiKeyRecord } from '../../core/store/access-repo.ts';
import { API_KEY_PREFIX, sha256 } from '../authenticate.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { ApiKeySchema } from '../response-schemas.ts';

const Code = z.string().min(1).max(64);
const KeyBody = z.strictObject({
  name: z.string().min(1).max(200),
  // Neighbours and relatives are people with a place, never integrations.
  role: Role.exclude(['building-head', 'unit-head', 'family']),
  streets: z.array(Code).default([]),
  communities: z.array(Code).default([]),
  grids: z.array(Code).default([]),
  /** `ingest` keys only: meters the key may post readings for (besides those of its area). */
  meters: z.array(Code).max(100_000).default([]),
});
const KeyParams = z.strictObject({ id: z.string().min(1).max(64) });

/** Where API keys are made and revoked: the embedded store (default), or a cluster's shared keys. */
export interface ApiKeyWriter {
  create(record: Omit<ApiKeyRecord, 'revokedAt'>, keyHash: string): Promise<void>;
  /** False: no active key of that id. */
  revoke(id: string, at: number, by: string): Promise<boolean>;
}

/** API keys for integrations (SMS gateways, city dashboards): created once, shown once, stored hashed. */
export function apiKeyRoutes(app: FastifyInstance, ctx: ApiContext, writer?: ApiKeyWriter): void {
  const keys: ApiKeyWriter = writer ?? {
    create: (record, hash) => Promise.resolve(ctx.store.access.createApiKey(record, hash)),
    revoke: (id, at) => Promise.resolve(ctx.store.access.revokeApiKey(id, at)),
  };
  defineRoute(app, ctx, {
    method: 'POST',
    url: '/api-keys',
    summary: 'Create an API key with a role and a scope (the key is shown only in this answer)',
    tags: ['access'],
    permission: 'apikeys:manage',
    body: KeyBody,
    responses: {
      200: {
        description: 'The key record and the key itself (shown only here)',
        schema: ApiKeySchema.omit({ revokedAt: true }).extend({ key: z.string() }),
      },
    },
    handler: async ({ body, principal, audit }) => {
      // A monitor key reads only /metrics, which covers every grid: it has no scope to name.
      const all = body.role === 'admin' || body.role === 'monitor';
      if (body.meters.length > 0 && body.role !== 'ingest') {
        throw new CareflowError('ERR_API_VALIDATION', 'Only an ingest key is limited to a list of meters', [
          { path: 'meters', message: 'meters applies to role ingest only' },
        ]);
      }
      if (
        !all &&
        body.streets.length + body.communities.length + body.grids.length + body.meters.length === 0
      ) {
        throw new CareflowError(
          'ERR_API_VALIDATION',
          'A non-admin key needs at least one street, community or grid',
          [{ path: 'grids', message: 'name the streets, communities or grids this key may see' }],
        );
      }
      const id = randomBytes(6).toString('hex');
      const key = API_KEY_PREFIX + randomBytes(24).toString('base64url');
      const scope = {
        all,
        streets: body.streets,
        communities: body.communities,
        grids: body.grids,
        ...(body.meters.length > 0 ? { meters: body.meters } : {}),
      };
      const record = {
        id,
        name: body.name,
        role: body.role,
        scope,
        createdAt: ctx.clock.now(),
        createdBy: principal.id,
      };
      await keys.create(record, sha256(key).toString('hex'));
      audit('apikey.create', id, null, { name: body.name, role: body.role, scope });
      return { ...record, key };
    },
  });
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/api-keys',
    summary: 'List API keys (never the keys themselves)',
    tags: ['access'],
    permission: 'apikeys:manage',
    responses: {
      200: {
        description: 'Every API key, revoked ones too',
        schema: z.object({ apiKeys: z.array(ApiKeySchema) }),
      },
    },
    handler: () => ({ apiKeys: ctx.store.access.apiKeys() }),
  });
  defineRoute(app, ctx, {
    method: 'DELETE',
    url: '/api-keys/:id',
    summary: 'Revoke an API key',
    tags: ['access'],
    permission: 'apikeys:manage',
    params: KeyParams,
    responses: { 200: { description: 'The key is revoked', schema: z.object({ revoked: z.string() }) } },
    handler: async ({ params, principal, audit }) => {
      if (!(await keys.revoke(params.id, ctx.clock.now(), principal.id))) {
        throw new CareflowError('ERR_API_NOT_FOUND', `No active API key ${params.id}`);
      }
      audit('apikey.revoke', params.id, null);
      return { revoked: params.id };
    },
  });
}
