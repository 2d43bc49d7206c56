import type { Alert, AlertActions, Outcome, TimelineEntry } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import type { AlertListItem, AlertPageFilter } from '../core/store/console-repo.ts';
import type { Store } from '../core/store/store.ts';

/** Who acts on an alert through the API, for the timeline and the audit log. */
export interface ActingPerson {
  actor: string;
  /** The caller's address (audit log). */
  ip: string | null;
}

/**
 * What the API's alert routes read and do (api/routes/alerts.ts): the alert list, one alert with its timeline, and
 * people's actions, each written with its audit entry in one transaction. Two implementations: the embedded store
 * (below, synchronous underneath) and the cluster's shared PostgreSQL store (cluster/alert-desk.ts), so that the
 * same routes, with the same checks and answers, serve both. A state conflict (acknowledging an alert that is not
 * open, reopening one that is) throws `ERR_ALERT_STATE_CONFLICT` in both.
 */
export interface AlertDesk {
  get(id: string): Promise<Alert | undefined>;
  page(filter: AlertPageFilter): Promise<AlertListItem[]>;
  timeline(alertId: string): Promise<TimelineEntry[]>;
  /** Open → acknowledged; the chain stops. `note` goes on the timeline as a note. */
  acknowledge(alert: Alert, by: ActingPerson, note?: string): Promise<Alert>;
  resolve(alert: Alert, by: ActingPerson, outcome: Outcome, note: string | null): Promise<Alert>;
  comment(alert: Alert, by: ActingPerson, text: string): Promise<Alert>;
  /** Acknowledged or resolved → open; the chain starts over. */
  reopen(alert: Alert, by: ActingPerson, reason: string): Promise<Alert>;
}

/** The embedded store's alert desk: `AlertActions` (notifier/alert-service.ts) and the audit log, one transaction. */
export class StoreAlertDesk implements AlertDesk {
  constructor(
    private readonly store: Pick<Store, 'alerts' | 'console' | 'audit' | 'transaction'>,
    private readonly actions: AlertActions,
    private readonly clock: Clock,
  ) {}

  get(id: string): Promise<Alert | undefined> {
    return Promise.resolve(this.store.alerts.get(id));
  }

  page(filter: AlertPageFilter): Promise<AlertListItem[]> {
    return Promise.resolve(this.store.console.alertPage(filter));
  }

  timeline(alertId: string): Promise<TimelineEntry[]> {
    return Promise.resolve(this.store.alerts.timeline(alertId));
  }

  acknowledge(alert: Alert, by: ActingPerson, note?: string): Promise<Alert> {
    return this.act(by, 'alert.acknowledge', alert, note ? { note } : {}, () => {
      const acknowledged = this.actions.acknowledge(alert.id, by.actor);
      if (note)
        this.store.alerts.addTimeline(alert.id, {
          at: this.clock.now(),
          kind: 'note',
          actor: by.actor,
          detail: { note },
        });
      return acknowledged;
    });
  }

  resolve(alert: Alert, by: ActingPerson, outcome: Outcome, note: string | null): Promise<Alert> {
    return this.act(by, 'alert.resolve', alert, { outcome, note }, () =>
      this.actions.resolve(alert.id, by.actor, outcome, note),
    );
  }

  comment(alert: Alert, by: ActingPerson, text: string): Promise<Alert> {
    return this.act(by, 'alert.comment', alert, { text }, () =>
      this.actions.comment(alert.id, by.actor, text),
    );
  }

  reopen(alert: Alert, by: ActingPerson, reason: string): Promise<Alert> {
    return this.act(by, 'alert.reopen', alert, { reason, from: alert.state }, () =>
      this.actions.reopen(alert.id, by.actor, reason),
    );
  }

  private act(
    by: ActingPerson,
    action: string,
    alert: Alert,
    detail: Record<string, unknown>,
    run: () => Alert,
  ): Promise<Alert> {
    try {
      return Promise.resolve(
        this.store.transaction(() => {
          const next = run();
          this.store.audit.add({
            at: this.clock.now(),
            actor: by.actor,
            action,
            target: alert.id,
            grid: alert.gridCode,
            detail,
            ip: by.ip,
          });
          return next;
        }),
      );
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
}
