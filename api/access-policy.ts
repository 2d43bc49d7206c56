import { scopeCovers, type GridPlace, type Principal } from '../core/access.ts';
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

  constructor(private readonly store: Store) {}

  gridVisible(principal: Principal, grid: string): boolean {
    if (principal.scope.all) return true;
    const place = this.place(grid);
    return place !== undefined && scopeCovers(principal.scope, place);
  }

  /** Grids in the principal's scope; null means every grid (admins). */
  visibleGrids(principal: Principal): string[] | null {
    if (principal.scope.all) return null;
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
    if (!this.gridVisible(principal, grid)) throw forbidden(`household ${householdId}`);
    return grid;
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
