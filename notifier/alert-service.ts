import { createHash } from 'node:crypto';
import type { Alert, AlertActions, Outcome, WorkerAlertMessage } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import { CareflowError } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import { TOPICS } from '../core/readings.ts';
import type { Household } from '../core/registry.ts';
import type { Store } from '../core/store/store.ts';
import type { Detection } from '../core/streams.ts';
import { clearedText, openedText, resolvedText, type AlertText } from './alert-message.ts';

/**
 * The alert lifecycle: open → acknowledged → resolved (with an outcome). One open alert per household and
 * rule. Every change is written with its timeline entry and its outbox messages in one transaction;
 * detections already applied (same key) are ignored, so re-processing the inbox after a restart is harmless.
 */
export class AlertService implements AlertActions {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly localTime: LocalTime,
    private readonly logger: Logger,
    /** Called after messages were queued, to wake the dispatcher. */
    private readonly onQueued: () => void = () => {},
  ) {}

  /** Applies one detection; returns the alert it opened or changed, if any. */
  applyDetection(d: Detection): Alert | undefined {
    return this.store.transaction(() => {
      const open = this.store.alerts.findOpen(d.householdId, d.ruleId);
      if (!this.store.alerts.recordDetection(d, open?.id ?? null)) return undefined;
      switch (d.kind) {
        case 'opened':
          return open ? this.update(open, d) : this.open(d);
        case 'updated':
          return open ? this.update(open, d) : undefined;
        case 'cleared':
          return open ? this.clear(open, d) : undefined;
      }
    });
  }

  acknowledge(alertId: string, actor: string): Alert {
    return this.store.transaction(() => {
      const alert = this.mustGet(alertId);
      if (alert.state !== 'open') {
        throw new CareflowError('ERR_ALERT_STATE_CONFLICT', `Alert ${alertId} is ${alert.state}, not open`);
      }
      const now = this.clock.now();
      const next: Alert = {
        ...alert,
        state: 'acknowledged',
        acknowledgedAt: now,
        acknowledgedBy: actor,
        updatedAt: now,
      };
      this.store.alerts.update(next);
      this.store.alerts.addTimeline(alertId, { at: now, kind: 'acknowledged', actor, detail: {} });
      return next;
    });
  }

  resolve(alertId: string, actor: string, outcome: Outcome, note: string | null): Alert {
    return this.store.transaction(() => {
      const alert = this.mustGet(alertId);
      if (alert.state === 'resolved') {
        throw new CareflowError('ERR_ALERT_STATE_CONFLICT', `Alert ${alertId} is already resolved`);
      }
      const now = this.clock.now();
      const next: Alert = {
        ...alert,
        state: 'resolved',
        resolvedAt: now,
        resolvedBy: actor,
        outcome,
        note,
        updatedAt: now,
      };
      this.store.alerts.update(next);
      this.store.alerts.addTimeline(alertId, { at: now, kind: 'resolved', actor, detail: { outcome, note } });
      const household = this.store.registry.household(alert.householdId);
      this.notifyWorkers(
        next,
        'resolved',
        resolvedText(household?.address ?? alert.householdId, outcome, false),
      );
      return next;
    });
  }

  private open(d: Detection): Alert | undefined {
    const household = this.store.registry.household(d.householdId);
    if (!household) {
      this.logger.warn(
        { householdId: d.householdId, ruleId: d.ruleId },
        'detection for unknown household ignored',
      );
      return undefined;
    }
    const now = this.clock.now();
    const alert: Alert = {
      id: alertId(d.key),
      householdId: d.householdId,
      gridCode: household.gridCode,
      ruleId: d.ruleId,
      severity: d.severity,
      audience: d.audience,
      state: 'open',
      openedAt: d.at,
      updatedAt: now,
      acknowledgedAt: null,
      acknowledgedBy: null,
      resolvedAt: null,
      resolvedBy: null,
      outcome: null,
      note: null,
      evidence: d.evidence,
    };
    this.store.alerts.insert(alert);
    this.store.alerts.addTimeline(alert.id, {
      at: now,
      kind: 'opened',
      actor: null,
      detail: { detection: d.key },
    });
    const text = openedText(d.ruleType, d.audience, household.address, d.evidence, (ms) =>
      this.localTime.formatTime(ms),
    );
    this.notifyWorkers(alert, 'opened', text, household);
    this.logger.info(
      { alertId: alert.id, householdId: alert.householdId, ruleId: alert.ruleId },
      'alert opened',
    );
    return alert;
  }

  private update(alert: Alert, d: Detection): Alert {
    const next: Alert = { ...alert, evidence: d.evidence, updatedAt: this.clock.now() };
    this.store.alerts.update(next);
    this.store.alerts.addTimeline(alert.id, {
      at: next.updatedAt,
      kind: 'detection-updated',
      actor: null,
      detail: { detection: d.key, at: d.at },
    });
    return next;
  }

  private clear(alert: Alert, d: Detection): Alert {
    const now = this.clock.now();
    this.store.alerts.addTimeline(alert.id, {
      at: now,
      kind: 'condition-cleared',
      actor: null,
      detail: { detection: d.key, at: d.at },
    });
    const household = this.store.registry.household(alert.householdId);
    const address = household?.address ?? alert.householdId;
    if (d.autoResolve) {
      const next: Alert = {
        ...alert,
        state: 'resolved',
        resolvedAt: now,
        resolvedBy: 'careflow',
        updatedAt: now,
      };
      this.store.alerts.update(next);
      this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'auto-resolved',
        actor: 'careflow',
        detail: {},
      });
      this.notifyWorkers(next, 'resolved', resolvedText(address, null, true), household);
      return next;
    }
    const next: Alert = { ...alert, updatedAt: now };
    this.store.alerts.update(next);
    this.notifyWorkers(next, 'updated', clearedText(address), household);
    return next;
  }

  /** Queues the message for every worker assigned to the household's grid. */
  private notifyWorkers(
    alert: Alert,
    event: WorkerAlertMessage['event'],
    text: AlertText,
    household?: Household,
  ): void {
    const h = household ?? this.store.registry.household(alert.householdId);
    const workers = this.store.registry.workersOfGrid(alert.gridCode);
    const now = this.clock.now();
    const message: WorkerAlertMessage = {
      event,
      alertId: alert.id,
      householdId: alert.householdId,
      address: h?.address ?? '',
      grid: alert.gridCode,
      ruleId: alert.ruleId,
      severity: alert.severity,
      state: alert.state,
      openedAt: new Date(alert.openedAt).toISOString(),
      evidence: alert.evidence,
      message: text,
    };
    const payload = JSON.stringify(message);
    for (const w of workers) {
      const idempotencyKey = `${alert.id}:${event}:${alert.updatedAt}:${w.id}`;
      this.store.outbox.enqueue(
        { channel: 'mqtt', target: w.id, topic: TOPICS.workerAlerts(w.id), payload, idempotencyKey },
        now,
      );
      this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'queued',
        actor: null,
        detail: { worker: w.id, event },
      });
    }
    if (workers.length > 0) queueMicrotask(this.onQueued);
    if (workers.length === 0) {
      this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'no-recipient',
        actor: null,
        detail: { grid: alert.gridCode },
      });
      this.logger.warn({ alertId: alert.id, grid: alert.gridCode }, 'no worker assigned to the grid');
    }
  }

  private mustGet(alertId: string): Alert {
    const alert = this.store.alerts.get(alertId);
    if (!alert) throw new CareflowError('ERR_ALERT_NOT_FOUND', `No alert ${alertId}`);
    return alert;
  }
}

/** Alert ids derive from the opening detection, so replaying history yields the same ids. */
export function alertId(detectionKey: string): string {
  return 'al-' + createHash('sha256').update(detectionKey).digest('hex').slice(0, 16);
}
