import type { Io, Mode } from '../core/repository.ts';
import type { Store } from '../core/store/store.ts';
import type {
  NewOutboxMessage,
  OutboxChannel,
  OutboxMessage,
  OutboxState,
} from '../core/store/outbox-repo.ts';

export type { NewOutboxMessage, OutboxChannel, OutboxMessage, OutboxState };

/** A message with its delivery state, as an alert's delivery history shows it. */
export type OutboxRecord = OutboxMessage & { state: OutboxState; lastError: string | null };

/**
 * The notifier's outbox: messages to deliver (MQTT to worker apps, webhooks), written with the alert change
 * that caused them, and their delivery states. `M` is 'sync' for the embedded SQLite store, 'async' for
 * PostgreSQL. The embedded store's `OutboxRepo` is the SQLite implementation.
 */
export interface OutboxRepository<M extends Mode = 'sync'> {
  /** Queues a message, due at `notBefore` (default now); false when its idempotency key was queued already. */
  enqueue(m: NewOutboxMessage, now: number, notBefore?: number): Io<M, boolean>;
  /** A grouped message to this person on this channel and target that is still waiting for its window. */
  waitingGroup(
    recipient: string,
    channel: OutboxChannel,
    target: string,
    now: number,
  ): Io<M, OutboxMessage | undefined>;
  /** When the last message about a new alert went to this person on this channel and target, since `since`. */
  lastOpeningAt(
    recipient: string,
    channel: OutboxChannel,
    target: string,
    since: number,
  ): Io<M, number | undefined>;
  /** Rewrites a waiting message (an alert joined its group). */
  setPayload(id: number, payload: string): Io<M, void>;
  /** Pending messages due at `now`, by due time. */
  due(now: number, limit?: number): Io<M, OutboxMessage[]>;
  markDelivered(id: number, at: number): Io<M, boolean>;
  markSent(id: number, at: number): Io<M, boolean>;
  markReceived(idempotencyKey: string, at: number): Io<M, boolean>;
  markRetry(id: number, nextAttemptAt: number, error: string): Io<M, void>;
  markFailed(id: number, at: number, error: string): Io<M, boolean>;
  byKey(idempotencyKey: string): Io<M, OutboxMessage | undefined>;
  /** MQTT messages to a worker the broker took but the worker app never acknowledged, queued since `since`. */
  unreceived(workerId: string, since: number): Io<M, OutboxMessage[]>;
  /** Everyone an alert's MQTT messages went to so far. */
  recipientsOf(alertId: string): Io<M, string[]>;
  byAlert(alertId: string): Io<M, OutboxRecord[]>;
  /** When the next pending message falls due, after `now`. */
  nextAttemptAfter(now: number): Io<M, number | undefined>;
  pendingCount(): Io<M, number>;
  countsByState(): Io<M, Partial<Record<OutboxState, number>>>;
}

/** The outbox of the embedded store (its SQLite implementation, synchronous). */
export function sqliteOutbox(store: Pick<Store, 'outbox'>): OutboxRepository<'sync'> {
  return store.outbox;
}
