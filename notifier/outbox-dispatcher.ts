import type { TimelineEntry } from '../core/alerts.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { MqttPublisher } from '../core/streams.ts';
import type { AlertRepository } from './alert-repository.ts';
import type { OutboxMessage, OutboxRepository } from './outbox-repository.ts';
import { DeliveryError, type WebhookChannel } from './webhook-channel.ts';

/**
 * What the dispatcher needs of the embedded store: the outbox, the alerts' timeline (a failed or delivered
 * message is written there) and the unit of work both join.
 */
export interface DispatcherStore {
  readonly outbox: OutboxRepository;
  readonly alerts: Pick<AlertRepository, 'addTimeline'>;
  readonly db: { readonly open: boolean };
  transaction<T>(fn: () => T): T;
}

/** Most deliveries in flight at once (a slow webhook does not hold up the others). */
const MAX_IN_FLIGHT = 32;
/** Longest single timer (setTimeout overflows past 2^31 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RetryPolicy {
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
  maxAgeMinutes: number;
}

/** Exponential backoff with jitter: the n-th retry waits between half and all of min(max, base·2ⁿ). */
export function backoffMs(policy: RetryPolicy, attempts: number, random = Math.random()): number {
  const full = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.min(attempts, 30));
  return Math.round(full / 2 + random * (full / 2));
}

/** What follows a failed attempt: the message fails for good, or is retried at `at`. */
export function afterFailedAttempt(
  policy: RetryPolicy,
  m: OutboxMessage,
  now: number,
  err: Error,
): { kind: 'failed' } | { kind: 'retry'; at: number } {
  const permanent = err instanceof DeliveryError && err.permanent;
  const tooOld = now - m.createdAt >= policy.maxAgeMinutes * 60_000;
  if (permanent || tooOld || m.attempts + 1 >= policy.maxAttempts) return { kind: 'failed' };
  return { kind: 'retry', at: now + backoffMs(policy, m.attempts) };
}

/** Who a message went to, as its delivery timeline entries name them. */
function deliveryTarget(m: OutboxMessage): Record<string, string> {
  return m.channel === 'mqtt'
    ? { worker: m.target }
    : { webhook: m.target, ...(m.recipient ? { worker: m.recipient } : {}) };
}

/** The alert's timeline entry for a message's attempt: delivered, retried later, or failed for good. */
export function deliveryEntry(
  m: OutboxMessage,
  at: number,
  outcome: { kind: 'delivered' } | { kind: 'retry'; at: number; err: Error } | { kind: 'failed'; err: Error },
): TimelineEntry {
  const who = { channel: m.channel, ...deliveryTarget(m) };
  const attempt = m.attempts + 1;
  switch (outcome.kind) {
    case 'delivered':
      return { at, kind: 'delivered', actor: null, detail: { ...who, attempt } };
    case 'retry':
      return {
        at,
        kind: 'delivery-retry',
        actor: null,
        detail: { ...who, attempt, error: outcome.err.message, nextAttemptAt: outcome.at },
      };
    case 'failed':
      return {
        at,
        kind: 'delivery-failed',
        actor: null,
        detail: { ...who, attempts: attempt, error: outcome.err.message },
      };
  }
}

/**
 * Delivers outbox messages at least once on every channel: a message stays pending until an attempt succeeds
 * (MQTT: the broker took it; webhook: a 2xx answer). A failed attempt is retried with exponential backoff and
 * jitter; after `maxAttempts` attempts or `maxAgeMinutes` the message is `failed`, which is written to the
 * alert's timeline and handed to `onFailed` (escalation). New messages wake the dispatcher (`kick`); retries
 * are woken by one timer on the clock, armed for the earliest one (no polling).
 */
export class OutboxDispatcher {
  private readonly inFlight = new Set<number>();
  private stopped = false;
  private started = false;
  private timer: TimerHandle | undefined;
  private armedFor: number | undefined;
  private idle: (() => void)[] = [];

  constructor(
    private readonly store: DispatcherStore,
    private readonly publisher: MqttPublisher,
    private readonly webhooks: WebhookChannel,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly policy: RetryPolicy,
    private readonly onFailed: (m: OutboxMessage) => void = () => {},
    private readonly onChanged: () => void = () => {},
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Starts every delivery that is due now; safe to call often (before `start` it does nothing). */
  kick(): void {
    if (this.stopped || !this.started || !this.store.db.open) return;
    const room = MAX_IN_FLIGHT - this.inFlight.size;
    if (room <= 0) return;
    const due = this.store.outbox
      .due(this.clock.now(), room + this.inFlight.size)
      .filter((m) => !this.inFlight.has(m.id))
      .slice(0, room);
    for (const m of due) {
      this.inFlight.add(m.id);
      void this.attempt(m).finally(() => {
        this.inFlight.delete(m.id);
        this.kick();
        if (this.inFlight.size === 0) this.idle.splice(0).forEach((r) => r());
      });
    }
    this.arm();
  }

  /** One timer for the earliest retry still to come. */
  private arm(): void {
    const now = this.clock.now();
    const next = this.store.outbox.nextAttemptAfter(now);
    if (next === this.armedFor && this.timer) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.armedFor = next;
    if (next === undefined) return;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.armedFor = undefined;
        this.kick();
      },
      Math.min(MAX_TIMER_MS, next - now),
    );
  }

  /** Resolves when nothing due is left and nothing is in flight (tests, orderly shutdown). */
  async flush(): Promise<void> {
    for (;;) {
      this.kick();
      if (this.inFlight.size === 0) return;
      await new Promise<void>((r) => this.idle.push(r));
    }
  }

  private async attempt(m: OutboxMessage): Promise<void> {
    try {
      if (m.channel === 'mqtt') await this.publisher.publish(m.topic, m.payload, 1);
      else await this.webhooks.deliver(m);
    } catch (err) {
      this.failedAttempt(m, err as Error);
      return;
    }
    if (this.stopped || !this.store.db.open) return;
    const at = this.clock.now();
    this.store.transaction(() => {
      const changed =
        m.channel === 'mqtt'
          ? this.store.outbox.markSent(m.id, at)
          : this.store.outbox.markDelivered(m.id, at);
      if (changed && m.alertId) {
        this.store.alerts.addTimeline(m.alertId, deliveryEntry(m, at, { kind: 'delivered' }));
      }
    });
    this.onChanged();
  }

  private failedAttempt(m: OutboxMessage, err: Error): void {
    if (this.stopped || !this.store.db.open) return;
    const now = this.clock.now();
    const attempt = m.attempts + 1;
    const after = afterFailedAttempt(this.policy, m, now, err);
    if (after.kind === 'failed') {
      const failed = this.store.transaction(() => {
        if (!this.store.outbox.markFailed(m.id, now, err.message)) return false;
        if (m.alertId) {
          this.store.alerts.addTimeline(m.alertId, deliveryEntry(m, now, { kind: 'failed', err }));
        }
        return true;
      });
      this.logger.error(
        { outboxId: m.id, channel: m.channel, target: m.target, attempts: attempt, err: err.message },
        'delivery failed for good',
      );
      if (failed) {
        this.onChanged();
        this.onFailed(m);
      }
      return;
    }
    const next = after.at;
    this.store.transaction(() => {
      this.store.outbox.markRetry(m.id, next, err.message);
      if (m.alertId) {
        this.store.alerts.addTimeline(m.alertId, deliveryEntry(m, now, { kind: 'retry', at: next, err }));
      }
    });
    this.onChanged();
    this.logger.warn(
      { outboxId: m.id, channel: m.channel, target: m.target, attempt, err: err.message },
      'delivery failed, will retry',
    );
  }
}
