export interface BackoffOptions {
  /** Failures allowed before backoff starts. */
  freeFailures: number;
  /** First wait once the free failures are used; doubles with each further failure… */
  baseMs: number;
  /** …up to this. */
  maxMs: number;
  /** A key with no failure for this long starts afresh. */
  forgetMs: number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  pending: number;
}

const MAX_KEYS = 100_000;

/**
 * Failed-attempt backoff for one kind of key (a client address, a client id). An attempt is *reserved*
 * synchronously before its expensive check and counted as pending, so N concurrent attempts can never get
 * more checks than the allowance: within the free failures at most `freeFailures - failures` run at once,
 * in backoff one at a time and only once the wait is over.
 */
export class FailureBackoff {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: BackoffOptions) {}

  /** True (and the attempt is pending) when `key` may be checked now; false = refuse without checking. */
  tryReserve(key: string, now: number): boolean {
    let e = this.entries.get(key);
    if (e && e.pending === 0 && now - e.lastFailureAt > this.opts.forgetMs) {
      this.entries.delete(key);
      e = undefined;
    }
    if (!e) {
      if (this.entries.size >= MAX_KEYS) this.prune(now);
      e = { failures: 0, lastFailureAt: 0, pending: 0 };
      this.entries.set(key, e);
    }
    const free = this.opts.freeFailures;
    const allowed =
      e.failures < free
        ? e.failures + e.pending < free
        : e.pending === 0 && now >= e.lastFailureAt + this.delayMs(e.failures);
    if (allowed) e.pending++;
    return allowed;
  }

  /** Settles a reserved attempt: a failure counts (and may start or lengthen the backoff), a success clears. */
  settle(key: string, failed: boolean, now: number): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.pending = Math.max(0, e.pending - 1);
    if (failed) {
      e.failures++;
      e.lastFailureAt = now;
    } else {
      e.failures = 0;
      if (e.pending === 0) this.entries.delete(key);
    }
  }

  /** Gives a reserved attempt back without counting it (it was never checked). */
  cancel(key: string): void {
    const e = this.entries.get(key);
    if (e) e.pending = Math.max(0, e.pending - 1);
  }

  /** Milliseconds until `key` may be checked again (0 = now or within its free failures). */
  waitMs(key: string, now: number): number {
    const e = this.entries.get(key);
    if (!e || e.failures < this.opts.freeFailures) return 0;
    return Math.max(0, e.lastFailureAt + this.delayMs(e.failures) - now);
  }

  private delayMs(failures: number): number {
    const over = failures - this.opts.freeFailures;
    return Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(over, 30));
  }

  private prune(now: number): void {
    for (const [k, e] of this.entries) {
      if (e.pending === 0 && now - e.lastFailureAt > Math.min(this.opts.forgetMs, this.opts.maxMs))
        this.entries.delete(k);
    }
    // Still full (a flood of distinct keys): forget the oldest half rather than grow without bound.
    if (this.entries.size >= MAX_KEYS) {
      let n = 0;
      for (const [k, e] of this.entries) {
        if (e.pending === 0) this.entries.delete(k);
        if (++n > MAX_KEYS / 2) break;
      }
    }
  }
}

/** A CONNECT's reservation on both its client address and the id it claims. */
export interface ConnectReservation {
  address: string;
  id: string;
}

/**
 * Per-address and per-id backoff for MQTT CONNECTs whose secret has to be checked. Both must allow the
 * attempt; unknown ids are throttled exactly like known ones (nothing to enumerate).
 */
export class ConnectThrottle {
  private readonly byAddress: FailureBackoff;
  private readonly byId: FailureBackoff;

  constructor(address: BackoffOptions, id: BackoffOptions) {
    this.byAddress = new FailureBackoff(address);
    this.byId = new FailureBackoff(id);
  }

  reserve(address: string, id: string, now: number): ConnectReservation | null {
    if (!this.byAddress.tryReserve(address, now)) return null;
    if (!this.byId.tryReserve(id, now)) {
      this.byAddress.cancel(address);
      return null;
    }
    return { address, id };
  }

  settle(r: ConnectReservation, failed: boolean, now: number): void {
    this.byAddress.settle(r.address, failed, now);
    this.byId.settle(r.id, failed, now);
  }

  cancel(r: ConnectReservation): void {
    this.byAddress.cancel(r.address);
    this.byId.cancel(r.id);
  }
}
