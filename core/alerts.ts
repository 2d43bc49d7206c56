import { z } from 'zod';
import { CareflowError, type ErrorCode } from './errors.ts';
import type { WorkerErrorMessage } from './readings.ts';
import type { RuleAudience, Severity } from './rules.ts';

/** Alert lifecycle vocabulary shared by notifier, API and console. */
export const Outcome = z.enum([
  'resident-ok',
  'resident-helped',
  'hospitalized',
  'leak-confirmed',
  'leak-repaired',
  'meter-fault',
  'resident-away',
  'false-alarm',
  'other',
]);
export type Outcome = z.infer<typeof Outcome>;

export const AlertState = z.enum(['open', 'acknowledged', 'resolved']);
export type AlertState = z.infer<typeof AlertState>;

export interface Alert {
  id: string;
  householdId: string;
  gridCode: string;
  ruleId: string;
  severity: Severity;
  audience: RuleAudience;
  state: AlertState;
  openedAt: number;
  updatedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  resolvedAt: number | null;
  resolvedBy: string | null;
  outcome: Outcome | null;
  note: string | null;
  evidence: Evidence;
}

export interface TimelineEntry {
  at: number;
  kind: string;
  actor: string | null;
  detail: Record<string, unknown>;
}

/** What a detection shows: the window, the bucket values, and the thresholds used. */
export interface Evidence {
  windowStart: number;
  windowEnd: number;
  /** Liters per bucket over the window; null = unknown. */
  buckets?: (number | null)[];
  totalLiters?: number;
  thresholds: Record<string, number | string | boolean | null>;
  ruleVersion: number;
  lastReadingAt?: number;
}

/** A short text for people, in Chinese and English. */
export interface AlertText {
  'zh-CN': string;
  en: string;
}

/**
 * Several alerts opened for one person within the grouping window, in one message (Alertmanager-style): on
 * `workers/{workerId}/alerts` with `event: "grouped"`, each alert as its own message would have been.
 */
export interface WorkerGroupedMessage {
  event: 'grouped';
  messageId: string;
  count: number;
  alerts: WorkerAlertMessage[];
  message: AlertText;
}

/** Message on `workers/{workerId}/alerts` (and the body of a webhook call, with its recipients). */
export interface WorkerAlertMessage {
  event: 'opened' | 'updated' | 'escalated' | 'resolved';
  /** Same for every recipient of one event; a receiver drops a message whose id it has seen (redelivery). */
  messageId: string;
  alertId: string;
  householdId: string;
  address: string;
  grid: string;
  ruleId: string;
  severity: Severity;
  state: AlertState;
  openedAt: string;
  evidence: Evidence;
  message: AlertText;
  /** Where the alert stands in its escalation chain; `reminder` > 0 on reminders (event `updated`). */
  escalation?: { level: number; levels: number; notify: EscalationTarget; reminder: number };
}

/**
 * People's actions as changes of the alert row, with the lifecycle's refusals (`ERR_ALERT_STATE_CONFLICT`): the
 * embedded service (notifier/alert-service.ts) and a cluster worker (cluster/alert-desk.ts) apply the same.
 */
export const personAction = {
  acknowledge(a: Alert, actor: string, at: number): Alert {
    if (a.state !== 'open')
      throw new CareflowError('ERR_ALERT_STATE_CONFLICT', `Alert ${a.id} is ${a.state}, not open`);
    return { ...a, state: 'acknowledged', acknowledgedAt: at, acknowledgedBy: actor, updatedAt: at };
  },
  resolve(a: Alert, actor: string, outcome: Outcome, note: string | null, at: number): Alert {
    if (a.state === 'resolved')
      throw new CareflowError('ERR_ALERT_STATE_CONFLICT', `Alert ${a.id} is already resolved`);
    return { ...a, state: 'resolved', resolvedAt: at, resolvedBy: actor, outcome, note, updatedAt: at };
  },
  /** `otherOpen`: another unresolved alert of the household and rule, which a reopen may not double. */
  reopen(a: Alert, otherOpen: Alert | undefined, at: number): Alert {
    if (a.state === 'open')
      throw new CareflowError('ERR_ALERT_STATE_CONFLICT', `Alert ${a.id} is already open`);
    if (otherOpen && otherOpen.id !== a.id)
      throw new CareflowError(
        'ERR_ALERT_STATE_CONFLICT',
        `Household ${a.householdId} already has an open ${a.ruleId} alert (${otherOpen.id})`,
      );
    return {
      ...a,
      state: 'open',
      acknowledgedAt: null,
      acknowledgedBy: null,
      resolvedAt: null,
      resolvedBy: null,
      outcome: null,
      note: null,
      updatedAt: at,
    };
  },
};

