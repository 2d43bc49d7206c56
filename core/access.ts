import { z } from 'zod';
import { WorkerRole } from './registry.ts';

/**
 * Who may do what. People (grid workers, grid leaders, community staff, street staff, admins) act within a
 * scope of the organisation tree; permissions come from their role.
 */
/**
 * People's roles, and two roles of API keys only: `monitor`, for Prometheus, which may read `/metrics` and nothing
 * else; `ingest`, for a utility's or carrier's platform, which may only post readings of meters in its scope.
 */
export const Role = z.enum([...WorkerRole.options, 'monitor', 'ingest']);
export type Role = z.infer<typeof Role>;

export const PERMISSIONS = [
  'alerts:read',
  'alerts:act',
  'households:read',
  'households:write',
  'usage:read',
  'rules:read',
  'rules:write',
  'backtest:run',
  'deadletters:read',
  'stats:read',
  'events:read',
  'audit:read',
  'escalation:write',
  'apikeys:manage',
  'clock:write',
  'metrics:read',
  /** Export and erasure of a household's personal data. */
  'privacy:manage',
  'readings:write',
] as const;
export const Permission = z.enum(PERMISSIONS);
export type Permission = z.infer<typeof Permission>;

const FIELD: Permission[] = ['alerts:read', 'alerts:act', 'households:read', 'usage:read', 'events:read'];
const STAFF: Permission[] = [
  ...FIELD,
  'households:write',
  'rules:read',
  'rules:write',
  'backtest:run',
  'deadletters:read',
  'stats:read',
  'audit:read',
  'escalation:write',
  'privacy:manage',
];

/**
 * Neighbours (building and unit heads) and relatives act on the households they look after: they see and
 * acknowledge those households' alerts and see the households, but not their water use (personal information
 * a neighbour does not need to knock on a door).
 */
const NEIGHBOUR: Permission[] = ['alerts:read', 'alerts:act', 'households:read', 'events:read'];

export const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  'building-head': new Set(NEIGHBOUR),
  'unit-head': new Set(NEIGHBOUR),
  family: new Set(NEIGHBOUR),
  'grid-worker': new Set([...FIELD, 'households:write']),
  'grid-leader': new Set([...FIELD, 'households:write', 'rules:read', 'stats:read', 'deadletters:read']),
  'community-staff': new Set(STAFF),
  'street-staff': new Set(STAFF),
  admin: new Set(PERMISSIONS),
  monitor: new Set(['metrics:read']),
  ingest: new Set(['readings:write']),
};

/** The part of the organisation a principal answers for. `all` for admins. */
export interface Scope {
  all: boolean;
  streets: readonly string[];
  communities: readonly string[];
  grids: readonly string[];
  /**
   * Below a grid (building heads, unit heads, family): the buildings, units and single households the
   * principal answers for. A principal with any of these sees those households only, never a whole grid.
   */
  buildings?: readonly string[];
  units?: readonly string[];
  households?: readonly string[];
  /** An `ingest` key may also be limited to a list of meters (in addition to, or instead of, an area). */
  meters?: readonly string[];
}

/** Whether the scope is limited to households below the grid level (neighbours, family). */
export function belowGrid(scope: Scope): boolean {
  return (scope.buildings?.length ?? 0) + (scope.units?.length ?? 0) + (scope.households?.length ?? 0) > 0;
}

/** Whether a household-level scope covers the household at its place. */
export function scopeCoversHousehold(
  scope: Scope,
  h: { id: string; building: string | null; unit: string | null },
): boolean {
  return (
    (scope.households?.includes(h.id) ?? false) ||
    (h.building !== null && (scope.buildings?.includes(h.building) ?? false)) ||
    (h.unit !== null && (scope.units?.includes(h.unit) ?? false))
  );
}

export const EVERYTHING: Scope = { all: true, streets: [], communities: [], grids: [] };

export interface Principal {
  kind: 'admin-token' | 'person' | 'api-key';
  id: string;
  role: Role;
  scope: Scope;
}

export function hasPermission(principal: Principal, permission: Permission): boolean {
  return ROLE_PERMISSIONS[principal.role].has(permission);
}

/** Where a grid sits in the tree. */
export interface GridPlace {
  grid: string;
  community: string;
  street: string;
  /** The district above the street office, when the registry names one. */
  district?: string | null;
}

export function scopeCovers(scope: Scope, place: GridPlace): boolean {
  return (
    scope.all ||
    scope.grids.includes(place.grid) ||
    scope.communities.includes(place.community) ||
    scope.streets.includes(place.street)
  );
}
