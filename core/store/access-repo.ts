import { EVERYTHING, type GridPlace, type Role, type Scope } from '../access.ts';
import type { Db } from './open-store.ts';

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  scope: Scope;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
}

/** People's passwords and scopes, API keys, and where each grid sits in the organisation tree. */
export class AccessRepo {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      setPassword: db.prepare('UPDATE workers SET password_hash = ? WHERE id = ?'),
      person: db.prepare('SELECT id, name, role, password_hash AS passwordHash FROM workers WHERE id = ?'),
      clearScopes: db.prepare('DELETE FROM worker_scopes WHERE worker_id = ?'),
      addScope: db.prepare('INSERT OR IGNORE INTO worker_scopes (worker_id, level, code) VALUES (?, ?, ?)'),
      scopes: db.prepare('SELECT level, code FROM worker_scopes WHERE worker_id = ?'),
      grids: db.prepare('SELECT grid FROM worker_grids WHERE worker_id = ?').pluck(),
      clearPlaces: db.prepare('DELETE FROM worker_places WHERE worker_id = ?'),
      addPlace: db.prepare('INSERT OR IGNORE INTO worker_places (worker_id, level, code) VALUES (?, ?, ?)'),
      personPlaces: db.prepare('SELECT level, code FROM worker_places WHERE worker_id = ?'),
      householdPlace: db.prepare('SELECT grid, building, unit FROM households WHERE id = ?'),
      householdsOfPlaces: db
        .prepare(
          `SELECT h.id FROM households h WHERE h.building IN (SELECT value FROM json_each(?))
           OR h.unit IN (SELECT value FROM json_each(?)) OR h.id IN (SELECT value FROM json_each(?))
         ORDER BY h.id`,
        )
        .pluck(),
      places: db.prepare(
        'SELECT g.code AS grid, c.code AS community, c.street AS street FROM grids g JOIN communities c ON c.code = g.community',
      ),
      householdGrid: db.prepare('SELECT grid FROM households WHERE id = ?').pluck(),
      insertKey: db.prepare(
        `INSERT INTO api_keys (id, name, role, scope, key_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      keyByHash: db.prepare('SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL'),
      keys: db.prepare('SELECT * FROM api_keys ORDER BY created_at'),
      revokeKey: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    };
  }

  setPassword(personId: string, hash: string): void {
    this.s.setPassword.run(hash, personId);
  }

  person(id: string): { id: string; name: string; role: Role; passwordHash: string | null } | undefined {
    return this.s.person.get(id) as
      { id: string; name: string; role: Role; passwordHash: string | null } | undefined;
  }

  /** Street and community assignments (grid assignments live with the worker's grids). */
  setScopes(personId: string, scopes: { streets: readonly string[]; communities: readonly string[] }): void {
    this.s.clearScopes.run(personId);
    for (const code of scopes.streets) this.s.addScope.run(personId, 'street', code);
    for (const code of scopes.communities) this.s.addScope.run(personId, 'community', code);
  }

  /** Buildings, units and households a neighbour or relative answers for (replaces what was set). */
  setPlaces(
    personId: string,
    places: { buildings: readonly string[]; units: readonly string[]; households: readonly string[] },
  ): void {
    this.s.clearPlaces.run(personId);
    for (const code of places.buildings) this.s.addPlace.run(personId, 'building', code);
    for (const code of places.units) this.s.addPlace.run(personId, 'unit', code);
    for (const code of places.households) this.s.addPlace.run(personId, 'household', code);
  }

  scopeOf(personId: string, role: Role): Scope {
    if (role === 'admin') return EVERYTHING;
    const rows = this.s.scopes.all(personId) as { level: 'street' | 'community'; code: string }[];
    const scope: Scope = {
      all: false,
      streets: rows.filter((r) => r.level === 'street').map((r) => r.code),
      communities: rows.filter((r) => r.level === 'community').map((r) => r.code),
      grids: this.s.grids.all(personId) as string[],
    };
    const places = this.s.personPlaces.all(personId) as {
      level: 'building' | 'unit' | 'household';
      code: string;
    }[];
    if (places.length === 0) return scope;
    return {
      ...scope,
      buildings: places.filter((r) => r.level === 'building').map((r) => r.code),
      units: places.filter((r) => r.level === 'unit').map((r) => r.code),
      households: places.filter((r) => r.level === 'household').map((r) => r.code),
    };
  }

  /** Grid, building and unit of a household. */
  householdPlace(
    householdId: string,
  ): { grid: string; building: string | null; unit: string | null } | undefined {
    return this.s.householdPlace.get(householdId) as
      { grid: string; building: string | null; unit: string | null } | undefined;
  }

  /** The households in any of these buildings or units, or named. */
  householdsOf(places: {
    buildings?: readonly string[];
    units?: readonly string[];
    households?: readonly string[];
  }): string[] {
    return this.s.householdsOfPlaces.all(
      JSON.stringify(places.buildings ?? []),
      JSON.stringify(places.units ?? []),
      JSON.stringify(places.households ?? []),
    ) as string[];
  }

  gridPlaces(): GridPlace[] {
    return this.s.places.all() as GridPlace[];
  }

  householdGrid(householdId: string): string | undefined {
    return this.s.householdGrid.get(householdId) as string | undefined;
  }

  createApiKey(k: Omit<ApiKeyRecord, 'revokedAt'>, keyHash: string): void {
    this.s.insertKey.run(k.id, k.name, k.role, JSON.stringify(k.scope), keyHash, k.createdAt, k.createdBy);
  }

  apiKeyByHash(keyHash: string): ApiKeyRecord | undefined {
    const row = this.s.keyByHash.get(keyHash) as KeyRow | undefined;
    return row && toKey(row);
  }

  apiKeys(): ApiKeyRecord[] {
    return (this.s.keys.all() as KeyRow[]).map(toKey);
  }

  revokeApiKey(id: string, at: number): boolean {
    return this.s.revokeKey.run(at, id).changes === 1;
  }
}

interface KeyRow {
  id: string;
  name: string;
  role: Role;
  scope: string;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
}

function toKey(r: KeyRow): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    scope: JSON.parse(r.scope) as Scope,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
  };
}
