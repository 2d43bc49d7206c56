import type { ManualClock } from '../core/clock.ts';
import type { Fleet } from '../simulators/meter-fleet.ts';

export interface LockstepOptions {
  clock: ManualClock;
  fleet: Fleet;
  from: number;
  to: number;
  stepMs: number;
  /** Called after each step's readings were acknowledged (e.g. to let deliveries through). */
  afterStep?: (t: number) => Promise<void> | void;
}

/**
 * Runs simulated time: the service's clock and the meters move together, one step at a time. Each step
 * first moves the clock (timers such as meter-silent fire in simulated time), then publishes every reading
 * up to that instant and waits for all PUBACKs (so the service has committed and processed them).
 */
export async function runLockstep(opts: LockstepOptions): Promise<{ readings: number; steps: number }> {
  let readings = 0;
  let steps = 0;
  for (let t = opts.from + opts.stepMs; t <= opts.to; t += opts.stepMs) {
    opts.clock.advanceTo(t);
    readings += (await opts.fleet.publishUntil(t)).published;
    steps++;
    await opts.afterStep?.(t);
  }
  return { readings, steps };
}
