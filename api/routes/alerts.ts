import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AlertState, Outcome, type Alert } from '../../core/alerts.ts';
import type { Principal } from '../../core/access.ts';
import { CareflowError } from '../../core/errors.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { limitParam } from '../validate.ts';
import type { ActingPerson, AlertDesk } from '../../notifier/alert-desk.ts';
import {
  AlertAnswer,
  AlertListItemSchema,
  AlertSchema,
  Next,
  TimelineEntrySchema,
} from '../response-schemas.ts';

/**
 * `/api/alerts`: list, detail with timeline, acknowledge, resolve, comment, reopen — each limited to the
 * caller's grids.
 * Reads and state changes go through an `AlertDesk` (notifier/alert-desk.ts): the embedded store's, whose actions
 * are `AlertActions` (the worker app follows the same lifecycle rules), or a cluster worker's on PostgreSQL.
 */
const NOTE_MAX = 2000;
const Id = z.string().min(1).max(100);
const Note = z.string().max(NOTE_MAX, `at most ${NOTE_MAX} characters`);

export const ListQuery = z.strictObject({
  state: AlertState.optional(),
  grid: Id.optional(),
  household: Id.optional(),
  limit: limitParam(),
  /** `next` of the previous page. */
  cursor: z.string().max(200).optional(),
});
const AlertCursor = z.tuple([z.number().int(), z.string()]);
export const AlertParams = z.strictObject({ id: Id });
export const AckBody = z.strictObject({ note: Note.optional() }).optional();
export const ResolveBody = z.strictObject({ outcome: Outcome, note: Note.nullable().optional() });
const Text = z.string().trim().min(1, 'must not be empty').max(NOTE_MAX, `at most ${NOTE_MAX} characters`);
export const CommentBody = z.strictObject({ text: Text });
export const ReopenBody = z.strictObject({ reason: Text });

export function alertRoutes(app: FastifyInstance, ctx: ApiContext, desk: AlertDesk): void {
  const { access } = ctx;

  /**
   * The alert, if the caller may see it. One outside their scope answers as if there were none (404): whether
   * an alert exists, and whose household it concerns, is not told to someone who may not see it.
   */
  async function visibleAlert(principal: Principal, id: string): Promise<Alert> {
    const alert = await desk.get(id);
    if (!alert || !access.alertVisible(principal, alert))
      throw new CareflowError('ERR_ALERT_NOT_FOUND', `No alert ${id}`);
    return alert;
  }
  const by = (principal: Principal, ip: string): ActingPerson => ({ actor: principal.id, ip });

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/alerts',
    summary:
      'List alerts in your grids, newest first, each with its address, message and escalation level; `next` pages on',
    tags: ['alerts'],
    permission: 'alerts:read',
    query: ListQuery,
    responses: {
      200: {
        description: 'A page of alerts',
        schema: z.object({ alerts: z.array(AlertListItemSchema), next: Next }),
      },
    },
    handler: async ({ principal, query: q }) => {
      if (q.grid) access.assertGrid(principal, q.grid);
      if (q.household) access.assertHousehold(principal, q.household);
      const grids = access.visibleGrids(principal);
      const households = access.visibleHouseholds(principal);
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, AlertCursor);
      const alerts = await desk.page({
        state: q.state,
        grid: q.grid,
        householdId: q.household,
        grids: households ? null : grids,
        householdIds: households,
        limit: q.limit,
        ...(after ? { after: { openedAt: after[0], id: after[1] } } : {}),
      });
      const last = alerts[alerts.length - 1];
      return {
        alerts,
        next: alerts.length === q.limit && last ? encodeCursor([last.openedAt, last.id]) : null,
      };
    },
  });

  defineRoute(app, ctx, {
    method: 'GET',
    url: '/alerts/:id',
    summary: 'One alert with its timeline',
    tags: ['alerts'],
    permission: 'alerts:read',
    params: AlertParams,
    responses: {
      200: {
        description: 'The alert and its timeline, oldest first',
        schema: z.object({ alert: AlertSchema, timeline: z.array(TimelineEntrySchema) }),
      },
    },
    handler: async ({ principal, params }) => {
      const alert = await visibleAlert(principal, params.id);
      return { alert, timeline: await desk.timeline(alert.id) };
    },
  });

  defineRoute(app, ctx, {
    method: 'POST',
    url: '/alerts/:id/ack',
    summary: 'Acknowledge an open alert (optionally with a note)',
    tags: ['alerts'],
    permission: 'alerts:act',
    params: AlertParams,
    body: AckBody,
    responses: { 200: { description: 'The acknowledged alert', schema: AlertAnswer } },
    handler: async ({ principal, params, body, request }) => {
      const existing = await visibleAlert(principal, params.id);
      return { alert: await desk.acknowledge(existing, by(principal, request.ip), body?.note) };
    },
  });

  defineRoute(app, ctx, {
    method: 'POST',
    url: '/alerts/:id/resolve',
    summary: 'Close an alert with an outcome',
    tags: ['alerts'],
    permission: 'alerts:act',
    params: AlertParams,
    body: ResolveBody,
    responses: { 200: { description: 'The resolved alert', schema: AlertAnswer } },
    handler: async ({ principal, params, body, request }) => {
      const existing = await visibleAlert(principal, params.id);
      const alert = await desk.resolve(existing, by(principal, request.ip), body.outcome, body.note ?? null);
      return { alert };
    },
  });

  defineRoute(app, ctx, {
    method: 'POST',
    url: '/alerts/:id/comment',
    summary: "Add a comment to an alert's timeline (any state)",
    tags: ['alerts'],
    permission: 'alerts:act',
    params: AlertParams,
    body: CommentBody,
    responses: { 200: { description: 'The alert (the comment is on its timeline)', schema: AlertAnswer } },
    handler: async ({ principal, params, body, request }) => {
      const existing = await visibleAlert(principal, params.id);
      return { alert: await desk.comment(existing, by(principal, request.ip), body.text) };
    },
  });

  defineRoute(app, ctx, {
    method: 'POST',
    url: '/alerts/:id/reopen',
    summary: 'Reopen an acknowledged or resolved alert; its escalation chain starts over',
    tags: ['alerts'],
    permission: 'alerts:act',
    params: AlertParams,
    body: ReopenBody,
    responses: {
      200: { description: 'The reopened alert', schema: AlertAnswer },
      409: 'Already open, or another open alert of the rule exists',
    },
    handler: async ({ principal, params, body, request }) => {
      const existing = await visibleAlert(principal, params.id);
      return { alert: await desk.reopen(existing, by(principal, request.ip), body.reason) };
    },
  });
}
