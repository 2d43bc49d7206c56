import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../core/logger.ts';
import { openPgPool, type PgPool } from '../core/postgres.ts';
import { importRegistry } from '../core/registry-import.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { followSharedTables, type SharedFollower } from '../core/shared-follower.ts';
import { PgRegistryRepository } from '../registry/postgres-repository.ts';
import { importRegistryShared } from '../registry/shared-import.ts';
import { REGISTRY_SET, REGISTRY_TABLES } from '../registry/tables.ts';
import { organisationRegistry } from './organisation-registry.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';

const HOOKS = { h1: 'http://127.0.0.1:9/h1', h3: 'http://127.0.0.1:9/h3', bh: 'http://127.0.0.1:9/bh' };
const BY = { actor: 'import', now: Date.parse('2026-01-05T09:00:00+08:00') };
const HASHES = new Set(['secret_hash', 'password_hash']);
const logger = createLogger('silent');

/** Every registry table of a store, rows in key order; secret hashes (salted: never equal twice) left out. */
function dump(store: Store, opts: { hashes: boolean }): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const t of REGISTRY_TABLES) {
    const cols = t.columns.map(([c]) => c).filter((c) => opts.hashes || !HASHES.has(c));
    out[t.name] = store.db
      .prepare(`SELECT ${cols.join(', ')} FROM ${t.name} ORDER BY ${t.key.join(', ')}`)
      .all();
  }
  return out;
}

/**
 * A cluster's workers follow the registry in PostgreSQL: imported once (`careflow import --cluster`), pulled by
 * every worker into the embedded store its detectors and notifier read, and pulled again after a re-import.
 */
