import { personAction, type Alert, type AlertActions, type Outcome } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import { CareflowError } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import type { Detection } from '../core/streams.ts';
import { AlertAudience, type AudienceTables } from './alert-audience.ts';
import { genericText, reopenedText, resolvedText } from './alert-message.ts';
import { DetectionApplier, type ApplierTables } from './detection-applier.ts';
import { EscalationRunner, type EscalationTables } from './escalation-runner.ts';
import { MessageFanout, type FanoutTables } from './message-fanout.ts';

export interface AlertServiceHooks {
  /** Called after messages were queued, to wake the dispatcher. */
  onQueued?: () => void;
  /** Called after the alert timeline changed (and the transaction is over), to wake the event feed. */
  onChanged?: () => void;
  /** Grouping window for new alerts to one person (ms; 0: off; `notifier.groupWindowMs`). */
  groupWindowMs?: number;
}

export { alertId } from './detection-applier.ts';

/** The parts of the embedded store the alert lifecycle uses: its own, and those of the parts it is made of. */
export type AlertServiceTables = Pick<Store, 'alerts' | 'escalation' | 'transaction'> &
  FanoutTables &
  EscalationTables &
  AudienceTables &
  ApplierTables;

/**
 * The alert lifecycle: open → acknowledged → resolved (with an outcome), and reopen. One open alert per
 * household and rule. Every change is written with its timeline entry, its outbox messages and its escalation
 * state in one transaction; detections already applied (same key) are ignored, so re-processing the inbox
 * after a restart is harmless. Detections are applied by detection-applier.ts; people's actions are here.
 */
export class AlertService implements AlertActions {
  readonly escalation: EscalationRunner;
  private readonly fanout: MessageFanout;
  private readonly audience: AlertAudience;
  private readonly applier: DetectionApplier;
  private readonly changed: () => void;

  constructor(
    private readonly store: AlertServiceTables,
    private readonly clock: Clock,
    private readonly localTime: LocalTime,
    private readonly logger: Logger,
    hooks: AlertServiceHooks = {},
  ) {
    const onChanged = hooks.onChanged ?? (() => {});
    this.changed = () => queueMicrotask(onChanged);
    this.fanout = new MessageFanout(store, clock, hooks.onQueued ?? (() => {}), hooks.groupWindowMs ?? 0);
    this.escalation = new EscalationRunner(store, clock, this.fanout, logger, onChanged);
    this.audience = new AlertAudience(store, this.fanout);
    this.applier = new DetectionApplier(store, clock, localTime, logger, this.escalation, this.audience);
  }

  /** Applies one detection; returns the alert it opened or changed, if any. */
  applyDetection(d: Detection): Alert | undefined {
    const result = this.applier.apply(d);
    if (result) this.changed();
    return result;
  }

  /** `via` is how the person acknowledged: the API (default) or the worker app over MQTT. */
  acknowledge(alertId: string, actor: string, via: 'api' | 'mqtt' = 'api'): Alert {
    return this.act(() => {
      const now = this.clock.now();
      const next = personAction.acknowledge(this.mustGet(alertId), actor, now);
      this.store.alerts.update(next);
      this.store.alerts.addTimeline(alertId, {
        at: now,
        kind: 'acknowledged',
        actor,
        detail: via === 'api' ? {} : { via },
      });
      this.escalation.end(alertId, 'acknowledged');
      return next;
    });
  }

  resolve(alertId: string, actor: string, outcome: Outcome, note: string | null): Alert {
    return this.act(() => {
      const alert = this.mustGet(alertId);
      const now = this.clock.now();
      const next = personAction.resolve(alert, actor, outcome, note, now);
      this.store.alerts.update(next);
      const causeId = this.store.alerts.addTimeline(alertId, {
        at: now,
        kind: 'resolved',
        actor,
        detail: { outcome, note },
      });
      this.escalation.end(alertId, 'resolved');
      const address = this.audience.address(alert);
      this.audience.tellEveryoneSoFar(next, 'resolved', resolvedText(address, outcome, false), causeId);
      return next;
    });
  }

  comment(alertId: string, actor: string, text: string): Alert {
    return this.act(() => {
      const alert = this.mustGet(alertId);
      this.store.alerts.addTimeline(alertId, {
        at: this.clock.now(),
        kind: 'comment',
        actor,
        detail: { text },
      });
      return alert;
    });
  }

  reopen(alertId: string, actor: string, reason: string): Alert {
    return this.act(() => {
      const alert = this.mustGet(alertId);
      const now = this.clock.now();
      const other =
        alert.state === 'open' ? undefined : this.store.alerts.findOpen(alert.householdId, alert.ruleId);
      const next = personAction.reopen(alert, other, now);
      this.store.alerts.update(next);
      const causeId = this.store.alerts.addTimeline(alertId, {
        at: now,
        kind: 'reopened',
        actor,
        detail: { reason, from: alert.state },
      });
      const summary =
        this.store.escalation.get(alertId)?.summary ??
        genericText(this.audience.address(alert), alert.ruleId);
      this.escalation.begin(next, summary, reopenedText(summary, reason), causeId);
      return next;
    });
  }

  /** Runs a person's action in one transaction and wakes the event feed afterwards. */
  private act<T>(fn: () => T): T {
    const result = this.store.transaction(fn);
    this.changed();
    return result;
  }

  private mustGet(alertId: string): Alert {
    const alert = this.store.alerts.get(alertId);
    if (!alert) throw new CareflowError('ERR_ALERT_NOT_FOUND', `No alert ${alertId}`);
    return alert;
  }
}
