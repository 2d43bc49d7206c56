/**
 * Time source for every component. Live it is the system clock; in simulation, replay and tests a
 * ManualClock, so that timers (silence, escalation) fire in simulated time.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
};

interface ManualTimer {
  id: number;
  due: number;
  every: number | null;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to; due timers fire in order of due time, then of creation. */
export class ManualClock implements Clock {
  private current: number;
  private timers: ManualTimer[] = [];
  private nextId = 1;

  constructor(startMs = Date.UTC(2026, 0, 5, 0, 0, 0)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, at its due time. */
  advance(ms: number): void {
    this.advanceTo(this.current + ms);
  }

  advanceTo(targetMs: number): void {
    if (targetMs < this.current) throw new RangeError('ManualClock cannot go back in time');
    for (;;) {
      const next = this.nextDue();
      if (!next || next.due > targetMs) break;
      this.current = Math.max(this.current, next.due);
      if (next.every === null) next.cancelled = true;
      else next.due += next.every;
      next.fn();
      this.timers = this.timers.filter((t) => !t.cancelled);
    }
    this.current = targetMs;
  }

  /**
   * Moves the clock to `targetMs` as if it had started there: pending timers keep their offsets from now
   * and fire later, nothing in between fires. For a freshly started simulated service only.
   */
  rebase(targetMs: number): void {
    if (targetMs < this.current) throw new RangeError('ManualClock cannot go back in time');
    const shift = targetMs - this.current;
    for (const t of this.timers) t.due += shift;
    this.current = targetMs;
  }

  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  private nextDue(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (t.cancelled) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  }

  private add(fn: () => void, ms: number, every: number | null): TimerHandle {
    const timer: ManualTimer = {
      id: this.nextId++,
      due: this.current + Math.max(0, ms),
      every,
      fn,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }
}
