import { randomBytes } from 'node:crypto';
import { fieldIssues } from './errors.ts';
import { checkReferences, registryError, SECTIONS } from './registry-references.ts';
import { RegistryFile } from './registry.ts';
import { SCRYPT_COST, hashSecret } from './secrets.ts';
import type { Store } from './store/store.ts';

export { checkReferences } from './registry-references.ts';

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
        personWebhook(store, `person.${w.id}`, w.id, w.webhook, by);
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
        personWebhook(store, familyWebhookId(f.id), f.id, f.webhook, by);
      },
    };
  }
}

/** The webhook endpoint a family entry's `webhook` becomes (`PUT /api/webhooks` may not reuse the prefix). */
export function familyWebhookId(familyId: string): string {
  return `family.${familyId}`;
}

/** The endpoint a person's `webhook` in the file becomes; without one, the endpoint of that id is removed. */
function personWebhook(
  store: Store,
  hookId: string,
  personId: string,
  webhook: { url: string; secret: string } | undefined,
  by: { actor: string; now: number },
): void {
  if (!webhook) {
    store.webhooks.delete(hookId);
    return;
  }
  store.webhooks.put(
    {
      id: hookId,
      url: webhook.url,
      secret: webhook.secret,
      owner: { kind: 'worker', code: personId },
      enabled: true,
      updatedAt: by.now,
      updatedBy: by.actor,
    },
    by.now,
  );
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
