import { z } from 'zod';
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

/** Message on `workers/{workerId}/alerts`. */
export interface WorkerAlertMessage {
  event: 'opened' | 'updated' | 'escalated' | 'resolved';
  alertId: string;
  householdId: string;
  address: string;
  grid: string;
  ruleId: string;
  severity: Severity;
  state: AlertState;
  openedAt: string;
  evidence: Evidence;
  message: { 'zh-CN': string; en: string };
}

/** What people (API, console, worker app) can do with an alert. Errors are CareflowErrors with codes. */
export interface AlertActions {
  acknowledge(alertId: string, actor: string): Alert;
  resolve(alertId: string, actor: string, outcome: Outcome, note: string | null): Alert;
}
