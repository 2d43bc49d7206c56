import type { Alert, AlertText, WorkerAlertMessage } from '../core/alerts.ts';
import type { EscalationRecord } from '../core/store/escalation-repo.ts';
import type { AlertRepository } from './alert-repository.ts';
import { toldSoFar } from './alert-audience.ts';
import { escalationInfo, noRecipientEntry, openChain, skippedEntry } from './chain-opening.ts';
import {
  levelsOnce,
  nextAtOf,
  nextStep,
  planDueSteps,
  planEscalation,
  type ChainStep,
} from './escalation-plan.ts';
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
import type { OutboxRepository } from './outbox-repository.ts';
import type { PgEscalationRepository } from './postgres-escalations.ts';

/**
 * The notifier's messages on the shared PostgreSQL store (cluster mode): who is told of an alert event and what
 * (fanout-plan.ts and chain-opening.ts, the embedded notifier's own rules), written to the outbox and the alert's
 * timeline through repositories the caller opened on its unit of work, so that the messages commit with the alert
 * change that caused them or not at all. A batch processed again after a worker died cannot queue a message
 * twice: its detections are skipped (already recorded), and an outbox row's idempotency key is unique.
 *
 * Timeline entries of detections carry the caller's time (a partition's clock); outbox rows and the escalation
 * chain carry `wallClock`, since delivery, retries, a message's age and how long people leave an alert unanswered
 * run in real time whatever the event time of the readings. The chain's record is kept in the shared
 * `escalations` table; its later steps (reminders, the next level, the end) are planned as the embedded runner
 * plans them (escalation-plan.ts) and run by any worker (`runDue`, from cluster/escalation-steps.ts).
 *
 * New alerts for one person within `groupWindowMs` are grouped as the embedded notifier groups them
 * (alert-grouping.ts); the waiting group's row is locked while an alert joins it, so that alerts opened at once
 * by several workers all end up in a message (two groups at worst, never a lost alert).
 */
export class SharedStoreNotifier {
  constructor(
    private readonly dir: FanoutDirectory,
    private readonly alerts: AlertRepository<'async'>,
    private readonly outbox: OutboxRepository<'async'>,
    private readonly escalations: PgEscalationRepository,
    private readonly wallClock: () => number = Date.now,
    /** Grouping window for new alerts to one person (ms; 0: off; `notifier.groupWindowMs`). */
    private readonly groupWindowMs = 0,
  ) {}

