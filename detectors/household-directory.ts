import type { HouseholdPlace } from '../core/rules.ts';
import type { Store } from '../core/store/store.ts';

/** A household's place without the household itself: shared by every household of a grid (and building). */
type SharedPlace = Omit<HouseholdPlace, 'household'>;

/** The parts of the embedded store the household directory reads: households, and the places of grids. */
export type DirectoryTables = Pick<Store, 'registry' | 'rules'>;

interface Spot {
  grid: string;
  /** The grid's street and community (and the building) for the rule hierarchy; undefined if the grid is gone. */
  place: SharedPlace | undefined;
}

/** Per slot: not looked up yet, or not in the registry; otherwise spot index × 2 + welfare. */
const UNRESOLVED = -1;
const UNREGISTERED = -2;
/** From this many households on, the first look-up reads the whole registry in one pass. */
const SCAN_FROM = 1024;

/**
 * What the detectors ask of the registry about each household on a clock tick — its place (the rules), its
 * grid (the outage watch) and whether it is a welfare household — kept per engine slot in one typed array:
 * 4 bytes a household, and the places shared per grid and building. With many households the first look-up
 * reads the registry in one pass instead of one query per household (a million households' first tick after
 * a start-up); households seen later are looked up one by one. `forget` after the registry changed.
 */
export class HouseholdDirectory {
  private codes = new Int32Array(0);
  private spots: Spot[] = [];
  private spotIndex = new Map<string, number>();
  private readonly gridPlaces = new Map<string, SharedPlace | null>();
  private scanned = false;

  constructor(
    private readonly store: DirectoryTables,
    /** The engine's slot of a household (undefined: not seen), and how many slots there are. */
    private readonly slotOf: (householdId: string) => number | undefined,
    private readonly slots: () => number,
  ) {}

  /** Where the household sits (undefined: not registered, or its grid is not), as the rule hierarchy wants it. */
  place(householdId: string, slot?: number): HouseholdPlace | undefined {
    const code = this.code(householdId, slot);
    const p = code < 0 ? undefined : this.spots[code >> 1]!.place;
    return p && { household: householdId, ...p };
  }

  /** The household's grid; `slot` (the engine's slot of the household) saves looking the slot up. */
  grid(householdId: string, slot?: number): string | null {
    const code = this.code(householdId, slot);
    return code < 0 ? null : this.spots[code >> 1]!.grid;
  }

  /** Elderly or living alone. */
  welfare(householdId: string): boolean {
    const code = this.code(householdId);
    return code >= 0 && (code & 1) === 1;
  }

  /** The registry changed: everything is looked up again. */
  forget(): void {
    this.codes = new Int32Array(0);
    this.spots = [];
    this.spotIndex = new Map();
    this.gridPlaces.clear();
    this.scanned = false;
  }

  private code(householdId: string, knownSlot?: number): number {
    const slot = knownSlot ?? this.slotOf(householdId);
    if (slot !== undefined && slot < this.codes.length) {
      const known = this.codes[slot]!;
      if (known !== UNRESOLVED) return known;
    }
    if (slot !== undefined && !this.scanned && this.slots() >= SCAN_FROM) {
      this.scan();
      return this.code(householdId);
    }
    const h = this.store.registry.household(householdId);
    const code = h ? this.codeOf(h.gridCode, h.building ?? null, h.elderly || h.livesAlone) : UNREGISTERED;
    if (slot !== undefined) {
      this.grow(slot + 1);
      this.codes[slot] = code;
    }
    return code;
  }

  /** Every household the engine holds, from one pass over the registry. */
  private scan(): void {
    this.scanned = true;
    const count = this.slots();
    this.codes = new Int32Array(count).fill(UNREGISTERED);
    for (const [id, grid, building, welfare] of this.store.registry.householdSpots()) {
      const slot = this.slotOf(id);
      if (slot !== undefined && slot < count) this.codes[slot] = this.codeOf(grid, building, welfare);
    }
  }

  private codeOf(grid: string, building: string | null, welfare: boolean): number {
    const key = building === null ? grid : `${grid}\u0000${building}`;
    let index = this.spotIndex.get(key);
    if (index === undefined) {
      index = this.spots.length;
      const gridPlace = this.gridPlace(grid);
      this.spots.push({
        grid,
        place: gridPlace && (building === null ? gridPlace : { ...gridPlace, building }),
      });
      this.spotIndex.set(key, index);
    }
    return index * 2 + (welfare ? 1 : 0);
  }

  private gridPlace(grid: string): SharedPlace | undefined {
    let p = this.gridPlaces.get(grid);
    if (p === undefined) {
      const s = this.store.rules.scopePlace({ level: 'grid', code: grid });
      p =
        s?.grid !== undefined && s.community !== undefined && s.street !== undefined
          ? {
              grid: s.grid,
              community: s.community,
              street: s.street,
              ...(s.district ? { district: s.district } : {}),
            }
          : null;
      this.gridPlaces.set(grid, p);
    }
    return p ?? undefined;
  }

  private grow(length: number): void {
    if (length <= this.codes.length) return;
    const next = new Int32Array(Math.max(length, this.codes.length * 2, 1024)).fill(UNRESOLVED);
    next.set(this.codes);
    this.codes = next;
  }
}
