import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../core/store/store.ts';
import { tempDataDir } from '../test/harness.ts';
import { HouseholdDirectory } from './household-directory.ts';

let dir: string;
let store: Store;
afterEach(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const hid = (n: number) => `h-${String(n).padStart(5, '0')}`;

/** Two streets (one in a district), three grids, a building in one grid; every seventh household elderly. */
function registry(households: number): void {
  store.transaction(() => {
    store.registry.upsertDistrict('d-1', 'District');
    store.registry.upsertStreet('s-1', 'Street one');
    store.registry.upsertStreet('s-2', 'Street two');
    store.registry.setStreetDistrict('s-2', 'd-1');
    store.registry.upsertCommunity('c-1', 's-1', 'Community one');
    store.registry.upsertCommunity('c-2', 's-2', 'Community two');
    store.registry.upsertGrid('g-1', 'c-1', 'Grid one');
    store.registry.upsertGrid('g-2', 'c-1', 'Grid two');
    store.registry.upsertGrid('g-3', 'c-2', 'Grid three');
    store.registry.upsertBuilding('b-1', 'g-3', 'Building one');
    for (let n = 0; n < households; n++) {
      store.registry.upsertHousehold({
        id: hid(n),
        gridCode: `g-${(n % 3) + 1}`,
        address: `Address ${n}`,
        livesAlone: n % 11 === 0,
        elderly: n % 7 === 0,
        awayUntil: null,
        notes: null,
      });
      if (n % 3 === 2 && n % 2 === 0) store.registry.setHouseholdPlace(hid(n), 'b-1', null);
    }
  });
}

/** Slots as the engine gives them: in the order households are first seen (here: a shuffled order). */
function slots(ids: string[]) {
  const map = new Map(ids.map((id, slot) => [id, slot]));
  return {
    slotOf: (id: string) => map.get(id),
    count: () => map.size,
    add: (id: string) => map.set(id, map.size),
  };
}

describe('the household directory', () => {
  it('answers from one pass over the registry exactly as from one query per household', () => {
    dir = tempDataDir();
    store = openStore({ path: join(dir, 'careflow.db') });
    registry(3000);
    // Seen: every household but the last 100, in a scrambled order, and one that is not registered.
    const seen = Array.from({ length: 2900 }, (_, n) => hid((n * 7919) % 2900));
    seen.push('h-unknown');
    const s = slots(seen);
    const directory = new HouseholdDirectory(store, s.slotOf, s.count);
    for (const id of [...seen, hid(2950)]) {
      const h = store.registry.household(id);
      expect(directory.place(id)).toEqual(store.rules.place(id));
      expect(directory.grid(id)).toBe(h?.gridCode ?? null);
      expect(directory.grid(id, s.slotOf(id))).toBe(h?.gridCode ?? null);
      expect(directory.welfare(id)).toBe(h !== undefined && (h.elderly || h.livesAlone));
    }
    // Places are shared per grid and building, and carry the district where the street has one.
    expect(directory.place(hid(2))).toEqual({
      household: hid(2),
      grid: 'g-3',
      community: 'c-2',
      street: 's-2',
      district: 'd-1',
      building: 'b-1',
    });
    // A household seen after the pass is looked up on its own.
    s.add(hid(2990));
    expect(directory.welfare(hid(2990))).toBe(store.registry.household(hid(2990))!.livesAlone);
  });

  it('answers with the registry as it is after forget()', () => {
    dir = tempDataDir();
    store = openStore({ path: join(dir, 'careflow.db') });
    registry(2000);
    const s = slots(Array.from({ length: 2000 }, (_, n) => hid(n)));
    const directory = new HouseholdDirectory(store, s.slotOf, s.count);
    expect(directory.grid(hid(1))).toBe('g-2');
    expect(directory.welfare(hid(1))).toBe(false);
    store.registry.upsertHousehold({
      id: hid(1),
      gridCode: 'g-3',
      address: 'Moved',
      livesAlone: false,
      elderly: true,
      awayUntil: null,
      notes: null,
    });
    // Kept until told: the detectors forget when the registry's revision changes.
    expect(directory.grid(hid(1))).toBe('g-2');
    directory.forget();
    expect(directory.grid(hid(1))).toBe('g-3');
    expect(directory.welfare(hid(1))).toBe(true);
    expect(directory.place(hid(1))?.district).toBe('d-1');
  });
});