  /** An alert opened or opened again: its chain's first level that has people is told `text`. */
  async begin(
    alert: Alert,
    summary: AlertText,
    text: AlertText,
    causeId: number,
    now: number,
  ): Promise<void> {
    const { record, skipped, level } = openChain(this.dir, alert, summary, this.wallClock());
    if (!level) {
      await this.alerts.addTimeline(alert.id, noRecipientEntry(alert.gridCode, now));
      await this.send({ alert, event: 'opened', text, recipients: [], causeId, level: null }, now);
      await this.escalations.start({ ...record, state: 'exhausted', stoppedReason: 'no-recipient' });
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
    await this.escalations.start({ ...record, nextAt: nextStep(record).at });
  }

  /** Ends the alert's chain (acknowledged, auto-resolved, condition cleared), if it runs. */
  async end(alertId: string, reason: string): Promise<void> {
    await this.escalations.stop(alertId, reason, this.wallClock());
  }

  /**
   * Runs every step of the chain `r` due by now (the embedded runner's steps, escalation-plan.ts) and writes the
   * record back; in the caller's transaction, with `r` locked. A chain whose alert is no longer open stops.
   */
  async runDue(r: EscalationRecord, alert: Alert | undefined): Promise<ChainStep['log'][]> {
    const now = this.wallClock();
    if (!alert || alert.state !== 'open') {
      await this.escalations.update({
        ...r,
        state: 'stopped',
        stoppedReason: 'not-open',
        nextAt: null,
        updatedAt: now,
      });
      return [];
    }
    const levels = levelsOnce(() =>
      this.dir.escalation.resolveLevels(r.chain, alert.gridCode, alert.householdId),
    );
    const steps = planDueSteps(r, levels, now);
    for (const step of steps) {
      const causeId = await this.alerts.addTimeline(alert.id, step.entry);
      if (step.send) await this.send({ ...step.send, alert, causeId }, now);
    }
    await this.escalations.update({ ...r, nextAt: nextAtOf(r), updatedAt: now });
    return steps.map((s) => s.log);
  }

  /**
   * A message of `level` failed for good (the embedded runner's `escalateNow`): if the chain still waits at that
   * level and the alert is open, the next level is told now instead of after the level's wait. The caller holds
   * the alert's and the record's locks (in that order) in its transaction. Returns whether it escalated.
   */
  async escalateNow(
    r: EscalationRecord | undefined,
    alert: Alert | undefined,
    level: number | null,
  ): Promise<ChainStep['log'][] | null> {
    if (level === null || !r || r.state !== 'active' || r.level !== level || alert?.state !== 'open')
      return null;
    const now = this.wallClock();
    const levels = levelsOnce(() =>
      this.dir.escalation.resolveLevels(r.chain, alert.gridCode, alert.householdId),
    );
    const steps = planEscalation(r, levels, now, now, { kind: 'delivery-failed' });
    for (const step of steps) {
      const causeId = await this.alerts.addTimeline(alert.id, step.entry);
      if (step.send) await this.send({ ...step.send, alert, causeId }, now);
    }
    await this.escalations.update({ ...r, nextAt: nextAtOf(r), updatedAt: now });
    return steps.map((s) => s.log);
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

  /** Queues one message to a person, grouping new alerts within the window (alert-grouping.ts). */
  private async personal(
    e: FanoutEvent,
    personId: string,
    body: WorkerAlertMessage | WebhookBody,
    m: PlannedMessage,
    level: number | null,
    queuedAt: number,
    now: number,
  ): Promise<'sent' | 'grouped'> {
    const common = { alertId: e.alert.id, level, recipient: personId };
    if (this.groupWindowMs <= 0 || e.event !== 'opened') {
      await this.outbox.enqueue({ ...common, ...m }, queuedAt);
      return 'sent';
    }
    const waiting = await this.outbox.waitingGroup(personId, m.channel, m.target, queuedAt);
    if (waiting) {
      const group = joinGroup(waiting.payload, body);
      await this.outbox.setPayload(waiting.id, JSON.stringify(group));
      await this.alerts.addTimeline(
        e.alert.id,
        groupedEntry(e.alert.id, now, personId, m.channel, waiting.idempotencyKey, group),
      );
      return 'grouped';
    }
    const last = await this.outbox.lastOpeningAt(
      personId,
      m.channel,
      m.target,
      queuedAt - this.groupWindowMs,
    );
    if (last === undefined) {
      await this.outbox.enqueue({ ...common, ...m }, queuedAt);
      return 'sent';
    }
    const opened = openGroup(body, m, last, this.groupWindowMs);
    await this.outbox.enqueue({ ...common, ...opened.message }, queuedAt, opened.notBefore);
    await this.alerts.addTimeline(
      e.alert.id,
      groupedEntry(e.alert.id, now, personId, m.channel, opened.message.idempotencyKey, opened.group),
    );
    return 'grouped';
  }

  private async send(e: FanoutEvent, now: number): Promise<void> {
    const plan = planFanout(this.dir, e);
    const queuedAt = this.wallClock();
    for (const p of plan.people) {
      let grouped = false;
      for (const d of p.deliveries) {
        const r = await this.personal(e, p.person.id, d.body, d.message, p.level, queuedAt, now);
        if (d.message.channel === 'mqtt') grouped = r === 'grouped';
      }
      await this.alerts.addTimeline(e.alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: queuedDetail(e, p, grouped),
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
