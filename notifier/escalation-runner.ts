import type { Alert, AlertText } from '../core/alerts.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { EscalationRecord } from '../core/store/escalation-repo.ts';
import type { Store } from '../core/store/store.ts';
import { escalationInfo, noRecipientEntry, openChain, skippedEntry } from './chain-opening.ts';
import {
  levelsOnce,
  nextAtOf,
  nextStep,
  planDueSteps,
  planEscalation,
  type ChainStep,
} from './escalation-plan.ts';
import type { MessageFanout } from './message-fanout.ts';

/** Longest single timer (setTimeout overflows past 2^31 ms); a farther step is re-armed on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The parts of the embedded store the escalation runner uses: the chains' state and the alerts' timelines. */
export type EscalationTables = Pick<Store, 'alerts' | 'escalation' | 'transaction' | 'db'>;

/**
 * Runs escalation chains on the injected clock. The state of every chain is a row (`escalations`), changed in
 * the same transaction as the alert, so a restart resumes each chain where it stood: a step that fell due
 * while the service was down runs at start, later steps keep their schedule. One timer is armed for the
 * earliest due step (no periodic polling, so a simulated clock can jump years without running idle scans).
 */
export class EscalationRunner {
  private timer: TimerHandle | undefined;
  private armedFor: number | undefined;
  private running = false;

  constructor(
    private readonly store: EscalationTables,
    private readonly clock: Clock,
    private readonly fanout: MessageFanout,
    private readonly logger: Logger,
    private readonly onChanged: () => void = () => {},
  ) {}

  start(): void {
    this.running = true;
    this.tick();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * Starts (or restarts, on reopen) the chain of an open alert, in the caller's transaction: the first level
   * that has people gets `text`; levels nobody fills are skipped. `causeId` is the timeline entry of the event.
   */
  begin(alert: Alert, summary: AlertText, text: AlertText, causeId: number): void {
    const now = this.clock.now();
    const { record, skipped, level } = openChain(this.store, alert, summary, now);
    if (!level) {
      this.store.alerts.addTimeline(alert.id, noRecipientEntry(alert.gridCode, now));
      this.fanout.send({ alert, event: 'opened', text, recipients: [], causeId, level: null });
      this.store.escalation.start({ ...record, state: 'exhausted', stoppedReason: 'no-recipient' });
      this.logger.warn({ alertId: alert.id, grid: alert.gridCode }, 'nobody to notify for the grid');
      return;
    }
    for (const s of skipped) this.skipped(alert.id, s.index, s.notify, now);
    this.fanout.send({
      alert,
      event: 'opened',
      text,
      recipients: level.people,
      causeId,
      level: level.index,
      escalation: escalationInfo(record),
    });
    record.nextAt = nextStep(record).at;
    this.store.escalation.start(record);
    this.rearm();
  }

  /** Ends an alert's chain (acknowledged, resolved, condition cleared); in the caller's transaction. */
  end(alertId: string, reason: string): void {
    const r = this.store.escalation.get(alertId);
    if (!r || r.state !== 'active') return;
    this.store.escalation.update({
      ...r,
      state: 'stopped',
      stoppedReason: reason,
      nextAt: null,
      updatedAt: this.clock.now(),
    });
    this.rearm();
  }

  /** A message of `level` finally failed: if the chain still waits at that level, the next level is told now. */
  escalateNow(alertId: string, level: number | null): boolean {
    if (level === null) return false;
    const done = this.store.transaction(() => {
      const r = this.store.escalation.get(alertId);
      const alert = this.store.alerts.get(alertId);
      if (!r || r.state !== 'active' || r.level !== level || alert?.state !== 'open') return false;
      const now = this.clock.now();
      this.run(alert, planEscalation(r, this.levels(r, alert), now, now, { kind: 'delivery-failed' }));
      this.store.escalation.update({ ...r, nextAt: nextAtOf(r), updatedAt: now });
      return true;
    });
    if (done) {
      this.rearm();
      this.onChanged();
    }
    return done;
  }

  /** Runs every step due by now. */
  tick(): void {
    if (!this.running || !this.store.db.open) return;
    try {
      const now = this.clock.now();
      let n = 0;
      this.store.transaction(() => {
        for (;;) {
          const due = this.store.escalation.due(now, 100);
          for (const r of due) this.advance(r, now);
          n += due.length;
          if (due.length < 100) break;
        }
      });
      if (n > 0) this.onChanged();
    } catch (err) {
      this.logger.error({ err }, 'escalation step failed');
    }
    this.arm();
  }

  private advance(r: EscalationRecord, now: number): void {
    const alert = this.store.alerts.get(r.alertId);
    if (!alert || alert.state !== 'open') {
      this.store.escalation.update({
        ...r,
        state: 'stopped',
        stoppedReason: 'not-open',
        nextAt: null,
        updatedAt: now,
      });
      return;
    }
    this.run(alert, planDueSteps(r, this.levels(r, alert), now));
    this.store.escalation.update({ ...r, nextAt: nextAtOf(r), updatedAt: now });
  }

  private levels(r: EscalationRecord, alert: Alert) {
    return levelsOnce(() => this.store.escalation.resolveLevels(r.chain, alert.gridCode, alert.householdId));
  }

  /** Writes each step's timeline entry and queues the messages it causes, in the caller's transaction. */
  private run(alert: Alert, steps: ChainStep[]): void {
    for (const s of steps) {
      const causeId = this.store.alerts.addTimeline(alert.id, s.entry);
      if (s.send) this.fanout.send({ ...s.send, alert, causeId });
      if (s.log) this.logger[s.log.level](s.log.fields, s.log.msg);
    }
  }

  private skipped(alertId: string, level: number, notify: string, now: number): void {
    this.store.alerts.addTimeline(alertId, skippedEntry(level, notify, now));
  }

  /** Re-arms the step timer once the caller's transaction is over. */
  private rearm(): void {
    if (this.running) queueMicrotask(() => this.arm());
  }

  private arm(): void {
    if (!this.running || !this.store.db.open) return;
    const next = this.store.escalation.nextDueAt();
    if (next === undefined) {
      this.timer?.cancel();
      this.timer = undefined;
      this.armedFor = undefined;
      return;
    }
    if (this.timer && this.armedFor === next) return;
    this.timer?.cancel();
    this.armedFor = next;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - this.clock.now()));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.armedFor = undefined;
      this.tick();
    }, delay);
  }
}
