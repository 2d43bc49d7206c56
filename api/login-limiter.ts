/**
 * Counts failed logins per key (an account, a client address) in a sliding window; past the limit, further
 * attempts are refused without checking the password (so guessing costs the attacker time, not us CPU).
 *
 * An attempt *reserves* its place before the password is checked: the reservation counts as a failure at
 * once, synchronously, so N concurrent attempts can never check more than the limit. A successful attempt
 * gives its reservation back.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  /** Milliseconds until `key` may try again (0 = now). */
  retryAfter(key: string): number {
    const recent = this.recent(key);
    if (recent.length < this.maxFailures) return 0;
    return Math.max(1, recent[0]! + this.windowMs - this.now());
  }

  /** Reserves one attempt for `key`: its time (to hand back on success), or null when over the limit. */
  reserve(key: string): number | null {
    const recent = this.recent(key);
    if (recent.length >= this.maxFailures) return null;
    const at = this.now();
    recent.push(at);
    if (this.failures.size >= 100_000 && !this.failures.has(key)) this.prune();
    this.failures.set(key, recent);
    return at;
  }

  /** Hands back one reservation made at `at` (the attempt succeeded, or was never checked). */
  release(key: string, at: number): void {
    const list = this.failures.get(key);
    const i = list?.indexOf(at) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
    if (list?.length === 0) this.failures.delete(key);
  }

  /** Forgets every failure of `key` (a successful login to the account). */
  succeed(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > cutoff);
  }

  private prune(): void {
    const cutoff = this.now() - this.windowMs;
    for (const [k, list] of this.failures) if (!list.some((t) => t > cutoff)) this.failures.delete(k);
    if (this.failures.size >= 100_000) this.failures.clear();
  }
}
