import type { WorkerAlertMessage } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import type { Person } from '../core/store/escalation-repo.ts';
import type { Store } from '../core/store/store.ts';
import {
  planFanout,
  queuedDetail,
  scopeQueuedDetail,
  type FanoutDirectory,
  type FanoutEvent,
  type PlannedMessage,
  type WebhookBody,
} from './fanout-plan.ts';
import { groupedEntry, joinGroup, openGroup } from './alert-grouping.ts';

export type { FanoutEvent, WebhookBody, WebhookRecipient } from './fanout-plan.ts';

/** The parts of the embedded store the fan-out uses: who gets what, and the outbox and timeline it writes. */
export type FanoutTables = FanoutDirectory & Pick<Store, 'alerts' | 'outbox'>;

/**
 * Turns one alert event into outbox messages of the embedded store, in the caller's transaction (who gets what:
 * fanout-plan.ts, shared with the cluster's notifier): per person an MQTT message on
 * `workers/{id}/alerts` and a call to each of the person's webhooks; once per event a call to each webhook of
 * a scope covering the grid. Each message has an idempotency key `<messageId>:<channel>:<target>`.
 */
export class MessageFanout {
  constructor(
    private readonly store: FanoutTables,
    private readonly clock: Clock,
    private readonly onQueued: () => void,
    /** Grouping window (0: off): see `personal`. */
    private readonly groupWindowMs = 0,
  ) {}

  send(e: FanoutEvent): void {
    const { alert } = e;
    const now = this.clock.now();
    const plan = planFanout(this.store, e);
    let queued = 0;
    for (const p of plan.people) {
      let grouped = false;
      for (const d of p.deliveries) {
        const r = this.personal(e, p.person, d.body, d.message, p.level);
        if (d.message.channel === 'mqtt') grouped = r === 'grouped';
      }
      queued += p.channels.length;
      this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: queuedDetail(e, p, grouped),
      });
    }
    const common = { alertId: alert.id, level: e.level };
    for (const s of plan.scope) {
      this.store.outbox.enqueue({ ...common, ...s.message }, now);
      queued++;
      this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: scopeQueuedDetail(e, s.hookId),
      });
    }
    if (queued > 0) queueMicrotask(this.onQueued);
  }

  /** Queues one message to a person, grouping new alerts within the window (alert-grouping.ts). */
  private personal(
    e: FanoutEvent,
    person: Person,
    message: WorkerAlertMessage | WebhookBody,
    m: PlannedMessage,
    level: number | null = e.level,
  ): 'sent' | 'grouped' {
    const store = this.store;
    const now = this.clock.now();
    const common = { alertId: e.alert.id, level, recipient: person.id };
    if (this.groupWindowMs <= 0 || e.event !== 'opened') {
      store.outbox.enqueue({ ...common, ...m }, now);
      return 'sent';
    }
    const waiting = store.outbox.waitingGroup(person.id, m.channel, m.target, now);
    if (waiting) {
      const group = joinGroup(waiting.payload, message);
      store.outbox.setPayload(waiting.id, JSON.stringify(group));
      store.alerts.addTimeline(
        e.alert.id,
        groupedEntry(e.alert.id, now, person.id, m.channel, waiting.idempotencyKey, group),
      );
      return 'grouped';
    }
    const last = store.outbox.lastOpeningAt(person.id, m.channel, m.target, now - this.groupWindowMs);
    if (last === undefined) {
      store.outbox.enqueue({ ...common, ...m }, now);
      return 'sent';
    }
    const opened = openGroup(message, m, last, this.groupWindowMs);
    store.outbox.enqueue({ ...common, ...opened.message }, now, opened.notBefore);
    store.alerts.addTimeline(
      e.alert.id,
      groupedEntry(e.alert.id, now, person.id, m.channel, opened.message.idempotencyKey, opened.group),
    );
    return 'grouped';
  }
}
