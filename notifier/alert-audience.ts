import { outageGrid, type Alert, type AlertText } from '../core/alerts.ts';
import type { Person } from '../core/store/escalation-repo.ts';
import type { Store } from '../core/store/store.ts';
import type { MessageFanout } from './message-fanout.ts';

/**
 * What the alert lifecycle's two halves share — applying detections (detection-applier.ts) and people's
 * actions (alert-service.ts): who has been told about an alert, and the address its messages name.
 */
export class AlertAudience {
  constructor(
    private readonly store: Store,
    private readonly fanout: MessageFanout,
  ) {}

  /** Everyone who was told about the alert so far gets this event. */
  tellEveryoneSoFar(alert: Alert, event: 'updated' | 'resolved', text: AlertText, causeId: number): void {
    // Told directly, or within a grouped message (its timeline says so).
    const told = new Set(this.store.outbox.recipientsOf(alert.id));
    for (const e of this.store.alerts.timeline(alert.id))
      if (e.kind === 'grouped' && typeof e.detail.worker === 'string') told.add(e.detail.worker);
    const recipients = [...told]
      .sort()
      .map((id) => this.store.escalation.person(id))
      .filter((p): p is Person => p !== undefined);
    this.fanout.send({ alert, event, text, recipients, causeId, level: null });
  }

  /** The household's address, or for a grid's outage the grid's name. */
  address(alert: Alert): string {
    const grid = outageGrid(alert.householdId);
    if (grid !== null) return this.store.registry.gridName(grid) ?? grid;
    return this.store.registry.household(alert.householdId)?.address ?? alert.householdId;
  }
}
