/**
 * Runs expensive password checks (scrypt) with bounded concurrency and a bounded wait list, so that a burst
 * of guesses can occupy at most `concurrency` threads of the pool and never queue without limit. One queue
 * per kind of secret (device secrets, people's passwords): a flood of one kind cannot starve the other.
 * Waiting checks are served round-robin by key (the client address): one busy address cannot make the others
 * wait behind all of its attempts.
 */
export class HashQueue {
  private running = 0;
  /** Waiting checks by key; the map's order is the rotation. */
  private readonly waiting = new Map<string, (() => void)[]>();
  private waitingCount = 0;
  /** Checks started since the process started (a metric; tests count it). */
  started = 0;
  /** Checks refused because the wait list was full. */
  refused = 0;

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
  ) {}

  /** Runs `fn` when a slot is free; null (and `fn` never runs) when the wait list is full. */
  run<T>(fn: () => Promise<T>, key = ''): Promise<T> | null {
    if (this.running >= this.concurrency && this.waitingCount >= this.maxQueued) {
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
            this.next();
          });
      };
      if (this.running < this.concurrency) return start();
      const list = this.waiting.get(key);
      if (list) list.push(start);
      else this.waiting.set(key, [start]);
      this.waitingCount++;
    });
  }

  get queued(): number {
    return this.waitingCount;
  }

  private next(): void {
    const first = this.waiting.entries().next();
    if (first.done) return;
    const [key, list] = first.value;
    const start = list.shift()!;
    this.waiting.delete(key);
    if (list.length > 0) this.waiting.set(key, list); // to the back of the rotation
    this.waitingCount--;
    start();
  }
}
