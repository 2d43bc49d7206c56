import type { Alert, AlertEvent, TimelineEntry } from '../core/alerts.ts';
import type { Io, Mode } from '../core/repository.ts';
import type { AlertFilter } from '../core/store/alert-repo.ts';
import type { Store } from '../core/store/store.ts';
import type { Detection } from '../core/streams.ts';

export type { AlertFilter };

/**
 * The notifier's alerts: each alert's row, its timeline (ids increase over all alerts: the event feed's ids),
 * and the detections already applied (idempotency on re-processing). `M` is 'sync' for the embedded SQLite
 * store, 'async' for PostgreSQL. The embedded store's `AlertRepo` is the SQLite implementation.
 */
export interface AlertRepository<M extends Mode = 'sync'> {
  insert(a: Alert): Io<M, void>;
  update(a: Alert): Io<M, void>;
  get(id: string): Io<M, Alert | undefined>;
  /** The household's alert of the rule that is not resolved (at most one). */
  findOpen(householdId: string, ruleId: string): Io<M, Alert | undefined>;
  /** The household's most recently opened alert of the rule, in any state. */
  latest(householdId: string, ruleId: string): Io<M, Alert | undefined>;
  /** Newest first (then by id), at most `limit` (default 200). */
  list(filter?: AlertFilter): Io<M, Alert[]>;
  timeline(alertId: string): Io<M, TimelineEntry[]>;
  /** Appends to the alert's timeline; returns the entry's id. */
  addTimeline(alertId: string, entry: TimelineEntry): Io<M, number>;
  latestTimelineId(): Io<M, number>;
  /** Timeline entries of every alert after `afterId`, oldest first, with their alert's current summary. */
  timelineSince(afterId: number, limit: number): Io<M, AlertEvent[]>;
  /** Records that a detection was applied; false when it already was. */
  recordDetection(d: Detection, alertId: string | null): Io<M, boolean>;
  /** The alert a recorded detection was written to (null: none). */
  alertOfDetection(key: string): Io<M, string | null>;
  linkDetection(key: string, alertId: string): Io<M, void>;
}

/** The alerts of the embedded store (their SQLite implementation, synchronous). */
export function sqliteAlerts(store: Pick<Store, 'alerts'>): AlertRepository<'sync'> {
  return store.alerts;
}