/** What people (API, console, worker app) can do with an alert. Errors are CareflowErrors with codes. */
export interface AlertActions {
  acknowledge(alertId: string, actor: string): Alert;
  resolve(alertId: string, actor: string, outcome: Outcome, note: string | null): Alert;
  /** A note on the timeline, in any state. */
  comment(alertId: string, actor: string, text: string): Alert;
  /** Acknowledged or resolved → open again; the escalation chain starts over. */
  reopen(alertId: string, actor: string, reason: string): Alert;
}

/**
 * Escalation: who is told, in order, while nobody acknowledges. Levels resolve to people by role and scope:
 * `grid-workers` (role grid-worker assigned to the grid), `grid-leader` (role grid-leader assigned to the
 * grid), `community-staff` (community-staff whose scope covers the community), `street-staff` (street-staff
 * of the street office), and the neighbours of the household: `unit-head` (unit heads of its unit) and
 * `building-head` (building heads of its building).
 */
export const EscalationTarget = z.enum([
  'grid-workers',
  'grid-leader',
  'community-staff',
  'street-staff',
  'unit-head',
  'building-head',
]);
export type EscalationTarget = z.infer<typeof EscalationTarget>;

const MINUTES_PER_WEEK = 7 * 24 * 60;
export const EscalationLevel = z.strictObject({
  notify: EscalationTarget,
  /** Time this level has to acknowledge before the next one is told (after the last: the chain ends). */
  afterMinutes: z.number().int().min(1).max(MINUTES_PER_WEEK),
});
export type EscalationLevel = z.infer<typeof EscalationLevel>;

export const EscalationChain = z.strictObject({
  levels: z.array(EscalationLevel).min(1).max(8),
  /** A reminder to the current level every this many minutes while it waits; 0 = no reminders. */
  reminderMinutes: z.number().int().min(0).max(MINUTES_PER_WEEK),
});
export type EscalationChain = z.infer<typeof EscalationChain>;

/** The chains one scope sets, by audience; an absent audience inherits from the wider scope. */
export const EscalationSettings = z.strictObject({
  welfare: EscalationChain.optional(),
  leak: EscalationChain.optional(),
  maintenance: EscalationChain.optional(),
});
export type EscalationSettings = z.infer<typeof EscalationSettings>;

export const EscalationScopeLevel = z.enum(['global', 'district', 'street', 'community', 'grid', 'building']);
export type EscalationScopeLevel = z.infer<typeof EscalationScopeLevel>;

const level = (notify: EscalationTarget, afterMinutes: number): EscalationLevel => ({ notify, afterMinutes });

/**
 * Defaults (README "Escalation"): welfare climbs the whole tree in 30-minute steps with 15-minute reminders;
 * a leak gives each level 2 h (hourly reminders) and stops at community staff; a meter fault is
 * maintenance work: 4 h per level, reminders every 2 h, up to community staff.
 */
export const DEFAULT_ESCALATION: Record<RuleAudience, EscalationChain> = {
  welfare: {
    levels: [
      level('grid-workers', 30),
      level('grid-leader', 30),
      level('community-staff', 30),
      level('street-staff', 60),
    ],
    reminderMinutes: 15,
  },
  leak: {
    levels: [level('grid-workers', 120), level('grid-leader', 120), level('community-staff', 240)],
    reminderMinutes: 60,
  },
  // A silent meter is a maintenance matter first: one ticket per meter for the community staff who have
  // meters repaired, no reminders; grid workers hear of silence only through `welfare-silent`.
  maintenance: {
    levels: [level('community-staff', 3 * 24 * 60)],
    reminderMinutes: 0,
  },
};

/** Which outcomes confirm an alert of each audience (observed precision = confirmed ÷ judged). */
export const CONFIRMING_OUTCOMES: Record<RuleAudience, readonly Outcome[]> = {
  welfare: ['resident-helped', 'hospitalized', 'leak-confirmed', 'leak-repaired'],
  leak: ['leak-confirmed', 'leak-repaired'],
  maintenance: ['meter-fault'],
};

