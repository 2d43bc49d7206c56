import { personAction, type Alert, type Outcome, type TimelineEntry } from '../core/alerts.ts';
import { CareflowError } from '../core/errors.ts';
import type { AlertListItem, AlertPageFilter } from '../core/store/console-repo.ts';
import type { Store } from '../core/store/store.ts';
import { alertAddress } from '../notifier/alert-audience.ts';
import type { ActingPerson, AlertDesk } from '../notifier/alert-desk.ts';
import { genericText, reopenedText, resolvedText } from '../notifier/alert-message.ts';
import type { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import type { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import type { SharedStoreNotifier } from '../notifier/shared-store-notifier.ts';
import { writeAudit } from './audit-log.ts';
import type { PgUnitOfWork } from './unit-of-work.ts';

export interface PgAlertDeskDeps {
  /** The registry this worker follows (addresses, who was told). */
  directory: Pick<Store, 'registry'>;
  /** Opened on `uow.pool`, as the notifier's. */
  alerts: PgAlertRepository;
  escalations: PgEscalationRepository;
  notifier: SharedStoreNotifier;
  uow: PgUnitOfWork;
  /** Wall clock: people act in real time. */
  now?: () => number;
  /** Messages were queued (the outbox relay delivers them now rather than at its next poll). */
  onQueued?: () => void;
}

/**
 * People's actions on the cluster's alerts through any worker's API, with the embedded lifecycle's rules
 * (notifier/alert-service.ts): each in one PostgreSQL transaction with its timeline entry, its messages (outbox),
 * its escalation chain and its audit entry. The alert's row is locked first (then its chain's record: the order of
 * every writer of both, cluster/ack-consumer.ts), so two people acting at once through two workers are put in
 * order — the second acknowledgement finds the alert acknowledged and gets a conflict — and a partition's batch
 * changing the same alert waits for the action, or the action for the batch. An acknowledgement stops the chain
 * whichever worker runs it, since the chain's record is shared (cluster/escalation-steps.ts reads it).
 */
export class PgAlertDesk implements AlertDesk {
  private readonly now: () => number;

  constructor(private readonly deps: PgAlertDeskDeps) {
    this.now = deps.now ?? Date.now;
  }

  get(id: string): Promise<Alert | undefined> {
    return this.deps.alerts.get(id);
  }

  async page(filter: AlertPageFilter): Promise<AlertListItem[]> {
    const rows = await this.deps.alerts.page(filter);
    return rows.map((r) => ({
      ...r,
      address: this.deps.directory.registry.household(r.householdId)?.address ?? '',
    }));
  }

  timeline(alertId: string): Promise<TimelineEntry[]> {
    return this.deps.alerts.timeline(alertId);
  }

  acknowledge(alert: Alert, by: ActingPerson, note?: string): Promise<Alert> {
    return this.act(alert.id, by, 'alert.acknowledge', note ? { note } : {}, async (current, at) => {
      const next = personAction.acknowledge(current, by.actor, at);
      await this.deps.alerts.update(next);
      await this.deps.alerts.addTimeline(current.id, {
        at,
        kind: 'acknowledged',
        actor: by.actor,
        detail: {},
      });
      if (note)
        await this.deps.alerts.addTimeline(current.id, {
          at,
          kind: 'note',
          actor: by.actor,
          detail: { note },
        });
      await this.deps.notifier.end(current.id, 'acknowledged');
      return next;
    });
  }

  resolve(alert: Alert, by: ActingPerson, outcome: Outcome, note: string | null): Promise<Alert> {
    return this.act(alert.id, by, 'alert.resolve', { outcome, note }, async (current, at) => {
      const next = personAction.resolve(current, by.actor, outcome, note, at);
      await this.deps.alerts.update(next);
      const causeId = await this.deps.alerts.addTimeline(current.id, {
        at,
        kind: 'resolved',
        actor: by.actor,
        detail: { outcome, note },
      });
      await this.deps.notifier.end(current.id, 'resolved');
      const address = alertAddress(this.deps.directory, current);
      await this.deps.notifier.tellEveryoneSoFar(
        next,
        'resolved',
        resolvedText(address, outcome, false),
        causeId,
        at,
      );
      return next;
    });
  }

  comment(alert: Alert, by: ActingPerson, text: string): Promise<Alert> {
    return this.act(alert.id, by, 'alert.comment', { text }, async (current, at) => {
      await this.deps.alerts.addTimeline(current.id, {
        at,
        kind: 'comment',
        actor: by.actor,
        detail: { text },
      });
      return current;
    });
  }

  reopen(alert: Alert, by: ActingPerson, reason: string): Promise<Alert> {
    return this.act(alert.id, by, 'alert.reopen', { reason, from: alert.state }, async (current, at) => {
      const other =
        current.state === 'open'
          ? undefined
          : await this.deps.alerts.findOpen(current.householdId, current.ruleId);
      const next = personAction.reopen(current, other, at);
      await this.deps.alerts.update(next);
      const causeId = await this.deps.alerts.addTimeline(current.id, {
        at,
        kind: 'reopened',
        actor: by.actor,
        detail: { reason, from: current.state },
      });
      const summary =
        (await this.deps.escalations.get(current.id))?.summary ??
        genericText(alertAddress(this.deps.directory, current), current.ruleId);
      await this.deps.notifier.begin(next, summary, reopenedText(summary, reason), causeId, at);
      return next;
    });
  }

  /**
   * Runs a person's action on the alert, locked, with its audit entry, in one transaction; the state it checks is
   * the locked row's, not what the caller read before. Another alert of the household and rule opened meanwhile
   * (the one-open-alert index) is a conflict as well.
   */
  private async act(
    alertId: string,
    by: ActingPerson,
    action: string,
    detail: Record<string, unknown>,
    run: (current: Alert, at: number) => Promise<Alert>,
  ): Promise<Alert> {
    const { uow, alerts } = this.deps;
    let next: Alert;
    try {
      next = await uow.run(async () => {
        const current = await alerts.lock(alertId);
        if (!current) throw new CareflowError('ERR_ALERT_NOT_FOUND', `No alert ${alertId}`);
        const at = this.now();
        const changed = await run(current, at);
        await writeAudit(uow.pool, {
          at,
          actor: by.actor,
          action,
          target: alertId,
          grid: current.gridCode,
          detail,
          ip: by.ip,
        });
        return changed;
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23505')
        throw new CareflowError(
          'ERR_ALERT_STATE_CONFLICT',
          `Another open alert of the same rule exists for this household`,
        );
      throw err;
    }
    this.deps.onQueued?.();
    return next;
  }
}
