import { randomBytes } from 'node:crypto';
import { CareflowError, fieldIssues, type ErrorCode, type FieldIssue } from './errors.ts';
import { RegistryFile } from './registry.ts';
import { SCRYPT_COST, hashSecret } from './secrets.ts';
import type { Store } from './store/store.ts';

/**
 * `careflow import`: validates a registry file, checks every reference, hashes the secrets and upserts
 * everything into the store.
 *
 * Steps: `[parseRegistry, checkReferences, write]`. Nothing is written unless the whole file is valid.
 * Writing happens in transactions of about {@link ROWS_PER_TRANSACTION} rows, in the order streets,
 * communities, grids, workers, households, meters, so a 300,000-household file never holds one giant
 * transaction and at most one transaction's worth of secret hashes is in memory at a time. If writing fails
 * half-way (disk full), the transactions already committed stay; importing the same file again completes it.
 *
 * Re-importing is idempotent: every entry is upserted and every secret re-hashed (checking a stored hash
 * costs as much as hashing again). A household whose `awayUntil` is absent from the file keeps the value in
 * the store (a worker may have marked the resident away); `null` clears it. Secrets are never logged,
 * returned or put in an error message.
 */
export interface ImportReport {
  districts: number;
  streets: number;
  communities: number;
  grids: number;
  buildings: number;
  units: number;
  workers: number;
  households: number;
  meters: number;
  family: number;
  durationMs: number;
}

export interface ImportOptions {
  /**
   * Entries done so far and entries in the file: called after each transaction commits, and every
   * {@link PROGRESS_EVERY_HASHES} secrets hashed in between (hashing is where the time goes).
   */
  onProgress?: (done: number, total: number) => void;
  /** Secrets hashed at once (scrypt runs on the libuv threadpool, `UV_THREADPOOL_SIZE` threads). Default 8. */
  hashConcurrency?: number;
}

export const ROWS_PER_TRANSACTION = 10_000;
export const PROGRESS_EVERY_HASHES = 1_000;
/** How many problems an error message lists; the error's `issues` carry all of them. */
const ISSUES_IN_MESSAGE = 20;

