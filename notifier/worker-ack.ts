import { z } from 'zod';
import { belowGrid, scopeCovers, scopeCoversHousehold } from '../core/access.ts';
import type { Store } from '../core/store/store.ts';

const AckPayload = z.strictObject({ note: z.string().max(2000).optional() });

/**
 * An acknowledgement a worker app sends over MQTT (`workers/{id}/alerts/{alertId}/ack`), as the embedded inbox
 * and the cluster's acknowledgement consumers both read it: the payload (empty or `{ "note" }`) and who may
 * acknowledge an alert.
 */
export function parseAckPayload(payload: Buffer): { note: string | undefined } | { error: string } {
  if (payload.length === 0) return { note: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return { error: 'an acknowledgement payload must be empty or JSON { "note" }' };
  }
  const body = AckPayload.safeParse(parsed);
  return body.success ? { note: body.data.note } : { error: z.prettifyError(body.error) };
}

/**
 * Whether the person's grids or area cover the alert's grid (community and street staff answer escalations);
 * building and unit heads and relatives answer for their households only.
 */
export function mayAcknowledge(
  dir: Pick<Store, 'escalation' | 'access'>,
  workerId: string,
  grid: string,
  householdId: string,
): boolean {
  const person = dir.escalation.person(workerId);
  const place = dir.escalation.place(grid);
  if (!person || !place) return false;
  const scope = dir.access.scopeOf(person.id, person.role);
  if (belowGrid(scope)) {
    const home = dir.access.householdPlace(householdId);
    return home !== undefined && scopeCoversHousehold(scope, { id: householdId, ...home });
  }
  return scopeCovers(scope, place);
}
