import type { GridPlace } from '../access.ts';
import type { Db } from './open-store.ts';

export type WebhookOwnerKind = 'worker' | 'grid' | 'community' | 'street' | 'global';

/**
 * An HTTP endpoint that receives alert messages: a person's (everything sent to that person) or a scope's
 * (every alert message of the scope's grids, once per event). The secret signs each call; it is stored as
 * given (HMAC needs it) and never returned by the API.
 */
export interface WebhookEndpoint {
  id: string;
  url: string;
  secret: string;
  owner: { kind: WebhookOwnerKind; code: string };
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  updatedBy: string;
}

interface WebhookRow {
  id: string;
  url: string;
  secret: string;
  owner_kind: WebhookOwnerKind;
  owner_code: string;
  enabled: number;
  created_at: number;
  updated_at: number;
  updated_by: string;
}

export class WebhookRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      put: db.prepare(
        `INSERT INTO webhooks (id, url, secret, owner_kind, owner_code, enabled, created_at, updated_at, updated_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
           owner_kind = excluded.owner_kind, owner_code = excluded.owner_code, enabled = excluded.enabled,
           updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      ),
      get: db.prepare('SELECT * FROM webhooks WHERE id = ?'),
      delete: db.prepare('DELETE FROM webhooks WHERE id = ?'),
      list: db.prepare('SELECT * FROM webhooks ORDER BY id'),
      forWorker: db.prepare(
        `SELECT * FROM webhooks WHERE owner_kind = 'worker' AND owner_code = ? AND enabled = 1 ORDER BY id`,
      ),
      forPlace: db.prepare(
        `SELECT * FROM webhooks WHERE enabled = 1 AND (owner_kind = 'global'
           OR (owner_kind = 'grid' AND owner_code = ?) OR (owner_kind = 'community' AND owner_code = ?)
           OR (owner_kind = 'street' AND owner_code = ?)) ORDER BY id`,
      ),
    };
  }

  /** Creates or replaces an endpoint; returns whether it was new. */
  put(e: Omit<WebhookEndpoint, 'createdAt'>, at: number): boolean {
    const existed = this.get(e.id) !== undefined;
    this.s.put.run(
      e.id,
      e.url,
      e.secret,
      e.owner.kind,
      e.owner.code,
      e.enabled ? 1 : 0,
      at,
      e.updatedAt,
      e.updatedBy,
    );
    return !existed;
  }

  get(id: string): WebhookEndpoint | undefined {
    const row = this.s.get.get(id) as WebhookRow | undefined;
    return row && fromRow(row);
  }

  delete(id: string): boolean {
    return this.s.delete.run(id).changes === 1;
  }

  list(): WebhookEndpoint[] {
    return (this.s.list.all() as WebhookRow[]).map(fromRow);
  }

  /** Enabled endpoints of one person. */
  forWorker(workerId: string): WebhookEndpoint[] {
    return (this.s.forWorker.all(workerId) as WebhookRow[]).map(fromRow);
  }

  /** Enabled scope endpoints whose scope covers the grid. */
  forPlace(place: GridPlace): WebhookEndpoint[] {
    return (this.s.forPlace.all(place.grid, place.community, place.street) as WebhookRow[]).map(fromRow);
  }
}

function fromRow(r: WebhookRow): WebhookEndpoint {
  return {
    id: r.id,
    url: r.url,
    secret: r.secret,
    owner: { kind: r.owner_kind, code: r.owner_code },
    enabled: r.enabled === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
  };
}
