import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ManualClock } from '../../core/clock.ts';
import { CareflowError } from '../../core/errors.ts';
import { Timestamp } from '../../core/readings.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';

const ClockBody = z.strictObject({ to: Timestamp });
const ClockAnswer = z.object({
  now: z.number().int().describe('the service time, epoch ms'),
  mode: z.enum(['manual', 'system']),
});

/**
 * `GET /api/clock` and `POST /api/clock { to }`: simulated time for replays and simulations against a running
 * service started with `CAREFLOW_CLOCK=manual`. Timers due on the way (meter-silent, escalations) fire in order.
 */
export function clockRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const clock = ctx.clock;
  const manual = clock instanceof ManualClock ? clock : undefined;
  defineRoute(app, ctx, {
    method: 'GET',
    url: '/clock',
    summary: "The service's current time and whether it is simulated",
    tags: ['operations'],
    permission: null,
    responses: { 200: { description: 'The service time', schema: ClockAnswer } },
    handler: () => ({ now: clock.now(), mode: manual ? 'manual' : 'system' }),
  });
  defineRoute(app, ctx, {
    method: 'POST',
    url: '/clock',
    summary: 'Move the simulated clock forward (CAREFLOW_CLOCK=manual only)',
    tags: ['operations'],
    permission: 'clock:write',
    body: ClockBody,
    responses: { 200: { description: 'The clock after the move', schema: ClockAnswer } },
    handler: ({ body, audit }) => {
      if (!manual) throw new CareflowError('ERR_CLOCK_NOT_MANUAL');
      if (body.to < manual.now()) {
        throw new CareflowError(
          'ERR_CLOCK_BACKWARDS',
          `The clock is at ${new Date(manual.now()).toISOString()}; it cannot go back to ${new Date(body.to).toISOString()}`,
        );
      }
      const from = manual.now();
      // A fresh service (no reading yet) starts its simulated time where the caller begins, instead of firing
      // every periodic timer of the years between the clock's start and the first simulated instant.
      if (ctx.store.inbox.maxSeq() === 0) manual.rebase(body.to);
      else manual.advanceTo(body.to);
      if (body.to - from >= 3_600_000) audit('clock.advance', null, null, { from, to: body.to });
      return { now: manual.now(), mode: 'manual' };
    },
  });
}
