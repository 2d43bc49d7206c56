import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AlertEvent, AlertFeed } from '../../core/alerts.ts';
import { CareflowError } from '../../core/errors.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { AlertEventSchema } from '../response-schemas.ts';

/** A consumer that falls this far behind is disconnected; it resumes with `Last-Event-ID`. */
const MAX_BUFFERED_BYTES = 1_048_576;
const REPLAY_PAGE = 500;

const EventId = z
  .string()
  .regex(/^\d{1,15}$/, 'expected an event id (digits)')
  .transform(Number);
export const EventsQuery = z.strictObject({
  lastEventId: EventId.optional(),
  /** `false`: answer once, as JSON, with what came after `lastEventId` (for clients that poll). */
  follow: z.enum(['true', 'false']).default('true'),
});
/** Most events one polling answer carries; ask again from its `lastEventId` for more. */
const POLL_LIMIT = 1000;

/**
 * `GET /api/events`: server-sent events for consoles — every alert timeline entry (opened, deliveries,
 * escalations, acknowledgement, comments, resolution…) of the grids the caller may see, as `event: alert`
 * with the entry's id. A comment line every `heartbeatMs` (real time) keeps idle connections open. A client
 * that reconnects with `Last-Event-ID` (or `?lastEventId=`) first gets what it missed, also across restarts.
 * With `?follow=false` the answer is one JSON document `{ events, lastEventId }` instead of a stream.
 */
export function eventRoutes(feed: AlertFeed, heartbeatMs: number) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    const open = new Set<() => void>();
    app.addHook('preClose', (done) => {
      for (const close of [...open]) close();
      done();
    });

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/events',
      summary: 'Alert events of your grids as server-sent events (text/event-stream)',
      tags: ['alerts'],
      permission: 'events:read',
      query: EventsQuery,
      responses: {
        200: {
          description:
            'A text/event-stream of `alert` events (each `data:` one event as in `events`); ids resume with ' +
            'Last-Event-ID. With `follow=false`: one JSON answer',
          schema: z.object({
            events: z.array(AlertEventSchema),
            lastEventId: z.number().int().describe('ask again with this lastEventId for what follows'),
          }),
          media: { 'text/event-stream': z.string() },
        },
      },
      handler: ({ request, reply, principal, query }) => {
        const header = request.headers['last-event-id'];
        let resumeAfter = query.lastEventId;
        if (typeof header === 'string' && header !== '') {
          const parsed = EventId.safeParse(header);
          if (!parsed.success) {
            throw new CareflowError('ERR_API_VALIDATION', 'Last-Event-ID must be an event id (digits)', [
              { path: 'Last-Event-ID', message: 'expected an event id (digits)' },
            ]);
          }
          resumeAfter = parsed.data;
        }
        const visible = (e: AlertEvent) =>
          ctx.access.householdVisible(principal, e.alert.householdId, e.alert.grid);

        if (query.follow === 'false') {
          const after = resumeAfter ?? feed.latestId();
          const page = feed.since(after, POLL_LIMIT);
          return {
            events: page.filter(visible),
            lastEventId: page.length > 0 ? page[page.length - 1]!.id : Math.min(after, feed.latestId()),
          };
        }

        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write(': careflow alert events\nretry: 5000\n\n');

        let closed = false;
        const send = (events: AlertEvent[]): void => {
          if (closed) return;
          let out = '';
          for (const e of events) if (visible(e)) out += format(e);
          if (out === '') return;
          res.write(out);
          if (res.writableLength > MAX_BUFFERED_BYTES) close();
        };

        if (resumeAfter !== undefined) {
          let after = resumeAfter;
          for (;;) {
            const page = feed.since(after, REPLAY_PAGE);
            if (page.length === 0) break;
            send(page);
            after = page[page.length - 1]!.id;
          }
        }
        const unsubscribe = feed.subscribe(send);
        const heartbeat = setInterval(() => res.write(`: heartbeat ${ctx.clock.now()}\n\n`), heartbeatMs);
        heartbeat.unref();
        function close(): void {
          if (closed) return;
          closed = true;
          clearInterval(heartbeat);
          unsubscribe();
          open.delete(close);
          res.end();
        }
        open.add(close);
        res.on('close', close);
        res.on('error', close);
      },
    });
  };
}

function format(e: AlertEvent): string {
  return `id: ${e.id}\nevent: alert\ndata: ${JSON.stringify(e)}\n\n`;
}
