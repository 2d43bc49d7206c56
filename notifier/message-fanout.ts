import type { Alert, AlertText, WorkerAlertMessage, WorkerGroupedMessage } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import { TOPICS } from '../core/readings.ts';
import type { Person } from '../core/store/escalation-repo.ts';
import type { OutboxMessage } from '../core/store/outbox-repo.ts';
import type { Store } from '../core/store/store.ts';
import { familyRecipients, withoutWithdrawnFamily } from './family-recipients.ts';

export interface FanoutEvent {
  alert: Alert;
  event: WorkerAlertMessage['event'];
  text: AlertText;
  /** The people this event is for (may be empty: scope webhooks still get it). */
  recipients: Person[];
  /** Id of the timeline entry that caused the event; the message id derives from it. */
  causeId: number;
  /** Escalation level the event belongs to (null: not part of the chain, e.g. resolved). */
  level: number | null;
  escalation?: WorkerAlertMessage['escalation'];
}

/** A recipient as a webhook body names them (gateways need the phone number). */
export interface WebhookRecipient {
  id: string;
  name: string;
  role: string;
  phone: string | null;
}

/** The body of a webhook call: the worker message plus who it is for. */
export interface WebhookBody extends WorkerAlertMessage {
  recipients: WebhookRecipient[];
}

/**
 * Turns one alert event into outbox messages, in the caller's transaction: per person an MQTT message on
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
    const household = this.store.registry.household(alert.householdId);
    const messageId = `${alert.id}.${e.causeId}`;
    const message: WorkerAlertMessage = {
      event: e.event,
      messageId,
      alertId: alert.id,
      householdId: alert.householdId,
      address: household?.address ?? '',
      grid: alert.gridCode,
      ruleId: alert.ruleId,
      severity: alert.severity,
      state: alert.state,
      openedAt: new Date(alert.openedAt).toISOString(),
      evidence: alert.evidence,
      message: e.text,
      ...(e.escalation ? { escalation: e.escalation } : {}),
    };
    const payload = JSON.stringify(message);
    let queued = 0;
    // Relatives the household chose are told when an alert opens (never in the chain: their failed delivery
    // escalates nothing); they then hear of its updates and resolution like everyone told so far.
    const family = e.event === 'opened' ? familyRecipients(this.store, alert, e.recipients) : [];
    for (const person of [...withoutWithdrawnFamily(this.store, alert, e.recipients), ...family]) {
      // A relative's message belongs to no level of the chain: its failed delivery escalates nothing.
      const level = family.includes(person) ? null : e.level;
      const channels: string[] = ['mqtt'];
      const mqttQueued = this.personal(
        e,
        person,
        message,
        {
          channel: 'mqtt',
          target: person.id,
          topic: TOPICS.workerAlerts(person.id),
          payload,
          idempotencyKey: `${messageId}:mqtt:${person.id}`,
        },
        level,
      );
      for (const hook of this.store.webhooks.forWorker(person.id)) {
        const body: WebhookBody = { ...message, recipients: [recipient(person)] };
        this.personal(
          e,
          person,
          body,
          {
            channel: 'webhook',
            target: hook.id,
            topic: hook.url,
            payload: JSON.stringify(body),
            idempotencyKey: `${messageId}:webhook:${hook.id}`,
          },
          level,
        );
        channels.push(`webhook:${hook.id}`);
      }
      queued += channels.length;
      this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: {
          worker: person.id,
          event: e.event,
          level: e.level,
          channels,
          ...(mqttQueued === 'grouped' ? { grouped: true } : {}),
        },
      });
    }
    const common = { alertId: alert.id, level: e.level };
    const place = this.store.escalation.place(alert.gridCode);
    for (const hook of place ? this.store.webhooks.forPlace(place) : []) {
      const body: WebhookBody = { ...message, recipients: e.recipients.map(recipient) };
      this.store.outbox.enqueue(
        {
          ...common,
          channel: 'webhook',
          target: hook.id,
          topic: hook.url,
          payload: JSON.stringify(body),
          idempotencyKey: `${messageId}:webhook:${hook.id}`,
        },
        now,
      );
      queued++;
      this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: { webhook: hook.id, event: e.event, level: e.level, channels: [`webhook:${hook.id}`] },
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
    m: Personal,
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

type Personal = Pick<OutboxMessage, 'channel' | 'target' | 'topic' | 'payload' | 'idempotencyKey'>;

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

function recipient(p: Person): WebhookRecipient {
  return { id: p.id, name: p.name, role: p.role, phone: p.phone };
}
