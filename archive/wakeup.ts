/**
 * Wall-clock waits that can be cut short: `wait` ends on a signal (new readings), `sleep` only on
 * `interrupt` (shutdown). After `interrupt`, every wait ends at once.
 */
export class Wakeup {
  private waiters = new Set<() => void>();
  private sleepers = new Set<() => void>();
  private interrupted = false;

  /** Ends the current `wait`s. */
  signal(): void {
    for (const wake of this.waiters) wake();
  }

  /** Ends every `wait` and `sleep`, now and from now on. */
  interrupt(): void {
    this.interrupted = true;
    for (const wake of [...this.waiters, ...this.sleepers]) wake();
  }

  /** Resolves after `ms`, on a signal, or on interrupt. */
  wait(ms: number): Promise<void> {
    return this.pause(ms, true);
  }

  /** Resolves after `ms` or on interrupt. */
  sleep(ms: number): Promise<void> {
    return this.pause(ms, false);
  }

  private pause(ms: number, onSignal: boolean): Promise<void> {
    if (this.interrupted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      timer.unref(); // never what keeps the process alive
      (onSignal ? this.waiters : this.sleepers).add(wake);
    });
  }
}
