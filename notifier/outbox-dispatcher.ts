import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import type { MqttPublisher } from '../core/streams.ts';

const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * Delivers outbox messages at least once: a message stays pending until the broker has taken it, and a
 * failed attempt is retried with exponential backoff and jitter.
 */
export class OutboxDispatcher {
  private running = false;
  private again = false;
  private stopped = false;
  private poll: TimerHandle | undefined;

  constructor(
    private readonly store: Store,
    private readonly publisher: MqttPublisher,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly retryBaseMs: number,
  ) {}

  start(): void {
    this.poll = this.clock.setInterval(() => this.kick(), Math.max(100, Math.min(this.retryBaseMs, 5_000)));
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.poll?.cancel();
  }

  /** Delivers whatever is due now; safe to call often. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.drain().finally(() => {
      this.running = false;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves when nothing due is left (for tests and orderly shutdown). */
  async flush(): Promise<void> {
    while (this.running) await new Promise((r) => setImmediate(r));
    await this.drain();
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped || !this.store.db.open) return;
      const due = this.store.outbox.due(this.clock.now(), 200);
      if (due.length === 0) return;
      await Promise.all(
        due.map(async (m) => {
          try {
            await this.publisher.publish(m.topic, m.payload, 1);
            if (!this.store.db.open) return;
            const at = this.clock.now();
            this.store.transaction(() => {
              this.store.outbox.markDelivered(m.id, at);
              const alertId = alertIdOf(m.payload);
              if (alertId) {
                this.store.alerts.addTimeline(alertId, {
                  at,
                  kind: 'delivered',
                  actor: null,
                  detail: { channel: m.channel, worker: m.target, attempt: m.attempts + 1 },
                });
              }
            });
          } catch (err) {
            if (!this.store.db.open) return;
            const backoff = Math.min(MAX_BACKOFF_MS, this.retryBaseMs * 2 ** m.attempts);
            const next = this.clock.now() + backoff / 2 + Math.random() * (backoff / 2);
            this.store.outbox.markRetry(m.id, next, (err as Error).message);
            this.logger.warn(
              { outboxId: m.id, target: m.target, err: (err as Error).message },
              'delivery failed, will retry',
            );
          }
        }),
      );
      if (due.length < 200) return;
    }
  }
}

function alertIdOf(payload: string): string | undefined {
  try {
    const v = JSON.parse(payload) as { alertId?: unknown };
    return typeof v.alertId === 'string' ? v.alertId : undefined;
  } catch {
    return undefined;
  }
}
