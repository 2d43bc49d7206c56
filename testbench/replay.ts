import { CareflowError } from '../core/errors.ts';
import type { NormalizerParams } from '../ingest/normalizer.ts';
import { replayOrder, type ScheduledReading } from '../simulators/recorded-meter.ts';
import type { RecordedReadings } from '../simulators/recorded-readings.ts';
import { ReplayLanes } from './replay-lanes.ts';
import { normalizeRecording, sumCounters } from './replay-mirror.ts';
import { gridWorkersOf, type ReplayCredentials } from './replay-registry.ts';
import { buildReport, type ReplayReport } from './replay-report.ts';
import type { ReplayTarget } from './replay-target.ts';

export interface ReplayProgress {
  /** Readings acknowledged so far, of `total`. */
  acknowledged: number;
  total: number;
  /** Simulated time reached. */
  eventTime: number;
  resent: number;
  reconnects: number;
  elapsedMs: number;
  state: 'running' | 'reconnecting' | 'done';
}

export interface ReplayOptions {
  file: string;
  recording: RecordedReadings;
  timeZone: string | null;
  target: ReplayTarget;
  credentials: ReplayCredentials;
  /** Multiple of real time, or as fast as the service acknowledges. */
  speed: number | 'max';
  /** The service clock advances in steps of this much simulated time; a step's readings go out together. */
  stepMs: number;
  /** Unacknowledged QoS 1 publishes at once, over all meters. */
  maxInflight: number;
  /** How long to wait for the service to come back when its connection is lost. */
  waitMs: number;
  /** The normalizer settings, for mirrored counts when the service does not give its own. */
  normalizer: NormalizerParams;
  onProgress?: (p: ReplayProgress) => void;
  /** Called with each reading when its PUBACK arrives. */
  onAcknowledged?: (r: ScheduledReading) => void;
}

const MAX_RECONNECTS = 100;
/** Farther than this, moving the service's clock to the recording would run its timers for too long. */
const MAX_CLOCK_JUMP_MS = 2 * 86_400_000;

/**
 * Replays a recording through the real MQTT path of a careflow, in event-time order across households, in
 * lockstep with the service's simulated clock: for each step, the clock moves to the step's end (timers such
 * as meter-silent fire on the way, as they would have), then the step's readings are published at QoS 1 and
 * every PUBACK awaited. Readings arrive up to one step late in simulated time; with the service's wall-clock
 * rules checked once a step, on step boundaries, no check ever misses a reading stamped before it. If the service goes away (killed, restarted), the replay waits for it, moves its clock
 * back to the step, reconnects and sends again what was not acknowledged.
 */