describe.skipIf(SKIP_POSTGRES)('the shared registry, followed by the workers', () => {
  let server: Postgres;
  let dir: string;
  let n = 0;
  const open: { close(): unknown }[] = [];
  const followers: SharedFollower[] = [];
  beforeAll(async () => {
    server = await startPostgres('careflow_registry');
    dir = mkdtempSync(join(tmpdir(), 'careflow-follow-'));
  }, 60_000);
  afterEach(async () => {
    for (const f of followers.splice(0)) await f.stop();
    for (const o of open.splice(0)) o.close();
  });
  afterAll(async () => {
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  async function pool(): Promise<PgPool> {
    const p = openPgPool(await server.createDatabase(`follow_${++n}`));
    open.push({ close: () => void p.end() });
    return p;
  }
  function store(name: string): { path: string; store: Store } {
    const path = join(dir, `${name}-${n}.db`);
    const s = openStore({ path });
    open.push(s);
    return { path, store: s };
  }
  async function follow(p: PgPool, path: string, pollMs = 60_000): Promise<SharedFollower> {
    const f = await followSharedTables({ pool: p, storePath: path, pollMs, logger, sets: [REGISTRY_SET] });
    followers.push(f);
    return f;
  }

  it("gives a worker the registry an embedded import gives, row for row (places, consent, family, people's webhooks)", async () => {
    const p = await pool();
    const embedded = store('embedded').store;
    await importRegistry(embedded, organisationRegistry(HOOKS), BY);
    const report = await importRegistryShared(p, organisationRegistry(HOOKS), BY);
    expect(report).toMatchObject({ version: 1, households: 6, family: 2 });

    const worker = store('worker');
    const follower = await follow(p, worker.path);
    expect(follower.stats().registry!).toMatchObject({ version: 1, pulls: 1 });
    expect(dump(worker.store, { hashes: false })).toEqual(dump(embedded, { hashes: false }));
    expect(worker.store.privacy.consent('h4')?.purposes).toEqual(['leak']);
    expect(worker.store.privacy.familyOf('h1').map((f) => f.id)).toEqual(['f-h1']);
    expect(worker.store.webhooks.get('family.f-h3')?.url).toBe(HOOKS.h3);

    // A second worker holds exactly the same rows, hashes included.
    const other = store('other');
    await follow(p, other.path);
    expect(dump(other.store, { hashes: true })).toEqual(dump(worker.store, { hashes: true }));
  });

  it('reaches a running worker within its poll interval after a re-import; its store sees a new revision', async () => {
    const p = await pool();
    await importRegistryShared(p, organisationRegistry(HOOKS), BY);
    const worker = store('worker');
    const follower = await follow(p, worker.path, 50);
    const revision = worker.store.registry.revision();
    const consentRevision = worker.store.privacy.revision();
    expect(worker.store.registry.household('h6')?.gridCode).toBe('g1');

    // h6 moves to g2 and consents to leak alerts only; a new meter replaces h1's.
    const report = await importRegistryShared(p, {
      households: [
        {
          id: 'h6',
          grid: 'g2',
          address: 'g2 h6 (moved)',
          consent: { purposes: ['leak'], givenBy: 'the resident', givenAt: '2026-01-04T10:00:00+08:00' },
        },
      ],
      meters: [{ id: 'm-h1-new', household: 'h1', secret: 'secret-m-h1-new' }],
    });
    expect(report.version).toBe(2);
    await expect.poll(() => follower.stats().registry!.version, { timeout: 5_000 }).toBe(2);
    // The worker's own connection (what its detectors hold) sees the pull.
    expect(worker.store.registry.revision()).not.toBe(revision);
    expect(worker.store.privacy.revision()).not.toBe(consentRevision);
    expect(worker.store.registry.household('h6')).toMatchObject({ gridCode: 'g2', address: 'g2 h6 (moved)' });
    expect(worker.store.privacy.consent('h6')?.purposes).toEqual(['leak']);
    expect(worker.store.registry.meter('m-h1')?.active).toBe(false);
    expect(worker.store.registry.meter('m-h1-new')).toMatchObject({ householdId: 'h1', active: true });
    expect(follower.stats().registry!.pulls).toBe(2);
    // What changed was pulled, and only that: the worker holds what a fresh pull gives, row for row.
    const fresh = store('fresh');
    await follow(p, fresh.path);
    expect(dump(worker.store, { hashes: true })).toEqual(dump(fresh.store, { hashes: true }));
  });

  it('removes what an import removed: a person moved to other grids and places, a webhook taken away', async () => {
    const p = await pool();
    await importRegistryShared(p, organisationRegistry(HOOKS), BY);
    const worker = store('worker');
    const follower = await follow(p, worker.path);
    expect(worker.store.webhooks.get('person.bh-b1')?.url).toBe(HOOKS.bh);
    await importRegistryShared(p, {
      workers: [
        { id: 'w-g1', name: 'Person w-g1', role: 'grid-worker', grids: ['g2'], secret: 'secret-w-g1' },
        {
          id: 'bh-b1',
          name: 'Person bh-b1',
          role: 'building-head',
          buildings: ['b3'],
          secret: 'secret-bh-b1',
        },
      ],
    });
    await follower.poll();
    expect(worker.store.registry.worker('w-g1')?.grids).toEqual(['g2']);
    expect(worker.store.registry.workersOfGrid('g1').map((w) => w.id)).toEqual(['l-g1']);
    expect(worker.store.webhooks.get('person.bh-b1')).toBeUndefined();
    const places = worker.store.db
      .prepare("SELECT level, code FROM worker_places WHERE worker_id = 'bh-b1'")
      .all();
    expect(places).toEqual([{ level: 'building', code: 'b3' }]);
    const fresh = store('fresh');
    await follow(p, fresh.path);
    expect(dump(worker.store, { hashes: true })).toEqual(dump(fresh.store, { hashes: true }));
  });

  it('pulls nothing for a refused import, nor again after a restart at the same version', async () => {
    const p = await pool();
    await importRegistryShared(p, organisationRegistry(HOOKS), BY);
    const worker = store('worker');
    const follower = await follow(p, worker.path);
    await expect(
      importRegistryShared(p, { meters: [{ id: 'm-x', household: 'h-nowhere', secret: 'secret-m-x' }] }),
    ).rejects.toMatchObject({ code: 'ERR_REGISTRY_REFERENCE' });
    await follower.poll();
    expect(follower.stats().registry!).toMatchObject({ version: 1, pulls: 1 });
    expect(worker.store.registry.meter('m-x')).toBeUndefined();
    await follower.stop();
    followers.splice(0);
    const again = await follow(p, worker.path);
    expect(again.stats().registry!).toMatchObject({ version: 1, pulls: 0 });
    expect(worker.store.registry.counts().households).toBe(6);
  });

  it('moves a registry of many pages (12,001 households) whole', async () => {
    const p = await pool();
    const households = Array.from({ length: 12_001 }, (_, i) => ({
      id: `h${String(i).padStart(5, '0')}`,
      grid: i % 2 ? 'g1' : 'g2',
      address: `Lane ${i}`,
      elderly: i % 3 === 0,
    }));
    const org = organisationRegistry(HOOKS);
    await importRegistryShared(p, { ...org, households: [...org.households!, ...households] });
    const worker = store('worker');
    await follow(p, worker.path);
    expect(worker.store.registry.counts().households).toBe(12_007);
    expect(worker.store.registry.household('h12000')).toMatchObject({ gridCode: 'g2', elderly: true });
    expect(worker.store.registry.household('h05000')).toMatchObject({ gridCode: 'g2', address: 'Lane 5000' });
    expect(worker.store.registry.household('h04999')).toMatchObject({ gridCode: 'g1', address: 'Lane 4999' });
  });

  it('pulls only what a re-import changed, whatever the size of the registry', async () => {
    const p = await pool();
    const org = organisationRegistry(HOOKS);
    const households = Array.from({ length: 12_000 }, (_, i) => ({
      id: `h${String(i).padStart(5, '0')}`,
      grid: i % 2 ? 'g1' : 'g2',
      address: `Lane ${i}`,
    }));
    await importRegistryShared(p, { ...org, households: [...org.households!, ...households] });
    const worker = store('worker');
    const follower = await follow(p, worker.path);
    expect(follower.stats().registry!.lastPull).toMatchObject({ incremental: false, deleted: 0 });
    expect(follower.stats().registry!.lastPull!.written).toBeGreaterThan(12_000);

    // One household moves, a meter is added; then a person loses a grid (a row of worker_grids goes).
    await importRegistryShared(p, {
      households: [{ id: 'h00007', grid: 'g2', address: 'Lane 7 (moved)' }],
      meters: [{ id: 'm-h00007', household: 'h00007', secret: 'secret-m-h00007' }],
    });
    await follower.poll();
    expect(follower.stats().registry!).toMatchObject({
      version: 2,
      lastPull: { incremental: true, written: 2, deleted: 0 },
    });
    expect(worker.store.registry.household('h00007')).toMatchObject({
      gridCode: 'g2',
      address: 'Lane 7 (moved)',
    });
    await importRegistryShared(p, {
      workers: [
        { id: 'w-g1', name: 'Person w-g1', role: 'grid-worker', grids: ['g2'], secret: 'secret-w-g1' },
      ],
    });
    await follower.poll();
    const last = follower.stats().registry!.lastPull!;
    expect(last).toMatchObject({ incremental: true });
    expect(last.deleted).toBeGreaterThan(0);
    expect(last.written + last.deleted).toBeLessThan(10);
    expect(worker.store.registry.worker('w-g1')?.grids).toEqual(['g2']);
    // Two versions later by increments, it holds exactly what a fresh pull of the whole registry gives.
    const fresh = store('fresh');
    await follow(p, fresh.path);
    expect(dump(worker.store, { hashes: true })).toEqual(dump(fresh.store, { hashes: true }));
  });

  it('publishes a file with `careflow import --cluster`, and explains what is missing', async () => {
    const url = await server.createDatabase(`follow_cli_${++n}`);
    const bin = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));
    const example = fileURLToPath(new URL('../examples/community.json', import.meta.url));
    const careflow = (args: string[], env: Record<string, string>) =>
      promisify(execFile)(process.execPath, [bin, ...args], {
        env: { ...process.env, CAREFLOW_DATA_DIR: join(dir, 'cli'), ...env },
        timeout: 90_000,
      });
    const { stdout } = await careflow(['import', '--cluster', example], { CAREFLOW_POSTGRES_URL: url });
    expect(stdout).toMatch(
      /^imported \d+ streets, .* households, .*; shared registry version 1 \(workers pull/,
    );
    const p = openPgPool(url);
    open.push({ close: () => void p.end() });
    const repo = await PgRegistryRepository.open(p);
    expect((await repo.counts()).households).toBeGreaterThan(0);
    expect(await repo.revision()).toBe('1');

    const unset = await careflow(['import', '--cluster', example], { CAREFLOW_POSTGRES_URL: '' }).catch(
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(unset).toMatchObject({ code: 2 });
    expect((unset as { stderr: string }).stderr).toContain('CAREFLOW_POSTGRES_URL');
    const bad = await careflow(['import', '--cluster', bin], { CAREFLOW_POSTGRES_URL: url }).catch(
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(bad).toMatchObject({ code: 1 });
    expect(await repo.revision()).toBe('1');
  });

  it('compares everything when its copy came from another shared store, whatever its version', async () => {
    const first = await pool();
    await importRegistryShared(first, organisationRegistry(HOOKS), BY);
    const worker = store('worker');
    const before = await follow(first, worker.path);
    expect(before.stats().registry!.version).toBe(1);
    await before.stop();
    followers.splice(followers.indexOf(before), 1);
    // Another shared store (or this one emptied and imported into again) that is past the worker's version: its
    // rows of versions 1 and 2 are not the ones the worker holds.
    const second = await pool();
    const other = organisationRegistry(HOOKS);
    await importRegistryShared(second, {
      ...other,
      households: other.households!.map((h) => ({ ...h, address: `${h.address} (B)` })),
    });
    await importRegistryShared(second, { households: [{ id: 'h1', grid: 'g1', address: 'h1 in B, moved' }] });
    const after = await follow(second, worker.path);
    expect(after.stats().registry!).toMatchObject({ version: 2, lastPull: { incremental: false } });
    expect(worker.store.registry.household('h2')?.address).toMatch(/\(B\)$/);
    expect(worker.store.registry.household('h1')?.address).toBe('h1 in B, moved');
    const fresh = store('fresh');
    await follow(second, fresh.path);
    expect(dump(worker.store, { hashes: true })).toEqual(dump(fresh.store, { hashes: true }));
  });

  it("keeps a worker's own registry while the shared store has none", async () => {
    const p = await pool();
    const worker = store('worker');
    await importRegistry(worker.store, organisationRegistry(HOOKS), BY);
    const follower = await follow(p, worker.path);
    expect(follower.stats().registry!).toMatchObject({ version: 0, pulls: 0 });
    expect(worker.store.registry.counts().households).toBe(6);
    // The first shared import replaces it.
    await importRegistryShared(p, {
      streets: [{ code: 'sx', name: 'Street X' }],
      communities: [{ code: 'cx', street: 'sx', name: 'Community X' }],
      grids: [{ code: 'gx', community: 'cx', name: 'Grid X' }],
      households: [{ id: 'hx', grid: 'gx', address: 'Lane X' }],
    });
    await follower.poll();
    expect(follower.stats().registry!.version).toBe(1);
    expect(worker.store.registry.counts()).toMatchObject({ grids: 1, households: 1, meters: 0 });
    expect(worker.store.registry.household('h1')).toBeUndefined();
  });
});
