import { CareflowError, type ErrorCode, type FieldIssue } from './errors.ts';
import type { RegistryFile } from './registry.ts';
import type { Store } from './store/store.ts';

/**
 * The second step of `careflow import`: every reference in a registry file must resolve in the file or in the
 * store, at every level (district … unit, household, family), and no id may appear twice.
 */
/** How many problems an error message lists; the error's `issues` carry all of them. */
const ISSUES_IN_MESSAGE = 20;

export type Section =
  | 'districts'
  | 'streets'
  | 'communities'
  | 'grids'
  | 'buildings'
  | 'units'
  | 'workers'
  | 'households'
  | 'meters'
  | 'family';
export const SECTIONS: Section[] = [
  'districts',
  'streets',
  'communities',
  'grids',
  'buildings',
  'units',
  'workers',
  'households',
  'meters',
  'family',
];

/** Every reference must resolve in the file or in the store, and no id may appear twice; lists all problems. */
export function checkReferences(
  store: Pick<Store, 'registry' | 'privacy' | 'access'>,
  file: RegistryFile,
): void {
  const issues: FieldIssue[] = [];
  const reg = store.registry;

  const districts = indexIds(file.districts, (d) => d.code, 'districts', 'district', issues);
  const streets = indexIds(file.streets, (s) => s.code, 'streets', 'street', issues);
  const communities = indexIds(file.communities, (c) => c.code, 'communities', 'community', issues);
  const grids = indexIds(file.grids, (g) => g.code, 'grids', 'grid', issues);
  const workers = indexIds(file.workers, (w) => w.id, 'workers', 'worker', issues);
  const households = indexIds(file.households, (h) => h.id, 'households', 'household', issues);
  const meters = indexIds(file.meters, (m) => m.id, 'meters', 'meter', issues);
  const buildings = indexIds(file.buildings, (b) => b.code, 'buildings', 'building', issues);
  const units = indexIds(file.units, (u) => u.code, 'units', 'unit', issues);
  indexIds(file.family, (f) => f.id, 'family', 'family contact', issues);

  const inStore = new Map<string, boolean>();
  const known = (
    kind: 'street' | 'community' | 'grid' | 'household' | 'district' | 'building' | 'unit',
    inFile: Set<string>,
    code: string,
  ) => {
    if (inFile.has(code)) return true;
    if (kind === 'household') return reg.exists(kind, code);
    const key = `${kind}\u0000${code}`;
    let found = inStore.get(key);
    if (found === undefined) {
      found = reg.exists(kind, code);
      inStore.set(key, found);
    }
    return found;
  };
  const unknown = (path: string, kind: string, code: string) =>
    issues.push({ path, message: `unknown ${kind} "${code}"` });

  file.streets.forEach((st, i) => {
    if (st.district !== undefined && !known('district', districts, st.district))
      unknown(`streets.${i}.district`, 'district', st.district);
  });
  file.communities.forEach((c, i) => {
    if (!known('street', streets, c.street)) unknown(`communities.${i}.street`, 'street', c.street);
  });
  file.grids.forEach((g, i) => {
    if (!known('community', communities, g.community))
      unknown(`grids.${i}.community`, 'community', g.community);
  });
  const gridOfBuilding = new Map(file.buildings.map((b) => [b.code, b.grid]));
  const buildingOfUnit = new Map(file.units.map((u) => [u.code, u.building]));
  file.buildings.forEach((b, i) => {
    if (!known('grid', grids, b.grid)) unknown(`buildings.${i}.grid`, 'grid', b.grid);
  });
  file.units.forEach((u, i) => {
    if (!known('building', buildings, u.building)) unknown(`units.${i}.building`, 'building', u.building);
  });
  file.workers.forEach((w, i) => {
    w.buildings.forEach((code, j) => {
      if (!known('building', buildings, code)) unknown(`workers.${i}.buildings.${j}`, 'building', code);
    });
    w.units.forEach((code, j) => {
      if (!known('unit', units, code)) unknown(`workers.${i}.units.${j}`, 'unit', code);
    });
    if (w.role === 'family') {
      issues.push({ path: `workers.${i}.role`, message: 'relatives belong in the "family" section' });
    }
    const neighbour = w.role === 'building-head' || w.role === 'unit-head';
    if (neighbour && w.grids.length + w.communities.length + w.streets.length > 0) {
      issues.push({
        path: `workers.${i}.role`,
        message: `a ${w.role} looks after buildings or units, not grids, communities or streets`,
      });
    }
    if (!neighbour && w.buildings.length + w.units.length > 0) {
      issues.push({
        path: `workers.${i}.role`,
        message: `only building heads and unit heads are assigned buildings or units (this is a ${w.role})`,
      });
    }
    w.grids.forEach((code, j) => {
      if (!known('grid', grids, code)) unknown(`workers.${i}.grids.${j}`, 'grid', code);
    });
    w.communities.forEach((code, j) => {
      if (!known('community', communities, code)) unknown(`workers.${i}.communities.${j}`, 'community', code);
    });
    w.streets.forEach((code, j) => {
      if (!known('street', streets, code)) unknown(`workers.${i}.streets.${j}`, 'street', code);
    });
    // Workers and meters both sign in to the broker by id: one id must name one client.
    if (meters.has(w.id) || reg.meter(w.id) !== undefined) {
      issues.push({ path: `workers.${i}.id`, message: `"${w.id}" is already the id of a meter` });
    }
  });
  const householdsInFile = new Map(file.households.map((h) => [h.id, h]));
  file.households.forEach((h, i) => {
    if (!known('grid', grids, h.grid)) unknown(`households.${i}.grid`, 'grid', h.grid);
    let building = h.building;
    if (h.unit !== undefined) {
      if (!known('unit', units, h.unit)) unknown(`households.${i}.unit`, 'unit', h.unit);
      else {
        const ofUnit = buildingOfUnit.get(h.unit) ?? reg.unitBuilding(h.unit);
        if (building !== undefined && ofUnit !== building) {
          issues.push({
            path: `households.${i}.unit`,
            message: `unit "${h.unit}" is in building "${ofUnit}", not "${building}"`,
          });
        }
        building ??= ofUnit;
      }
    }
    if (h.building !== undefined && !known('building', buildings, h.building))
      unknown(`households.${i}.building`, 'building', h.building);
    else if (building !== undefined) {
      const gridOf = gridOfBuilding.get(building) ?? reg.buildingGrid(building);
      if (gridOf !== undefined && gridOf !== h.grid) {
        issues.push({
          path: `households.${i}.${h.building !== undefined ? 'building' : 'unit'}`,
          message: `building "${building}" is in grid "${gridOf}", not the household's grid "${h.grid}"`,
        });
      }
    }
  });
  file.family.forEach((f, i) => {
    if (!known('household', households, f.household)) {
      unknown(`family.${i}.household`, 'household', f.household);
      return;
    }
    // Relatives are told only with the resident's consent to family notification.
    const inFile = householdsInFile.get(f.household)?.consent;
    const purposes = inFile ? inFile.purposes : (store.privacy.consent(f.household)?.purposes ?? []);
    if (!purposes.includes('family')) {
      issues.push({
        path: `family.${i}.household`,
        message: `household "${f.household}" has not consented to family notification (consent.purposes lacks "family")`,
      });
    }
    if (workers.has(f.id) || meters.has(f.id) || reg.meter(f.id) !== undefined) {
      issues.push({ path: `family.${i}.id`, message: `"${f.id}" is already the id of a worker or meter` });
    } else {
      const existing = store.access.person(f.id);
      if (existing && existing.role !== 'family') {
        issues.push({ path: `family.${i}.id`, message: `"${f.id}" is already the id of a ${existing.role}` });
      }
    }
  });
  const meterOfHousehold = new Map<string, number>();
  file.meters.forEach((m, i) => {
    if (!known('household', households, m.household))
      unknown(`meters.${i}.household`, 'household', m.household);
    const first = meterOfHousehold.get(m.household);
    if (first === undefined) meterOfHousehold.set(m.household, i);
    else {
      issues.push({
        path: `meters.${i}.household`,
        message: `household "${m.household}" already has meter "${file.meters[first]!.id}" (meters.${first}); a household has one active meter`,
      });
    }
    if (!workers.has(m.id) && reg.workerSecretHash(m.id) !== undefined) {
      issues.push({ path: `meters.${i}.id`, message: `"${m.id}" is already the id of a worker` });
    }
  });

  if (issues.length > 0) {
    issues.sort(
      (a, b) => sectionOrder(a.path) - sectionOrder(b.path) || entryIndex(a.path) - entryIndex(b.path),
    );
    throw registryError('ERR_REGISTRY_REFERENCE', 'The registry file has broken references', issues);
  }
}

