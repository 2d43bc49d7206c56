import { outageGrid, type Alert, type AlertText, type TimelineEntry } from '../core/alerts.ts';
import type { Person } from '../core/store/escalation-repo.ts';
import type { Store } from '../core/store/store.ts';
import type { MessageFanout } from './message-fanout.ts';

/** The parts of the embedded store the alert audience reads: who was told, and the addresses messages name. */
export type AudienceTables = Pick<Store, 'alerts' | 'outbox' | 'escalation' | 'registry'>;

/**
 * What the alert lifecycle's two halves share — applying detections (detection-applier.ts) and people's
 * actions (alert-service.ts): who has been told about an alert, and the address its messages name.
 */
export class AlertAudience {
  constructor(
    private readonly store: AudienceTables,
    private readonly fanout: MessageFanout,
  ) {}

  /** Everyone who was told about the alert so far gets this event. */
  tellEveryoneSoFar(alert: Alert, event: 'updated' | 'resolved', text: AlertText, causeId: number): void {
    const recipients = toldSoFar(
      this.store,
      this.store.outbox.recipientsOf(alert.id),
      this.store.alerts.timeline(alert.id),
    );
    this.fanout.send({ alert, event, text, recipients, causeId, level: null });
  }

  /** The household's address, or for a grid's outage the grid's name. */
  address(alert: Alert): string {
    return alertAddress(this.store, alert);
  }
}

/**
 * Everyone told about an alert so far, from whom its MQTT messages went to and its timeline: told directly, or
 * within a grouped message (its timeline says so). Shared with the cluster's notifier.
 */
export function toldSoFar(
  dir: Pick<Store, 'escalation'>,
  recipientIds: readonly string[],
  timeline: readonly TimelineEntry[],
): Person[] {
  const told = new Set(recipientIds);
  for (const e of timeline)
    if (e.kind === 'grouped' && typeof e.detail.worker === 'string') told.add(e.detail.worker);
  return [...told]
    .sort()
    .map((id) => dir.escalation.person(id))
    .filter((p): p is Person => p !== undefined);
}

/** The household's address, or for a grid's outage the grid's name. */
export function alertAddress(dir: Pick<Store, 'registry'>, alert: Alert): string {
  const grid = outageGrid(alert.householdId);
  if (grid !== null) return dir.registry.gridName(grid) ?? grid;
  return dir.registry.household(alert.householdId)?.address ?? alert.householdId;
}