type Section =
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
const SECTIONS: Section[] = [
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

export interface ImportActor {
  /** Who imports (recorded with consent records); default `import`. */
  actor?: string;
  /** When (consent records' `recordedAt`); default now. */
  now?: number;
}

export async function importRegistry(
  store: Store,
  input: unknown,
  opts: ImportOptions & ImportActor = {},
): Promise<ImportReport> {
  const started = performance.now();
  const file = parseRegistry(input);
  checkReferences(store, file);
  await write(store, file, opts);
  return {
    districts: file.districts.length,
    buildings: file.buildings.length,
    units: file.units.length,
    family: file.family.length,
    streets: file.streets.length,
    communities: file.communities.length,
    grids: file.grids.length,
    workers: file.workers.length,
    households: file.households.length,
    meters: file.meters.length,
    durationMs: Math.round(performance.now() - started),
  };
}

export function parseRegistry(input: unknown): RegistryFile {
  const parsed = RegistryFile.safeParse(input);
  if (!parsed.success) {
    throw registryError(
      'ERR_REGISTRY_INVALID',
      'The registry file is invalid',
      fieldIssues(parsed.error.issues),
    );
  }
  return parsed.data;
}

/** Every reference must resolve in the file or in the store, and no id may appear twice; lists all problems. */
export function checkReferences(store: Store, file: RegistryFile): void {
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
  const family = indexIds(file.family, (f) => f.id, 'family', 'family contact', issues);

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

function registryError(code: ErrorCode, title: string, issues: FieldIssue[]): CareflowError {
  const lines = issues.slice(0, ISSUES_IN_MESSAGE).map((i) => `  ${i.path}: ${i.message}`);
  const more = issues.length - lines.length;
  if (more > 0) lines.push(`  … and ${more} more`);
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return new CareflowError(code, `${title} (${count}):\n${lines.join('\n')}`, issues);
}

/** One entry to write: its secret (if any) is hashed just before its transaction. */
interface Row {
  secret?: string;
  write(secretHash: string | undefined): void;
}

async function write(store: Store, file: RegistryFile, opts: ImportOptions & ImportActor): Promise<void> {
  const concurrency = Math.max(1, Math.floor(opts.hashConcurrency ?? 8));
  const total = SECTIONS.reduce((n, s) => n + file[s].length, 0);
  let done = 0;
  let batch: Row[] = [];
  // People who log in to the console have passwords, hashed at the (slower) person cost; there are few.
  const passwords = new Map<string, string>();
  for (const w of [...file.workers, ...file.family]) {
    if (w.password !== undefined) passwords.set(w.id, await hashSecret(w.password, SCRYPT_COST.person));
  }

  const flush = async () => {
    let hashed = 0;
    let prepared = 0;
    const hashes = await mapLimit(batch, concurrency, async (row) => {
      if (row.secret === undefined) {
        prepared++;
        return undefined;
      }
      const hash = await hashSecret(row.secret, SCRYPT_COST.device);
      prepared++;
      if (++hashed % PROGRESS_EVERY_HASHES === 0) opts.onProgress?.(done + prepared, total);
      return hash;
    });
    const rows = batch;
    store.transaction(() => rows.forEach((row, i) => row.write(hashes[i])));
    done += rows.length;
    batch = [];
    opts.onProgress?.(done, total);
  };

  const by = { actor: opts.actor ?? 'import', now: opts.now ?? Date.now() };
  for (const row of rows(store, file, passwords, by)) {
    batch.push(row);
    if (batch.length >= ROWS_PER_TRANSACTION) await flush();
  }
  if (batch.length > 0 || total === 0) await flush();
}

function* rows(
  store: Store,
  file: RegistryFile,
  passwords: Map<string, string>,
  by: { actor: string; now: number },
): Generator<Row> {
  const reg = store.registry;
  for (const d of file.districts) yield { write: () => reg.upsertDistrict(d.code, d.name) };
  for (const s of file.streets) {
    yield {
      write: () => {
        reg.upsertStreet(s.code, s.name);
        reg.setStreetDistrict(s.code, s.district ?? null);
      },
    };
  }
  for (const c of file.communities) yield { write: () => reg.upsertCommunity(c.code, c.street, c.name) };
  for (const g of file.grids) yield { write: () => reg.upsertGrid(g.code, g.community, g.name) };
  for (const b of file.buildings) yield { write: () => reg.upsertBuilding(b.code, b.grid, b.name) };
  for (const u of file.units) yield { write: () => reg.upsertUnit(u.code, u.building, u.name) };
  for (const w of file.workers) {
    yield {
      secret: w.secret,
      write: (secretHash) => {
        reg.upsertWorker({
          id: w.id,
          name: w.name,
          role: w.role,
          grids: w.grids,
          secretHash: secretHash!,
          phone: w.phone,
        });
        store.access.setScopes(w.id, { streets: w.streets, communities: w.communities });
        store.access.setPlaces(w.id, { buildings: w.buildings, units: w.units, households: [] });
        const password = passwords.get(w.id);
        if (password) store.access.setPassword(w.id, password);
      },
    };
  }
  for (const h of file.households) {
    yield {
      write: () => {
        reg.upsertHousehold({
          id: h.id,
          gridCode: h.grid,
          address: h.address,
          livesAlone: h.livesAlone,
          elderly: h.elderly,
          awayUntil:
            h.awayUntil === undefined
              ? (reg.household(h.id)?.awayUntil ?? null)
              : h.awayUntil === null
                ? null
                : Date.parse(h.awayUntil),
          notes: h.notes ?? null,
        });
        placeAndConsent(store, h, by);
      },
    };
  }
  for (const m of file.meters) {
    yield {
      secret: m.secret,
      write: (secretHash) =>
        reg.upsertMeter({
          id: m.id,
          householdId: m.household,
          secretHash: secretHash!,
          reportEveryMinutes: m.reportEveryMinutes ?? null,
        }),
    };
  }
  for (const f of file.family) {
    yield {
      // Without an app secret the relative cannot sign in to the broker: a random one nobody knows.
      secret: f.secret ?? randomBytes(24).toString('base64url'),
      write: (secretHash) => {
        reg.upsertWorker({
          id: f.id,
          name: f.name,
          role: 'family',
          grids: [],
          secretHash: secretHash!,
          phone: f.phone,
        });
        store.access.setScopes(f.id, { streets: [], communities: [] });
        store.access.setPlaces(f.id, { buildings: [], units: [], households: [f.household] });
        store.privacy.putFamily(f.id, f.household, f.relation ?? null, f.audiences);
        const password = passwords.get(f.id);
        if (password) store.access.setPassword(f.id, password);
        const hookId = familyWebhookId(f.id);
        if (f.webhook) {
          store.webhooks.put(
            {
              id: hookId,
              url: f.webhook.url,
              secret: f.webhook.secret,
              owner: { kind: 'worker', code: f.id },
              enabled: true,
              updatedAt: by.now,
              updatedBy: by.actor,
            },
            by.now,
          );
        } else store.webhooks.delete(hookId);
      },
    };
  }
}

/** The webhook endpoint a family entry's `webhook` becomes (`PUT /api/webhooks` may not reuse the prefix). */
export function familyWebhookId(familyId: string): string {
  return `family.${familyId}`;
}

/** A household's building and unit, and a new consent record when the file's differs from the one in force. */
function placeAndConsent(
  store: Store,
  h: RegistryFile['households'][number],
  by: { actor: string; now: number },
): void {
  const building = h.building ?? (h.unit !== undefined ? store.registry.unitBuilding(h.unit) : undefined);
  store.registry.setHouseholdPlace(h.id, building ?? null, h.unit ?? null);
  if (!h.consent) return;
  const current = store.privacy.consent(h.id);
  const purposes = [...new Set(h.consent.purposes)].sort();
  const givenAt = Date.parse(h.consent.givenAt);
  if (
    current &&
    current.givenBy === h.consent.givenBy &&
    current.givenAt === givenAt &&
    current.purposes.join() === purposes.join()
  )
    return;
  store.privacy.addConsent({
    householdId: h.id,
    purposes,
    givenBy: h.consent.givenBy,
    givenAt,
    recordedBy: by.actor,
    recordedAt: by.now,
    note: h.consent.note ?? null,
  });
}

/** `fn` over `items` with at most `limit` promises in flight; results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
