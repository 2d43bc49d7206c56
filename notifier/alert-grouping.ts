import type { AlertText, TimelineEntry, WorkerAlertMessage, WorkerGroupedMessage } from '../core/alerts.ts';
import type { PlannedMessage, WebhookBody, WebhookRecipient } from './fanout-plan.ts';

/**
 * Grouping, Alertmanager-style, as both notifiers (the embedded MessageFanout and the cluster's
 * SharedStoreNotifier) apply it: the first new alert for a person goes out at once; further new alerts for them
 * within `notifier.groupWindowMs` of it wait until the window ends and go out together as one `grouped` message
 * listing the households. Each grouped alert's timeline says so. Only openings are grouped. What is decided
 * here is the same for both; each notifier reads and writes its own outbox.
 */
export type GroupMessage = WorkerGroupedMessage & { recipients?: WebhookRecipient[] };

/** The waiting group's payload with one more alert in it. */
export function joinGroup(waitingPayload: string, message: WorkerAlertMessage | WebhookBody): GroupMessage {
  const group = JSON.parse(waitingPayload) as GroupMessage;
  const { recipients: _r, ...single } = message as WebhookBody;
  group.alerts.push(single);
  group.count = group.alerts.length;
  group.message = groupedText(group.alerts);
  return group;
}

/**
 * A new group holding this alert, sent when the window that began with the person's last opening ends
 * (`notBefore`), under its own idempotency key.
 */
export function openGroup(
  message: WorkerAlertMessage | WebhookBody,
  m: PlannedMessage,
  lastOpeningAt: number,
  windowMs: number,
): { group: GroupMessage; message: PlannedMessage; notBefore: number } {
  const { recipients, ...single } = message as WebhookBody;
  const group: GroupMessage = {
    event: 'grouped',
    messageId: `group:${message.messageId}`,
    count: 1,
    alerts: [single],
    message: groupedText([single]),
    ...(recipients ? { recipients } : {}),
  };
  return {
    group,
    message: { ...m, payload: JSON.stringify(group), idempotencyKey: `group:${m.idempotencyKey}` },
    notBefore: lastOpeningAt + windowMs,
  };
}

/** The alert's `grouped` timeline entry: which message it went into, with which other alerts. */
export function groupedEntry(
  alertId: string,
  at: number,
  worker: string,
  channel: string,
  messageKey: string,
  group: WorkerGroupedMessage,
): TimelineEntry {
  return {
    at,
    kind: 'grouped',
    actor: null,
    detail: {
      worker,
      channel,
      message: messageKey,
      with: group.alerts.map((a) => a.alertId).filter((id) => id !== alertId),
    },
  };
}

/** "3 new alerts: …" listing each household and what it is about. */
export function groupedText(alerts: readonly WorkerAlertMessage[]): AlertText {
  return {
    'zh-CN':
      `${alerts.length} 条新警报：` + alerts.map((a) => `${a.address}（${a.message['zh-CN']}）`).join('；'),
    en: `${alerts.length} new alerts: ` + alerts.map((a) => `${a.address} (${a.message.en})`).join('; '),
  };
}
