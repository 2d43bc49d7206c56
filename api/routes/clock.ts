import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ManualClock, type Clock } from '../../core/clock.ts';
import { CareflowError } from '../../core/errors.ts';
import { Timestamp } from '../../core/readings.ts';
import { parseInput } from '../validate.ts';

const ClockBody = z.strictObject({ to: Timestamp });

/**
 * `GET /api/clock` and `POST /api/clock { to }`: simulated time for replays and simulations against a running
 * service started with `CAREFLOW_CLOCK=manual`. Timers due on the way (meter-silent, escalations) fire in order.
 */
export function clockRoutes(app: FastifyInstance, clock: Clock): void {
  const manual = clock instanceof ManualClock ? clock : undefined;
  app.get('/clock', async () => ({ now: clock.now(), mode: manual ? 'manual' : 'system' }));
  app.post('/clock', async (request) => {
    if (!manual) throw new CareflowError('ERR_CLOCK_NOT_MANUAL');
    const { to } = parseInput(ClockBody, request.body, 'body');
    if (to < manual.now()) {
      throw new CareflowError(
        'ERR_CLOCK_BACKWARDS',
        `The clock is at ${new Date(manual.now()).toISOString()}; it cannot go back to ${new Date(to).toISOString()}`,
      );
    }
    manual.advanceTo(to);
    return { now: manual.now(), mode: 'manual' };
  });
}