/** Ids of one section; a repeated id is an issue at its later position. */
function indexIds<T>(
  entries: T[],
  idOf: (e: T) => string,
  section: Section,
  kind: string,
  issues: FieldIssue[],
): Set<string> {
  const first = new Map<string, number>();
  entries.forEach((e, i) => {
    const id = idOf(e);
    const at = first.get(id);
    if (at === undefined) first.set(id, i);
    else {
      const field =
        section === 'workers' || section === 'households' || section === 'meters' || section === 'family'
          ? 'id'
          : 'code';
      issues.push({
        path: `${section}.${i}.${field}`,
        message: `duplicate ${kind} "${id}" (first at ${section}.${at})`,
      });
    }
  });
  return new Set(first.keys());
}

function sectionOrder(path: string): number {
  return SECTIONS.indexOf(path.slice(0, path.indexOf('.')) as Section);
}
function entryIndex(path: string): number {
  return Number(path.split('.')[1]);
}

export function registryError(code: ErrorCode, title: string, issues: FieldIssue[]): CareflowError {
  const lines = issues.slice(0, ISSUES_IN_MESSAGE).map((i) => `  ${i.path}: ${i.message}`);
  const more = issues.length - lines.length;
  if (more > 0) lines.push(`  … and ${more} more`);
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return new CareflowError(code, `${title} (${count}):\n${lines.join('\n')}`, issues);
}
