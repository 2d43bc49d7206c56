import type { Alert, AlertText, WorkerAlertMessage } from '../core/alerts.ts';
import { TOPICS } from '../core/readings.ts';
import type { Person } from '../core/store/escalation-repo.ts';
import type { OutboxMessage } from '../core/store/outbox-repo.ts';
import type { Store } from '../core/store/store.ts';
import { familyRecipients, withoutWithdrawnFamily } from './family-recipients.ts';

/** One alert event to tell people about. */
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

/** What a fan-out reads: the registry (addresses, people's webhooks, family contacts, the grid's place). */
export type FanoutDirectory = Pick<Store, 'registry' | 'webhooks' | 'escalation' | 'privacy'>;

/** An outbox message before its bookkeeping (alert, level, recipient). */
export type PlannedMessage = Pick<
  OutboxMessage,
  'channel' | 'target' | 'topic' | 'payload' | 'idempotencyKey'
>;

/** One person's messages of an event: MQTT first, then each of their webhooks. */
export interface PersonalPlan {
  person: Person;
  /** The level their messages belong to (a relative's: null, their failed delivery escalates nothing). */
  level: number | null;
  deliveries: { body: WorkerAlertMessage | WebhookBody; message: PlannedMessage }[];
  /** `mqtt`, `webhook:<id>`, … as the `queued` timeline entry names them. */
  channels: string[];
}

/** Who gets what for one alert event, and the payloads: the same for the embedded and the cluster notifier. */
export interface FanoutPlan {
  message: WorkerAlertMessage;
  people: PersonalPlan[];
  /** Once per event: each webhook of a scope covering the grid. */
  scope: { hookId: string; message: PlannedMessage }[];
}

/**
 * Plans one alert event's messages: per person an MQTT message on `workers/{id}/alerts` and a call to each of
 * the person's webhooks; once per event a call to each webhook of a scope covering the grid. The message id is
 * `<alertId>.<causeId>` (the timeline entry that caused the event), so a message is named by what it is about,
 * and each outbox message's idempotency key is `<messageId>:<channel>:<target>`. Reads only; writes nothing.
 */
export function planFanout(dir: FanoutDirectory, e: FanoutEvent): FanoutPlan {
  const { alert } = e;
  const household = dir.registry.household(alert.householdId);
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
  // Relatives the household chose are told when an alert opens (never in the chain: their failed delivery
  // escalates nothing); they then hear of its updates and resolution like everyone told so far.
  const family = e.event === 'opened' ? familyRecipients(dir, alert, e.recipients) : [];
  const people: PersonalPlan[] = [];
  for (const person of [...withoutWithdrawnFamily(dir, alert, e.recipients), ...family]) {
    const plan: PersonalPlan = {
      person,
      level: family.includes(person) ? null : e.level,
      deliveries: [
        {
          body: message,
          message: {
            channel: 'mqtt',
            target: person.id,
            topic: TOPICS.workerAlerts(person.id),
            payload,
            idempotencyKey: `${messageId}:mqtt:${person.id}`,
          },
        },
      ],
      channels: ['mqtt'],
    };
    for (const hook of dir.webhooks.forWorker(person.id)) {
      const body: WebhookBody = { ...message, recipients: [webhookRecipient(person)] };
      plan.deliveries.push({
        body,
        message: {
          channel: 'webhook',
          target: hook.id,
          topic: hook.url,
          payload: JSON.stringify(body),
          idempotencyKey: `${messageId}:webhook:${hook.id}`,
        },
      });
      plan.channels.push(`webhook:${hook.id}`);
    }
    people.push(plan);
  }
  const place = dir.escalation.place(alert.gridCode);
  const scope = (place ? dir.webhooks.forPlace(place) : []).map((hook) => {
    const body: WebhookBody = { ...message, recipients: e.recipients.map(webhookRecipient) };
    return {
      hookId: hook.id,
      message: {
        channel: 'webhook' as const,
        target: hook.id,
        topic: hook.url,
        payload: JSON.stringify(body),
        idempotencyKey: `${messageId}:webhook:${hook.id}`,
      },
    };
  });
  return { message, people, scope };
}

/** The `queued` timeline entry's detail for a person's messages. */
export function queuedDetail(e: FanoutEvent, p: PersonalPlan, grouped = false): Record<string, unknown> {
  return {
    worker: p.person.id,
    event: e.event,
    level: e.level,
    channels: p.channels,
    ...(grouped ? { grouped: true } : {}),
  };
}

/** The `queued` timeline entry's detail for a scope webhook's message. */
export function scopeQueuedDetail(e: FanoutEvent, hookId: string): Record<string, unknown> {
  return { webhook: hookId, event: e.event, level: e.level, channels: [`webhook:${hookId}`] };
}

function webhookRecipient(p: Person): WebhookRecipient {
  return { id: p.id, name: p.name, role: p.role, phone: p.phone };
}