export async function runReplay(o: ReplayOptions): Promise<ReplayReport> {
  const started = performance.now();
  const schedule = replayOrder(o.recording);
  const meterIds = [...o.recording.meters.keys()];
  const lanes = new ReplayLanes({ url: o.target.mqttUrl, secrets: o.credentials.secrets });
  const sem = new Semaphore(o.maxInflight);
  let acknowledged = 0;
  let resent = 0;
  let reconnects = 0;
  let eventTime = schedule[0]?.at ?? 0;
  const progress = (state: ReplayProgress['state']) =>
    o.onProgress?.({
      acknowledged,
      total: schedule.length,
      eventTime,
      resent,
      reconnects,
      elapsedMs: performance.now() - started,
      state,
    });

  const publish = async (group: readonly ScheduledReading[]): Promise<ScheduledReading[]> => {
    const lost: ScheduledReading[] = [];
    await Promise.all(
      group.map(async (r) => {
        await sem.acquire();
        try {
          const ok = await lanes.publish(r.meterId, JSON.stringify({ ts: r.ts, totalLiters: r.totalLiters }));
          if (ok) {
            acknowledged++;
            o.onAcknowledged?.(r);
          } else lost.push(r);
        } finally {
          sem.release();
        }
      }),
    );
    return lost;
  };

  const recover = async (t: number) => {
    if (++reconnects > MAX_RECONNECTS) {
      throw new CareflowError(
        'ERR_REPLAY_SERVICE_UNAVAILABLE',
        `gave up after ${MAX_RECONNECTS} reconnections`,
      );
    }
    progress('reconnecting');
    const until = Date.now() + o.waitMs;
    for (;;) {
      await lanes.close();
      try {
        await o.target.waitUntilUp(Math.max(0, until - Date.now()));
        await o.target.advanceClock(t);
        await lanes.connect(meterIds);
        return;
      } catch (err) {
        const unavailable = err instanceof CareflowError && err.code === 'ERR_REPLAY_SERVICE_UNAVAILABLE';
        if (err instanceof CareflowError && !unavailable) throw err;
        if (Date.now() > until) {
          throw unavailable
            ? err
            : new CareflowError('ERR_REPLAY_SERVICE_UNAVAILABLE', `MQTT: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };

  try {
    await o.target.waitUntilUp(o.waitMs);
    if (schedule.length > 0) {
      const start = stepEnd(schedule[0]!.at, o.stepMs) - o.stepMs;
      const now = await o.target.now();
      if (start - now > MAX_CLOCK_JUMP_MS) {
        throw new CareflowError(
          'ERR_REPLAY_CLOCK_BEHIND',
          `the service's clock is at ${new Date(now).toISOString()}, the recording starts at ` +
            `${new Date(start).toISOString()}; restart the service on a fresh data dir with ` +
            `CAREFLOW_CLOCK=manual CAREFLOW_CLOCK_START=${new Date(start).toISOString()}`,
        );
      }
    }
    await lanes.connect(meterIds);
    const order = new Map(schedule.map((r, i) => [r, i]));
    const firstStep = stepEnd(eventTime, o.stepMs);
    const wallStart = performance.now();
    let lastProgress = 0;
    for (let i = 0; i < schedule.length;) {
      // Step [t − step, t): the clock goes to t − 1 ms, then the step's readings go out. A timer due at t (a
      // tick on the step boundary) fires only when the next step moves the clock, after these readings arrived.
      const t = stepEnd(schedule[i]!.at, o.stepMs);
      let j = i;
      while (j < schedule.length && schedule[j]!.at < t) j++;
      if (o.speed !== 'max') {
        const due = wallStart + (t - firstStep) / o.speed;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      let pending = schedule.slice(i, j);
      for (let attempt = 0; ; attempt++) {
        let lost: ScheduledReading[];
        try {
          await o.target.advanceClock(t - 1);
          lost = lanes.allOpen() ? await publish(pending) : pending;
        } catch (err) {
          if (!(err instanceof CareflowError && err.code === 'ERR_REPLAY_SERVICE_UNAVAILABLE')) throw err;
          lost = pending;
        }
        if (attempt > 0) resent += pending.length;
        if (lost.length === 0) break;
        pending = lost.sort((a, b) => order.get(a)! - order.get(b)!);
        await recover(t - 1);
      }
      eventTime = t - 1;
      i = j;
      if (performance.now() - lastProgress > 250 || i === schedule.length) {
        lastProgress = performance.now();
        progress('running');
      }
    }
    // Let the last answers on the error topics arrive.
    const settleUntil = Date.now() + 2_000;
    await new Promise((r) => setTimeout(r, 100));
    while (Date.now() - lanes.lastErrorAt < 100 && Date.now() < settleUntil)
      await new Promise((r) => setTimeout(r, 20));

    const service = await o.target.ingestCounts();
    const normalizer =
      service?.normalizer ??
      sumCounters([...normalizeRecording(o.recording, o.normalizer).values()].map((a) => a.counters));
    const households = meterIds.map((id) => o.credentials.households.get(id) ?? id);
    const alerts = await o.target.alerts(households);
    progress('done');
    return buildReport({
      file: o.file,
      recording: o.recording,
      timeZone: o.timeZone,
      mode: o.target.mode,
      speed: o.speed,
      stepMs: o.stepMs,
      durationMs: performance.now() - started,
      acknowledged,
      resent,
      reconnects,
      serviceErrors: lanes.errors,
      normalizer,
      service,
      alerts,
      gridWorkers: gridWorkersOf(o.credentials.registry),
    });
  } finally {
    await lanes.close();
  }
}

/** The end of the step [end − step, end) holding `t` (steps are aligned to multiples of `stepMs` since the epoch). */
function stepEnd(t: number, stepMs: number): number {
  return Math.floor(t / stepMs) * stepMs + stepMs;
}

/** Bounds concurrent work; waiters are served in order. */
class Semaphore {
  private readonly waiters: (() => void)[] = [];

  constructor(private free: number) {}

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}
