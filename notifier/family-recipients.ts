import type { Alert } from '../core/alerts.ts';
import type { Person } from '../core/store/escalation-repo.ts';
import type { Store } from '../core/store/store.ts';

/**
 * The relatives to tell of an alert: the household's family contacts whose chosen audiences include the
 * alert's, while the resident's consent in force covers family notification. Never another household's.
 */
export function familyRecipients(
  store: Pick<Store, 'privacy'>,
  alert: Alert,
  already: readonly Person[],
): Person[] {
  if (!store.privacy.consent(alert.householdId)?.purposes.includes('family')) return [];
  const told = new Set(already.map((p) => p.id));
  return store.privacy
    .familyOf(alert.householdId)
    .filter((f) => f.audiences.includes(alert.audience) && !told.has(f.id))
    .map((f) => ({ id: f.id, name: f.name, role: 'family' as const, phone: f.phone }));
}

/**
 * `recipients` without the relatives who may no longer be told (the household withdrew its consent to family
 * notification, or the relative no longer follows the alert's audience).
 */
export function withoutWithdrawnFamily(
  store: Pick<Store, 'privacy'>,
  alert: Alert,
  recipients: readonly Person[],
): Person[] {
  if (!recipients.some((p) => p.role === 'family')) return [...recipients];
  const allowed = new Set(familyRecipients(store, alert, []).map((p) => p.id));
  return recipients.filter((p) => p.role !== 'family' || allowed.has(p.id));
}
