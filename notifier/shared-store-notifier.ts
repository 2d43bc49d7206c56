import type { Alert, AlertText } from '../core/alerts.ts';
import type { AlertRepository } from './alert-repository.ts';
import { toldSoFar } from './alert-audience.ts';
import { escalationInfo, noRecipientEntry, openChain, skippedEntry } from './chain-opening.ts';
import {
  planFanout,
  queuedDetail,
  scopeQueuedDetail,
  type FanoutDirectory,
  type FanoutEvent,
} from './fanout-plan.ts';
import type { OutboxRepository } from './outbox-repository.ts';

/**
 * The notifier's messages on the shared PostgreSQL store (cluster mode): who is told of an alert event and what
 * (fanout-plan.ts and chain-opening.ts, the embedded notifier's own rules), written to the outbox and the alert's
 * timeline through repositories the caller opened on its unit of work, so that the messages commit with the alert
 * change that caused them or not at all. A batch processed again after a worker died cannot queue a message
 * twice: its detections are skipped (already recorded), and an outbox row's idempotency key is unique.
 *
 * Timeline entries carry the caller's time (a partition's clock); outbox rows carry `wallClock`, since delivery,
 * retries and a message's age run in real time whatever the event time of the readings.
 *
 * Not here yet: grouping (`notifier.groupWindowMs`; each alert is its own message) and the chain's later steps
 * (reminders, escalation): the first level is told when an alert opens, and nobody after.
 */
export class SharedStoreNotifier {
  constructor(
    private readonly dir: FanoutDirectory,
    private readonly alerts: AlertRepository<'async'>,
    private readonly outbox: OutboxRepository<'async'>,
    private readonly wallClock: () => number = Date.now,
  ) {}

  /** An alert opened or opened again: its chain's first level that has people is told `text`. */
  async begin(
    alert: Alert,
    summary: AlertText,
    text: AlertText,
    causeId: number,
    now: number,
  ): Promise<void> {
    const { record, skipped, level } = openChain(this.dir, alert, summary, now);
    if (!level) {
      await this.alerts.addTimeline(alert.id, noRecipientEntry(alert.gridCode, now));
      await this.send({ alert, event: 'opened', text, recipients: [], causeId, level: null }, now);
      return;
    }
    for (const s of skipped) await this.alerts.addTimeline(alert.id, skippedEntry(s.index, s.notify, now));
    await this.send(
      {
        alert,
        event: 'opened',
        text,
        recipients: level.people,
        causeId,
        level: level.index,
        escalation: escalationInfo(record),
      },
      now,
    );
  }

  /** Everyone told about the alert so far gets this event. */
  async tellEveryoneSoFar(
    alert: Alert,
    event: 'updated' | 'resolved',
    text: AlertText,
    causeId: number,
    now: number,
  ): Promise<void> {
    const recipients = toldSoFar(
      this.dir,
      await this.outbox.recipientsOf(alert.id),
      await this.alerts.timeline(alert.id),
    );
    await this.send({ alert, event, text, recipients, causeId, level: null }, now);
  }

  private async send(e: FanoutEvent, now: number): Promise<void> {
    const plan = planFanout(this.dir, e);
    const queuedAt = this.wallClock();
    for (const p of plan.people) {
      for (const d of p.deliveries)
        await this.outbox.enqueue(
          { ...d.message, alertId: e.alert.id, level: p.level, recipient: p.person.id },
          queuedAt,
        );
      await this.alerts.addTimeline(e.alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: queuedDetail(e, p),
      });
    }
    for (const s of plan.scope) {
      await this.outbox.enqueue({ ...s.message, alertId: e.alert.id, level: e.level }, queuedAt);
      await this.alerts.addTimeline(e.alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: scopeQueuedDetail(e, s.hookId),
      });
    }
  }
}
