import {
  belowGrid,
  scopeCovers,
  scopeCoversHousehold,
  type GridPlace,
  type Principal,
} from '../core/access.ts';
import { CareflowError } from '../core/errors.ts';
import type { Store } from '../core/store/store.ts';

const PLACES_TTL_MS = 5_000;

/**
 * Answers "may this principal see this household / grid?" from the organisation tree. Grid places are
 * cached for a few seconds (a registry import shows up at once after that).
 */
export class AccessPolicy {
  private places = new Map<string, GridPlace>();
  private loadedAt = -Infinity;

  constructor(private readonly store: Pick<Store, 'access'>) {}

  gridVisible(principal: Principal, grid: string): boolean {
    if (principal.scope.all) return true;
    // Building heads, unit heads and relatives see their households, never a whole grid.
    if (belowGrid(principal.scope)) return false;
    const place = this.place(grid);
    return place !== undefined && scopeCovers(principal.scope, place);
  }

  /** Grids in the principal's scope; null means every grid (admins). */
  visibleGrids(principal: Principal): string[] | null {
    if (principal.scope.all) return null;
    if (belowGrid(principal.scope)) return [];
    this.refresh(false);
    return [...this.places.values()].filter((p) => scopeCovers(principal.scope, p)).map((p) => p.grid);
  }

  /** Throws 403 unless the household exists in the principal's scope (404 when it does not exist at all). */
  assertHousehold(principal: Principal, householdId: string): string {
    const grid = this.store.access.householdGrid(householdId);
    if (grid === undefined) {
      if (principal.scope.all)
        throw new CareflowError('ERR_HOUSEHOLD_NOT_FOUND', `No household ${householdId}`);
      throw forbidden(`household ${householdId}`);
    }
    if (!this.householdVisible(principal, householdId, grid)) throw forbidden(`household ${householdId}`);
    return grid;
  }

  /**
   * For principals below the grid level (building and unit heads, family): the households they look after.
   * Null for everyone else (their grids decide).
   */
  visibleHouseholds(principal: Principal): string[] | null {
    if (principal.scope.all || !belowGrid(principal.scope)) return null;
    return this.store.access.householdsOf(principal.scope);
  }

  /** Whether the principal may see this household (in `grid`). */
  householdVisible(principal: Principal, householdId: string, grid: string): boolean {
    if (principal.scope.all) return true;
    if (!belowGrid(principal.scope)) return this.gridVisible(principal, grid);
    const place = this.store.access.householdPlace(householdId);
    return place !== undefined && scopeCoversHousehold(principal.scope, { id: householdId, ...place });
  }

  /** Whether the principal may see an alert of this household and grid. */
  alertVisible(principal: Principal, alert: { householdId: string; gridCode: string }): boolean {
    return this.householdVisible(principal, alert.householdId, alert.gridCode);
  }

  assertGrid(principal: Principal, grid: string): void {
    if (!this.gridVisible(principal, grid)) throw forbidden(`grid ${grid}`);
  }

  private place(grid: string): GridPlace | undefined {
    this.refresh(false);
    let place = this.places.get(grid);
    if (!place) {
      this.refresh(true);
      place = this.places.get(grid);
    }
    return place;
  }

  private refresh(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.loadedAt < PLACES_TTL_MS) return;
    this.places = new Map(this.store.access.gridPlaces().map((p) => [p.grid, p]));
    this.loadedAt = now;
  }
}

function forbidden(what: string): CareflowError {
  return new CareflowError(
    'ERR_API_FORBIDDEN',
    `You may not access ${what}: it is outside your grids or area`,
  );
}
