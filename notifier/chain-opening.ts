import type { Alert, AlertText, TimelineEntry, WorkerAlertMessage } from '../core/alerts.ts';
import type { EscalationRecord, ResolvedLevel } from '../core/store/escalation-repo.ts';
import type { Store } from '../core/store/store.ts';

/**
 * Where an alert's chain begins (on open and reopen), as the embedded escalation runner and the cluster's
 * notifier both need it: the chain in force for the alert, the first level that has people (levels nobody fills
 * are skipped) and the chain's record at its start. Reads only.
 */
export interface ChainOpening {
  record: EscalationRecord;
  /** The levels before the first that has people (each gets an `escalation-skipped` entry). */
  skipped: ResolvedLevel[];
  /** The first level that has people; undefined: nobody to notify (`no-recipient`). */
  level: ResolvedLevel | undefined;
}

export function openChain(
  dir: Pick<Store, 'escalation'>,
  alert: Alert,
  summary: AlertText,
  now: number,
): ChainOpening {
  const { chain, source } = dir.escalation.effectiveChain(alert.gridCode, alert.audience, alert.householdId);
  const levels = dir.escalation.resolveLevels(chain, alert.gridCode, alert.householdId);
  const first = levels.findIndex((l) => l.people.length > 0);
  const record: EscalationRecord = {
    alertId: alert.id,
    chain,
    source,
    summary,
    startedAt: now,
    level: Math.max(0, first),
    levelStartedAt: now,
    reminders: 0,
    nextAt: null,
    state: 'active',
    stoppedReason: null,
    updatedAt: now,
  };
  return first === -1
    ? { record, skipped: [], level: undefined }
    : { record, skipped: levels.slice(0, first), level: levels[first] };
}

/** The `escalation` part of a worker message: where the chain stands. */
export function escalationInfo(r: EscalationRecord): NonNullable<WorkerAlertMessage['escalation']> {
  return {
    level: r.level,
    levels: r.chain.levels.length,
    notify: r.chain.levels[r.level]!.notify,
    reminder: r.reminders,
  };
}

/** The timeline entry of a level nobody fills. */
export function skippedEntry(level: number, notify: string, at: number): TimelineEntry {
  return {
    at,
    kind: 'escalation-skipped',
    actor: null,
    detail: { level, notify, reason: 'nobody holds this role for the grid' },
  };
}

/** The timeline entry of an alert nobody can be told about. */
export function noRecipientEntry(grid: string, at: number): TimelineEntry {
  return { at, kind: 'no-recipient', actor: null, detail: { grid } };
}
