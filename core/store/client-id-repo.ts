import type { Db } from './open-store.ts';

export interface ClientIdOwner {
  kind: string;
  id: string;
}

/** MQTT client ids and the principal (meter or worker) each belongs to. Owned by the broker. */
export class ClientIdRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      owner: db.prepare(
        'SELECT principal_kind AS kind, principal_id AS id FROM mqtt_client_ids WHERE client_id = ?',
      ),
      bind: db.prepare(
        `INSERT INTO mqtt_client_ids (client_id, principal_kind, principal_id, first_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (client_id) DO NOTHING`,
      ),
      count: db
        .prepare('SELECT count(*) FROM mqtt_client_ids WHERE principal_kind = ? AND principal_id = ?')
        .pluck(),
      evict: db.prepare(
        `DELETE FROM mqtt_client_ids WHERE client_id IN (
           SELECT client_id FROM mqtt_client_ids WHERE principal_kind = ? AND principal_id = ?
           ORDER BY rowid LIMIT ?)`,
      ),
    };
  }

  owner(clientId: string): ClientIdOwner | undefined {
    return this.s.owner.get(clientId) as ClientIdOwner | undefined;
  }

  /**
   * Binds `clientId` to the principal unless it is bound already (the first binding wins); keeps at most
   * `maxPerPrincipal` ids per principal, forgetting its oldest. Returns the owner after the call.
   */
  bind(clientId: string, owner: ClientIdOwner, at: number, maxPerPrincipal: number): ClientIdOwner {
    return this.s.bind.database.transaction(() => {
      this.s.bind.run(clientId, owner.kind, owner.id, at);
      const n = this.s.count.get(owner.kind, owner.id) as number;
      if (n > maxPerPrincipal) this.s.evict.run(owner.kind, owner.id, n - maxPerPrincipal);
      return this.owner(clientId) ?? owner;
    })();
  }
}
