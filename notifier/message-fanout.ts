import type { AlertText, WorkerAlertMessage, WorkerGroupedMessage } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import type { Person } from '../core/store/escalation-repo.ts';
import type { Store } from '../core/store/store.ts';
import {
  planFanout,
  queuedDetail,
  scopeQueuedDetail,
  type FanoutEvent,
  type PlannedMessage,
  type WebhookBody,
  type WebhookRecipient,
} from './fanout-plan.ts';

export type { FanoutEvent, WebhookBody, WebhookRecipient } from './fanout-plan.ts';

/**
 * Turns one alert event into outbox messages of the embedded store, in the caller's transaction (who gets what:
 * fanout-plan.ts, shared with the cluster's notifier): per person an MQTT message on
 * `workers/{id}/alerts` and a call to each of the person's webhooks; once per event a call to each webhook of
 * a scope covering the grid. Each message has an idempotency key `<messageId>:<channel>:<target>`.
 */
export class MessageFanout {
  constructor(
    private readonly store: Store,
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

  /**
   * Grouping, Alertmanager-style: the first new alert for a person goes out at once; further new alerts for
   * them within `groupWindowMs` of it wait until the window ends and go out together as one `grouped` message
   * listing the households. Each grouped alert's timeline says so (`grouped`, with the message and the other
   * alerts in it). Other events (updates, reminders, escalations, resolutions) are never held.
   */
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
      const group = JSON.parse(waiting.payload) as WorkerGroupedMessage & { recipients?: WebhookRecipient[] };
      const { recipients: _r, ...single } = message as WebhookBody;
      group.alerts.push(single);
      group.count = group.alerts.length;
      group.message = groupedText(group.alerts);
      store.outbox.setPayload(waiting.id, JSON.stringify(group));
      noteGrouped(store, e.alert.id, now, person.id, m.channel, waiting.idempotencyKey, group);
      return 'grouped';
    }
    const last = store.outbox.lastOpeningAt(person.id, m.channel, m.target, now - this.groupWindowMs);
    if (last === undefined) {
      store.outbox.enqueue({ ...common, ...m }, now);
      return 'sent';
    }
    const { recipients, ...single } = message as WebhookBody;
    const group: WorkerGroupedMessage & { recipients?: WebhookRecipient[] } = {
      event: 'grouped',
      messageId: `group:${message.messageId}`,
      count: 1,
      alerts: [single],
      message: groupedText([single]),
      ...(recipients ? { recipients } : {}),
    };
    const key = `group:${m.idempotencyKey}`;
    store.outbox.enqueue(
      { ...common, ...m, payload: JSON.stringify(group), idempotencyKey: key },
      now,
      last + this.groupWindowMs,
    );
    noteGrouped(store, e.alert.id, now, person.id, m.channel, key, group);
    return 'grouped';
  }
}

function noteGrouped(
  store: Store,
  alertId: string,
  at: number,
  worker: string,
  channel: string,
  message: string,
  group: WorkerGroupedMessage,
): void {
  store.alerts.addTimeline(alertId, {
    at,
    kind: 'grouped',
    actor: null,
    detail: {
      worker,
      channel,
      message,
      with: group.alerts.map((a) => a.alertId).filter((id) => id !== alertId),
    },
  });
}

/** "3 new alerts: …" listing each household and what it is about. */
export function groupedText(alerts: readonly WorkerAlertMessage[]): AlertText {
  return {
    'zh-CN':
      `${alerts.length} 条新警报：` + alerts.map((a) => `${a.address}（${a.message['zh-CN']}）`).join('；'),
    en: `${alerts.length} new alerts: ` + alerts.map((a) => `${a.address} (${a.message.en})`).join('; '),
  };
}
