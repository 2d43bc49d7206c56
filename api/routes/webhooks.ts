import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../../core/access.ts';
import { CareflowError } from '../../core/errors.ts';
import type { WebhookEndpoint } from '../../core/store/webhook-repo.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { WebhookSchema } from '../response-schemas.ts';

const WebhookAnswer = z.object({ webhook: WebhookSchema });

const Code = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'letters, digits and . _ : - (1-64)');
export const WebhookParams = z.strictObject({ id: Code });
export const WebhookOwner = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('worker'), id: Code }),
  z.strictObject({ kind: z.enum(['grid', 'community', 'street']), code: Code }),
  z.strictObject({ kind: z.literal('global') }),
]);
export const WebhookBody = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).max(2000),
  /** Signs every call (HMAC-SHA256). Required for a new endpoint; omitted on an update it is kept. */
  secret: z.string().min(16, 'at least 16 characters').max(256).optional(),
  owner: WebhookOwner,
  enabled: z.boolean().default(true),
});

/**
 * Webhook endpoints (docs/webhooks.md): `PUT /api/webhooks/{id}` creates or replaces one, `GET /api/webhooks`
 * lists them (secrets are never returned), `DELETE /api/webhooks/{id}` removes one. An endpoint makes careflow
 * call a URL of the operator's choosing from inside the network, so only admins (operators) manage them.
 */
/**
 * Where endpoints are written: the embedded store (default; the row and the audit entry in one transaction), or a
 * cluster's shared registry (registry/shared-webhooks.ts). `audit` writes the action's audit entry.
 */
export interface WebhookWriter {
  /** Creates or replaces the endpoint; whether it is new. */
  put(e: Omit<WebhookEndpoint, 'createdAt'>, at: number, audit: () => void): Promise<boolean>;
  /** Removes it; false when there was none. */
  delete(id: string, by: { actor: string; at: number }, audit: () => void): Promise<boolean>;
}

function storeWriter(ctx: ApiContext): WebhookWriter {
  const { store } = ctx;
  return {
    put: (e, at, audit) =>
      Promise.resolve(
        store.transaction(() => {
          const isNew = store.webhooks.put(e, at);
          audit();
          return isNew;
        }),
      ),
    delete: (id, _by, audit) =>
      Promise.resolve(
        store.transaction(() => {
          const ok = store.webhooks.delete(id);
          if (ok) audit();
          return ok;
        }),
      ),
  };
}

export function webhookRoutes(app: FastifyInstance, ctx: ApiContext, writer = storeWriter(ctx)): void {
  const { store, clock } = ctx;

  defineRoute(app, ctx, {
    method: 'PUT',
    url: '/webhooks/:id',
    summary: "Create or replace a webhook endpoint (a person's or a scope's); admins only",
    tags: ['webhooks'],
    permission: 'escalation:write',
    params: WebhookParams,
    body: WebhookBody,
    responses: {
      200: { description: 'The endpoint was replaced', schema: WebhookAnswer },
      201: { description: 'The endpoint was created', schema: WebhookAnswer },
    },
    handler: async ({ principal, params, body, reply, audit }) => {
      assertOperator(principal);
      const owner =
        body.owner.kind === 'worker'
          ? { kind: 'worker' as const, code: body.owner.id }
          : body.owner.kind === 'global'
            ? { kind: 'global' as const, code: 'all' }
            : { kind: body.owner.kind, code: body.owner.code };
      const exists =
        owner.kind === 'worker'
          ? store.escalation.person(owner.code) !== undefined
          : owner.kind === 'global' || store.escalation.scopeExists(owner.kind, owner.code);
      if (!exists) throw new CareflowError('ERR_SCOPE_NOT_FOUND', `No ${owner.kind} ${owner.code}`);
      const previous = store.webhooks.get(params.id);
      const secret = body.secret ?? previous?.secret;
      if (secret === undefined) {
        throw new CareflowError('ERR_API_VALIDATION', 'A new webhook endpoint needs a secret', [
          { path: 'secret', message: 'required for a new endpoint' },
        ]);
      }
      const at = clock.now();
      const created = await writer.put(
        {
          id: params.id,
          url: body.url,
          secret,
          owner,
          enabled: body.enabled,
          updatedAt: at,
          updatedBy: principal.id,
        },
        at,
        () =>
          audit('webhook.put', params.id, owner.kind === 'grid' ? owner.code : null, {
            url: body.url,
            owner,
            enabled: body.enabled,
            secretChanged: body.secret !== undefined && body.secret !== previous?.secret,
          }),
      );
      void reply.code(created ? 201 : 200);
      return { webhook: publicView(store.webhooks.get(params.id)!) };
    },
  });

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/webhooks',
    summary: 'List webhook endpoints (without secrets); admins only',
    tags: ['webhooks'],
    permission: 'escalation:write',
    responses: {
      200: {
        description: 'Every endpoint, without secrets',
        schema: z.object({ webhooks: z.array(WebhookSchema) }),
      },
    },
    handler: ({ principal }) => {
      assertOperator(principal);
      return { webhooks: store.webhooks.list().map(publicView) };
    },
  });

  defineRoute(app, ctx, {
    method: 'DELETE',
    url: '/webhooks/:id',
    summary: 'Remove a webhook endpoint (its undelivered messages fail); admins only',
    tags: ['webhooks'],
    permission: 'escalation:write',
    params: WebhookParams,
    responses: { 200: { description: 'The endpoint is removed', schema: z.object({ deleted: z.string() }) } },
    handler: async ({ principal, params, audit }) => {
      assertOperator(principal);
      const removed = await writer.delete(params.id, { actor: principal.id, at: clock.now() }, () =>
        audit('webhook.delete', params.id, null, {}),
      );
      if (!removed) throw new CareflowError('ERR_WEBHOOK_NOT_FOUND', `No webhook endpoint ${params.id}`);
      return { deleted: params.id };
    },
  });
}

function assertOperator(principal: Principal): void {
  if (principal.role !== 'admin') {
    throw new CareflowError(
      'ERR_API_FORBIDDEN',
      'Webhook endpoints are managed by operators (admin): they make careflow call URLs inside your network',
    );
  }
}

function publicView(w: WebhookEndpoint) {
  return {
    id: w.id,
    url: w.url,
    owner: w.owner,
    enabled: w.enabled,
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
    updatedBy: w.updatedBy,
  };
}