/** MQTT topics of the worker app besides its alerts: acknowledging an alert. */
export const WORKER_ACK_TOPIC = /^workers\/([^/]+)\/alerts\/([^/]+)\/ack$/;
export const workerAckTopic = (workerId: string, alertId: string) =>
  `workers/${workerId}/alerts/${alertId}/ack`;
/**
 * ... and confirming that a message arrived (`{ "messageId" }`): the receipt where the broker does not tell
 * careflow about the app's PUBACK (RabbitMQ, an external broker). On the embedded broker the PUBACK is enough.
 */
export const WORKER_RECEIPT_TOPIC = /^workers\/([^/]+)\/received$/;
export const workerReceiptTopic = (workerId: string) => `workers/${workerId}/received`;

/** The worker whose app topic (acknowledgement or receipt) this is; undefined for any other topic. */
export function workerOfAppTopic(topic: string): string | undefined {
  return WORKER_ACK_TOPIC.exec(topic)?.[1] ?? WORKER_RECEIPT_TOPIC.exec(topic)?.[1];
}

/**
 * Why a worker app's publish was refused: `code` and `message` are recorded (dead letter, log); `answer` is what
 * the app is told on `workers/{id}/errors` when that must say less (see `notTheirs`).
 */
export interface WorkerRefusal {
  code: ErrorCode;
  message: string;
  answer?: { code: ErrorCode; message: string };
}

/**
 * The answer to someone acknowledging an alert outside their grids or area: the same as for an alert that does
 * not exist (as the API answers 404), so that nobody learns which alerts exist outside their scope.
 */
export const notTheirs = (alertId: string): { code: ErrorCode; message: string } => ({
  code: 'ERR_ALERT_NOT_FOUND',
  message: `No alert ${alertId}`,
});

/** The reply on `workers/{id}/errors` to a refused publish of a worker app on `topic`. */
export function workerError(topic: string, code: string, message: string, at: number): WorkerErrorMessage {
  const alertId = WORKER_ACK_TOPIC.exec(topic)?.[2];
  return { code, message, topic, ...(alertId ? { alertId } : {}), ts: new Date(at).toISOString() };
}

/** What the broker hands the notifier about worker apps (acknowledgements, receipts, subscriptions). */
export interface WorkerPort {
  /** Whether `topic` is a worker-app topic the notifier handles (the ACL: under the worker's own id). */
  accepts(workerId: string, topic: string): boolean;
  /** A publish to an accepted topic; returns why it was refused, if it was. */
  publish(workerId: string, topic: string, payload: Buffer): WorkerRefusal | undefined;
  /** The worker app's client PUBACKed a message of its alert topic (persistent sessions only). */
  received(workerId: string, payload: Buffer): void;
  /** The worker subscribed to its alert topic on a persistent session the broker did not have. */
  subscribedFresh(workerId: string): void;
}

/** One timeline entry with the alert it belongs to: what `GET /api/events` streams. */
export interface AlertEvent extends TimelineEntry {
  /** Timeline id: increasing, the SSE event id (`Last-Event-ID`). */
  id: number;
  alert: {
    id: string;
    householdId: string;
    grid: string;
    ruleId: string;
    severity: Severity;
    state: AlertState;
  };
}

/** The committed alert timeline as a feed (for server-sent events). */
export interface AlertFeed {
  latestId(): number;
  /** Entries after `afterId`, oldest first. */
  since(afterId: number, limit: number): AlertEvent[];
  /** Called with new entries after they are committed; returns the unsubscribe function. */
  subscribe(listener: (events: AlertEvent[]) => void): () => void;
}

/**
 * Correlated silence: one `meter-outage` alert per grid and outage (audience maintenance), kept under the
 * pseudo-household `grid:<code>` (household codes never hold a `:`).
 */
export const OUTAGE_RULE_ID = 'meter-outage';
export const outageHouseholdId = (grid: string) => `grid:${grid}`;
/** The grid of an outage alert's pseudo-household, or null for a real household. */
export const outageGrid = (householdId: string): string | null =>
  householdId.startsWith('grid:') ? householdId.slice(5) : null;
