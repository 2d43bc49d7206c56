/**
 * Runs expensive password checks (scrypt) with bounded concurrency and a bounded wait list, so that a burst
 * of guesses can occupy at most `concurrency` threads of the pool and never queue without limit. One queue
 * per kind of secret (device secrets, people's passwords): a flood of one kind cannot starve the other.
 */
export class HashQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Checks started since the process started (a metric; tests count it). */
  started = 0;
  /** Checks refused because the wait list was full. */
  refused = 0;

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
  ) {}

  /** Runs `fn` when a slot is free; null (and `fn` never runs) when the wait list is full. */
  run<T>(fn: () => Promise<T>): Promise<T> | null {
    if (this.running >= this.concurrency && this.waiting.length >= this.maxQueued) {
      this.refused++;
      return null;
    }
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        this.started++;
        fn()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.waiting.shift()?.();
          });
      };
      if (this.running < this.concurrency) start();
      else this.waiting.push(start);
    });
  }

  get queued(): number {
    return this.waiting.length;
  }
}
