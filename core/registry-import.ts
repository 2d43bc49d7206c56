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
  streets: number;
  communities: number;
  grids: number;
  workers: number;
  households: number;
  meters: number;
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

type Section = 'streets' | 'communities' | 'grids' | 'workers' | 'households' | 'meters';
const SECTIONS: Section[] = ['streets', 'communities', 'grids', 'workers', 'households', 'meters'];

export async function importRegistry(
  store: Store,
  input: unknown,
  opts: ImportOptions = {},
): Promise<ImportReport> {
  const started = performance.now();
  const file = parseRegistry(input);
  checkReferences(store, file);
  await write(store, file, opts);
  return {
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

  const streets = indexIds(file.streets, (s) => s.code, 'streets', 'street', issues);
  const communities = indexIds(file.communities, (c) => c.code, 'communities', 'community', issues);
  const grids = indexIds(file.grids, (g) => g.code, 'grids', 'grid', issues);
  const workers = indexIds(file.workers, (w) => w.id, 'workers', 'worker', issues);
  const households = indexIds(file.households, (h) => h.id, 'households', 'household', issues);
  const meters = indexIds(file.meters, (m) => m.id, 'meters', 'meter', issues);

  const inStore = new Map<string, boolean>();
  const known = (kind: 'street' | 'community' | 'grid' | 'household', inFile: Set<string>, code: string) => {
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

  file.communities.forEach((c, i) => {
    if (!known('street', streets, c.street)) unknown(`communities.${i}.street`, 'street', c.street);
  });
  file.grids.forEach((g, i) => {
    if (!known('community', communities, g.community))
      unknown(`grids.${i}.community`, 'community', g.community);
  });
  file.workers.forEach((w, i) => {
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
  file.households.forEach((h, i) => {
    if (!known('grid', grids, h.grid)) unknown(`households.${i}.grid`, 'grid', h.grid);
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
      const field = section === 'workers' || section === 'households' || section === 'meters' ? 'id' : 'code';
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

async function write(store: Store, file: RegistryFile, opts: ImportOptions): Promise<void> {
  const concurrency = Math.max(1, Math.floor(opts.hashConcurrency ?? 8));
  const total = SECTIONS.reduce((n, s) => n + file[s].length, 0);
  let done = 0;
  let batch: Row[] = [];
  // People who log in to the console have passwords, hashed at the (slower) person cost; there are few.
  const passwords = new Map<string, string>();
  for (const w of file.workers) {
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

  for (const row of rows(store, file, passwords)) {
    batch.push(row);
    if (batch.length >= ROWS_PER_TRANSACTION) await flush();
  }
  if (batch.length > 0 || total === 0) await flush();
}

function* rows(store: Store, file: RegistryFile, passwords: Map<string, string>): Generator<Row> {
  const reg = store.registry;
  for (const s of file.streets) yield { write: () => reg.upsertStreet(s.code, s.name) };
  for (const c of file.communities) yield { write: () => reg.upsertCommunity(c.code, c.street, c.name) };
  for (const g of file.grids) yield { write: () => reg.upsertGrid(g.code, g.community, g.name) };
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
        const password = passwords.get(w.id);
        if (password) store.access.setPassword(w.id, password);
      },
    };
  }
  for (const h of file.households) {
    yield {
      write: () =>
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
        }),
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
