import type { Alert, AlertText } from '../core/alerts.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { EscalationRecord } from '../core/store/escalation-repo.ts';
import type { Store } from '../core/store/store.ts';
import { escalatedText, reminderText } from './alert-message.ts';
import { escalationInfo, noRecipientEntry, openChain, skippedEntry } from './chain-opening.ts';
import type { MessageFanout } from './message-fanout.ts';

const MINUTE = 60_000;
/** Longest single timer (setTimeout overflows past 2^31 ms); a farther step is re-armed on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type EscalationReason =
  { kind: 'no-acknowledgement'; waitingMinutes: number } | { kind: 'delivery-failed' };

/** The next step of a chain: a reminder at the current level, the next level, or the end of the chain. */
export function nextStep(r: EscalationRecord): { kind: 'reminder' | 'escalate' | 'end'; at: number } {
  const level = r.chain.levels[r.level]!;
  const levelEnd = r.levelStartedAt + level.afterMinutes * MINUTE;
  if (r.chain.reminderMinutes > 0) {
    const reminderAt = r.levelStartedAt + (r.reminders + 1) * r.chain.reminderMinutes * MINUTE;
    if (reminderAt < levelEnd) return { kind: 'reminder', at: reminderAt };
  }
  return { kind: r.level + 1 < r.chain.levels.length ? 'escalate' : 'end', at: levelEnd };
}

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
    private readonly store: Store,
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
      this.escalate(r, alert, now, { kind: 'delivery-failed' });
      this.store.escalation.update({
        ...r,
        nextAt: r.state === 'active' ? nextStep(r).at : null,
        updatedAt: now,
      });
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
    for (;;) {
      const step = nextStep(r);
      if (step.at > now) break;
      if (step.kind === 'reminder') {
        r.reminders++;
        // A reminder overtaken by a later step (the service was down) is not sent.
        if (nextStep(r).at > now) this.remind(r, alert, step.at);
      } else if (step.kind === 'escalate') {
        this.escalate(r, alert, step.at, {
          kind: 'no-acknowledgement',
          waitingMinutes: Math.round((step.at - r.startedAt) / MINUTE),
        });
      } else {
        this.exhausted(r, alert.id, now);
      }
      if (r.state !== 'active') break;
    }
    this.store.escalation.update({
      ...r,
      nextAt: r.state === 'active' ? nextStep(r).at : null,
      updatedAt: now,
    });
  }

  private remind(r: EscalationRecord, alert: Alert, dueAt: number): void {
    const now = this.clock.now();
    const notify = r.chain.levels[r.level]!.notify;
    const causeId = this.store.alerts.addTimeline(alert.id, {
      at: now,
      kind: 'reminder',
      actor: null,
      detail: { level: r.level, notify, reminder: r.reminders, dueAt },
    });
    this.fanout.send({
      alert,
      event: 'updated',
      text: reminderText(r.summary, Math.round((dueAt - r.startedAt) / MINUTE)),
      recipients:
        this.store.escalation.resolveLevels(r.chain, alert.gridCode, alert.householdId)[r.level]?.people ??
        [],
      causeId,
      level: r.level,
      escalation: escalationInfo(r),
    });
  }

  /** Moves `r` to the next level that has people (skipping empty ones), or ends the chain. */
  private escalate(r: EscalationRecord, alert: Alert, at: number, reason: EscalationReason): void {
    const now = this.clock.now();
    const levels = this.store.escalation.resolveLevels(r.chain, alert.gridCode, alert.householdId);
    for (const level of levels.slice(r.level + 1)) {
      if (level.people.length === 0) {
        this.skipped(alert.id, level.index, level.notify, now);
        continue;
      }
      const causeId = this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'escalated',
        actor: null,
        detail: {
          level: level.index,
          notify: level.notify,
          reason: reason.kind,
          people: level.people.map((p) => p.id),
          dueAt: at,
        },
      });
      Object.assign(r, { level: level.index, levelStartedAt: at, reminders: 0 });
      this.fanout.send({
        alert,
        event: 'escalated',
        text: escalatedText(r.summary, level.notify, reason),
        recipients: level.people,
        causeId,
        level: level.index,
        escalation: escalationInfo(r),
      });
      this.logger.info({ alertId: alert.id, level: level.index, notify: level.notify }, 'alert escalated');
      return;
    }
    this.exhausted(r, alert.id, now);
  }

  private exhausted(r: EscalationRecord, alertId: string, now: number): void {
    this.store.alerts.addTimeline(alertId, {
      at: now,
      kind: 'escalation-exhausted',
      actor: null,
      detail: { level: r.level, notify: r.chain.levels[r.level]!.notify },
    });
    Object.assign(r, { state: 'exhausted', stoppedReason: 'chain-exhausted' });
    this.logger.warn({ alertId, level: r.level }, 'escalation chain exhausted without acknowledgement');
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
