import type { Alert, AlertText, WorkerAlertMessage } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import { TOPICS } from '../core/readings.ts';
import type { Person } from '../core/store/escalation-repo.ts';
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
      const common = { alertId: alert.id, level: family.includes(person) ? null : e.level };
      const channels: string[] = ['mqtt'];
      this.store.outbox.enqueue(
        {
          ...common,
          channel: 'mqtt',
          target: person.id,
          topic: TOPICS.workerAlerts(person.id),
          payload,
          idempotencyKey: `${messageId}:mqtt:${person.id}`,
          recipient: person.id,
        },
        now,
      );
      for (const hook of this.store.webhooks.forWorker(person.id)) {
        const body: WebhookBody = { ...message, recipients: [recipient(person)] };
        this.store.outbox.enqueue(
          {
            ...common,
            channel: 'webhook',
            target: hook.id,
            topic: hook.url,
            payload: JSON.stringify(body),
            idempotencyKey: `${messageId}:webhook:${hook.id}`,
            recipient: person.id,
          },
          now,
        );
        channels.push(`webhook:${hook.id}`);
      }
      queued += channels.length;
      this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: { worker: person.id, event: e.event, level: e.level, channels },
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
}

function recipient(p: Person): WebhookRecipient {
  return { id: p.id, name: p.name, role: p.role, phone: p.phone };
}
