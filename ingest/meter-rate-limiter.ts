interface Allowance {
  tokens: number;
  at: number;
  warnedAt: number;
}

/**
 * A token bucket per meter: `perMinute` readings a minute, refilled continuously on the given clock time;
 * it holds at most `burst` tokens, so a meter that was quiet may send one large batch at once.
 * A runaway meter is held to its allowance; the rest of its readings are refused, the meter stays connected.
 */
export class MeterRateLimiter {
  private readonly meters = new Map<string, Allowance>();
  private readonly perMs: number;

  constructor(
    perMinute: number,
    private readonly burst: number,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes up to `n` readings' tokens at time `now`; returns how many of the `n` readings may pass. */
  take(meterId: string, n: number, now: number): number {
    let a = this.meters.get(meterId);
    if (a === undefined) {
      a = { tokens: this.burst, at: now, warnedAt: -Infinity };
      this.meters.set(meterId, a);
    } else if (now > a.at) {
      a.tokens = Math.min(this.burst, a.tokens + (now - a.at) * this.perMs);
      a.at = now;
    }
    const allowed = Math.min(n, Math.floor(a.tokens));
    a.tokens -= allowed;
    return allowed;
  }

  /** Whether to log a refusal for this meter now (at most once a minute per meter). */
  shouldWarn(meterId: string, now: number): boolean {
    const a = this.meters.get(meterId);
    if (!a || now - a.warnedAt < 60_000) return false;
    a.warnedAt = now;
    return true;
  }
}
