import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AlertState, Outcome, type AlertActions } from '../../core/alerts.ts';
import type { Clock } from '../../core/clock.ts';
import { CareflowError } from '../../core/errors.ts';
import type { Store } from '../../core/store/store.ts';
import type { Actor } from '../auth.ts';
import { parseInput } from '../validate.ts';

/**
 * `/api/alerts`: list, detail with timeline, acknowledge, resolve. Times are epoch ms, as stored.
 * State changes go through `AlertActions`, so the API and the worker app follow the same lifecycle rules.
 */
export interface AlertRoutesDeps {
  store: Store;
  alerts: AlertActions;
  clock: Clock;
}

const NOTE_MAX = 2000;
const Id = z.string().min(1).max(100);
const Note = z.string().max(NOTE_MAX, `at most ${NOTE_MAX} characters`);

export const ListQuery = z.strictObject({
  state: AlertState.optional(),
  grid: Id.optional(),
  household: Id.optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'expected an integer from 1 to 1000')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .default(200),
});
export const AlertParams = z.strictObject({ id: Id });
export const AckBody = z.strictObject({ note: Note.optional() }).optional();
export const ResolveBody = z.strictObject({ outcome: Outcome, note: Note.nullable().optional() });

export function alertRoutes(app: FastifyInstance, deps: AlertRoutesDeps, actor: Actor): void {
  const { store, alerts, clock } = deps;

  app.get('/alerts', async (request) => {
    const q = parseInput(ListQuery, request.query, 'query string');
    return {
      alerts: store.alerts.list({ state: q.state, grid: q.grid, householdId: q.household, limit: q.limit }),
    };
  });

  app.get('/alerts/:id', async (request) => {
    const { id } = parseInput(AlertParams, request.params, 'path');
    const alert = store.alerts.get(id);
    if (!alert) throw new CareflowError('ERR_ALERT_NOT_FOUND', `No alert ${id}`);
    return { alert, timeline: store.alerts.timeline(id) };
  });

  app.post('/alerts/:id/ack', async (request) => {
    const { id } = parseInput(AlertParams, request.params, 'path');
    const body = parseInput(AckBody, request.body, 'body');
    // AlertActions.acknowledge takes no note: the note becomes a timeline entry in the same transaction.
    const alert = store.transaction(() => {
      const acknowledged = alerts.acknowledge(id, actor);
      if (body?.note) {
        store.alerts.addTimeline(id, { at: clock.now(), kind: 'note', actor, detail: { note: body.note } });
      }
      return acknowledged;
    });
    return { alert };
  });

  app.post('/alerts/:id/resolve', async (request) => {
    const { id } = parseInput(AlertParams, request.params, 'path');
    const body = parseInput(ResolveBody, request.body, 'body');
    return { alert: alerts.resolve(id, actor, body.outcome, body.note ?? null) };
  });
}
