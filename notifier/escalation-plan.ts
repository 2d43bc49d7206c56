import type { TimelineEntry } from '../core/alerts.ts';
import type { EscalationRecord, ResolvedLevel } from '../core/store/escalation-repo.ts';
import { escalatedText, reminderText } from './alert-message.ts';
import { escalationInfo, skippedEntry } from './chain-opening.ts';
import type { FanoutEvent } from './fanout-plan.ts';

const MINUTE = 60_000;

export type EscalationReason =
  { kind: 'no-acknowledgement'; waitingMinutes: number } | { kind: 'delivery-failed' };

/**
 * One thing a chain's step does, in order: a timeline entry, and when it tells people, the event they get (its
 * `causeId` is the entry's id once written). The embedded runner (SQLite, synchronous) and the cluster's steps
 * (PostgreSQL, any worker) write and send these the same way, so a chain climbs alike in both.
 */
export interface ChainStep {
  entry: TimelineEntry;
  send?: Omit<FanoutEvent, 'alert' | 'causeId'>;
  log?: { level: 'info' | 'warn'; fields: Record<string, unknown>; msg: string };
}

/** The levels of the record's chain with their people for the alert, resolved once when first asked for. */
export type LevelsOf = () => ResolvedLevel[];

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
 * Every step of an open alert's chain due by `now`, advancing `r` in place (level, reminders, state); the caller
 * writes `r` back with `nextAt` from `nextAtOf`. A reminder overtaken by a later step (nobody ran the chain for
 * a while) is not sent.
 */
export function planDueSteps(r: EscalationRecord, levels: LevelsOf, now: number): ChainStep[] {
  const steps: ChainStep[] = [];
  for (;;) {
    const step = nextStep(r);
    if (step.at > now) break;
    if (step.kind === 'reminder') {
      r.reminders++;
      if (nextStep(r).at > now) steps.push(reminder(r, levels, step.at, now));
    } else if (step.kind === 'escalate') {
      steps.push(
        ...planEscalation(r, levels, step.at, now, {
          kind: 'no-acknowledgement',
          waitingMinutes: Math.round((step.at - r.startedAt) / MINUTE),
        }),
      );
    } else steps.push(exhausted(r, now));
    if (r.state !== 'active') break;
  }
  return steps;
}

/** Moves `r` to the next level that has people (skipping empty ones), or ends the chain. */
export function planEscalation(
  r: EscalationRecord,
  levels: LevelsOf,
  at: number,
  now: number,
  reason: EscalationReason,
): ChainStep[] {
  const steps: ChainStep[] = [];
  for (const level of levels().slice(r.level + 1)) {
    if (level.people.length === 0) {
      steps.push({ entry: skippedEntry(level.index, level.notify, now) });
      continue;
    }
    const entry: TimelineEntry = {
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
    };
    Object.assign(r, { level: level.index, levelStartedAt: at, reminders: 0 });
    steps.push({
      entry,
      send: {
        event: 'escalated',
        text: escalatedText(r.summary, level.notify, reason),
        recipients: level.people,
        level: level.index,
        escalation: escalationInfo(r),
      },
      log: {
        level: 'info',
        fields: { alertId: r.alertId, level: level.index, notify: level.notify },
        msg: 'alert escalated',
      },
    });
    return steps;
  }
  steps.push(exhausted(r, now));
  return steps;
}

/** When the record's next step is due (null once the chain is over). */
export function nextAtOf(r: EscalationRecord): number | null {
  return r.state === 'active' ? nextStep(r).at : null;
}

function reminder(r: EscalationRecord, levels: LevelsOf, dueAt: number, now: number): ChainStep {
  const notify = r.chain.levels[r.level]!.notify;
  return {
    entry: {
      at: now,
      kind: 'reminder',
      actor: null,
      detail: { level: r.level, notify, reminder: r.reminders, dueAt },
    },
    send: {
      event: 'updated',
      text: reminderText(r.summary, Math.round((dueAt - r.startedAt) / MINUTE)),
      recipients: levels()[r.level]?.people ?? [],
      level: r.level,
      escalation: escalationInfo(r),
    },
  };
}

function exhausted(r: EscalationRecord, now: number): ChainStep {
  const entry: TimelineEntry = {
    at: now,
    kind: 'escalation-exhausted',
    actor: null,
    detail: { level: r.level, notify: r.chain.levels[r.level]!.notify },
  };
  Object.assign(r, { state: 'exhausted', stoppedReason: 'chain-exhausted' });
  return {
    entry,
    log: {
      level: 'warn',
      fields: { alertId: r.alertId, level: r.level },
      msg: 'escalation chain exhausted without acknowledgement',
    },
  };
}

/** Memoises a record's resolved levels (the registry is read once per step run). */
export function levelsOnce(resolve: () => ResolvedLevel[]): LevelsOf {
  let levels: ResolvedLevel[] | undefined;
  return () => (levels ??= resolve());
}
