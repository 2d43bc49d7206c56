import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CareflowError } from './errors.ts';
import { importRegistry } from './registry-import.ts';
import type { RegistryInput } from './registry.ts';
import { verifySecret } from './secrets.ts';
import { openStore, type Store } from './store/store.ts';

const SECRETS = {
  w1: 'worker-one-secret-7Hq2',
  w2: 'worker-two-secret-Kp9x',
  m1: 'meter-one-secret-aZ81',
  m2: 'meter-two-secret-bY72',
  m3: 'meter-three-secret-cX63',
};

type Section = 'streets' | 'communities' | 'grids' | 'workers' | 'households' | 'meters';
type Registry = { [K in Section]: NonNullable<RegistryInput[K]> };

function smallRegistry(): Registry {
  return {
    streets: [{ code: 's1', name: 'Jiefang Street Office' }],
    communities: [{ code: 'c1', street: 's1', name: 'Xingfu Community' }],
    grids: [
      { code: 'g1', community: 'c1', name: 'Grid 1' },
      { code: 'g2', community: 'c1', name: 'Grid 2' },
    ],
    workers: [
      { id: 'w-1', name: 'Wang Li', grids: ['g1'], secret: SECRETS.w1, phone: '+86 138 0000 0001' },
      { id: 'w-2', name: 'Zhang Wei', role: 'grid-leader', grids: ['g1', 'g2'], secret: SECRETS.w2 },
    ],
    households: [
      {
        id: 'h-1',
        grid: 'g1',
        address: '幸福小区 3号楼 2单元 501',
        livesAlone: true,
        elderly: true,
        notes: '独居老人',
      },
      { id: 'h-2', grid: 'g1', address: '幸福小区 3号楼 2单元 502', awayUntil: '2026-02-20T00:00:00+08:00' },
      { id: 'h-3', grid: 'g2', address: '和平里小区 1号楼 1单元 101', elderly: true },
    ],
    meters: [
      { id: 'm-1', household: 'h-1', secret: SECRETS.m1 },
      { id: 'm-2', household: 'h-2', secret: SECRETS.m2 },
      { id: 'm-3', household: 'h-3', secret: SECRETS.m3 },
    ],
  };
}

const EMPTY = { streets: 0, communities: 0, grids: 0, workers: 0, households: 0, meters: 0 };

let dir: string;
let dbPath: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'careflow-import-'));
  dbPath = join(dir, 'careflow.db');
  store = openStore({ path: dbPath });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function importFailure(input: unknown): Promise<CareflowError> {
  const err = await importRegistry(store, input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CareflowError);
  return err as CareflowError;
}

describe('importRegistry', () => {
  it('upserts every entry and reports how many of each it wrote', async () => {
    const report = await importRegistry(store, smallRegistry());

    expect(report).toMatchObject({
      streets: 1,
      communities: 1,
      grids: 2,
      workers: 2,
      households: 3,
      meters: 3,
    });
    expect(report.durationMs).toBeGreaterThanOrEqual(0);
    expect(store.registry.counts()).toEqual({
      streets: 1,
      communities: 1,
      grids: 2,
      workers: 2,
      households: 3,
      meters: 3,
    });
    expect(store.registry.household('h-1')).toEqual({
      id: 'h-1',
      gridCode: 'g1',
      address: '幸福小区 3号楼 2单元 501',
      livesAlone: true,
      elderly: true,
      awayUntil: null,
      notes: '独居老人',
    });
    expect(store.registry.household('h-2')).toMatchObject({
      livesAlone: false,
      elderly: false,
      awayUntil: Date.UTC(2026, 1, 19, 16, 0),
      notes: null,
    });
    expect(store.registry.meter('m-3')).toMatchObject({ id: 'm-3', householdId: 'h-3', active: true });
    expect(store.registry.worker('w-1')).toMatchObject({
      name: 'Wang Li',
      role: 'grid-worker',
      grids: ['g1'],
    });
    expect(store.registry.worker('w-2')).toMatchObject({ role: 'grid-leader', grids: ['g1', 'g2'] });
    expect(store.registry.workersOfGrid('g1').map((w) => w.id)).toEqual(['w-1', 'w-2']);
    expect(store.registry.workersOfGrid('g2').map((w) => w.id)).toEqual(['w-2']);
  });

  it('stores secrets only as scrypt hashes that verify, and never returns them', async () => {
    const report = await importRegistry(store, smallRegistry());

    const meter = store.registry.meter('m-1')!;
    const worker = store.registry.worker('w-1')!;
    expect(meter.secretHash).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(worker.secretHash).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(await verifySecret(SECRETS.m1, meter.secretHash)).toBe(true);
    expect(await verifySecret(SECRETS.m2, meter.secretHash)).toBe(false);
    expect(await verifySecret(SECRETS.w1, worker.secretHash)).toBe(true);

    store.close();
    const bytes = Buffer.concat([
      readFileSync(dbPath),
      readFileSync(`${dbPath}-wal`, { flag: 'a+' }),
    ]).toString('latin1');
    for (const secret of Object.values(SECRETS)) {
      expect(bytes).not.toContain(secret);
      expect(JSON.stringify(report)).not.toContain(secret);
    }
  });

  it('is idempotent on re-import and applies changed fields', async () => {
    await importRegistry(store, smallRegistry());
    const firstHash = store.registry.meter('m-1')!.secretHash;

    const changed = smallRegistry();
    changed.workers[0]!.name = 'Wang Li (grid 1)';
    changed.households[2]!.address = '和平里小区 1号楼 1单元 102';
    const report = await importRegistry(store, changed);

    expect(report).toMatchObject({
      streets: 1,
      communities: 1,
      grids: 2,
      workers: 2,
      households: 3,
      meters: 3,
    });
    expect(store.registry.counts()).toEqual({
      streets: 1,
      communities: 1,
      grids: 2,
      workers: 2,
      households: 3,
      meters: 3,
    });
    expect(store.registry.worker('w-1')).toMatchObject({ name: 'Wang Li (grid 1)', grids: ['g1'] });
    expect(store.registry.household('h-3')!.address).toBe('和平里小区 1号楼 1单元 102');
    expect(store.registry.workersOfGrid('g1').map((w) => w.id)).toEqual(['w-1', 'w-2']);
    const rehashed = store.registry.meter('m-1')!.secretHash;
    expect(rehashed).not.toBe(firstHash);
    expect(await verifySecret(SECRETS.m1, rehashed)).toBe(true);
  });

  it('keeps a stored awayUntil when the file omits it and clears it when the file says null', async () => {
    await importRegistry(store, smallRegistry());
    const returnsAt = Date.UTC(2026, 2, 1);
    store.registry.setAway('h-1', returnsAt);

    await importRegistry(store, smallRegistry());
    expect(store.registry.household('h-1')!.awayUntil).toBe(returnsAt);

    const cleared = smallRegistry();
    Object.assign(cleared.households[0]!, { awayUntil: null });
    await importRegistry(store, cleared);
    expect(store.registry.household('h-1')!.awayUntil).toBeNull();
  });

  it('moves a meter to a household without one and leaves the other meters active', async () => {
    await importRegistry(store, smallRegistry());

    await importRegistry(store, {
      households: [{ id: 'h-4', grid: 'g2', address: '和平里小区 1号楼 1单元 201' }],
      meters: [{ id: 'm-1', household: 'h-4', secret: SECRETS.m1 }],
    });

    expect(store.registry.meter('m-1')).toMatchObject({ householdId: 'h-4', active: true });
    expect(store.registry.meter('m-2')).toMatchObject({ householdId: 'h-2', active: true });
    expect(store.registry.meter('m-3')).toMatchObject({ householdId: 'h-3', active: true });
    expect(store.registry.counts().meters).toBe(3);
  });

  it('retires the old meter when a household gets a replacement meter', async () => {
    await importRegistry(store, smallRegistry());

    await importRegistry(store, {
      meters: [{ id: 'm-9', household: 'h-2', secret: 'replacement-meter-secret' }],
    });

    expect(store.registry.meter('m-9')).toMatchObject({ householdId: 'h-2', active: true });
    expect(store.registry.meter('m-2')).toMatchObject({ householdId: 'h-2', active: false });
    expect(store.registry.meter('m-1')!.active).toBe(true);
    expect(store.registry.meter('m-3')!.active).toBe(true);
  });

  it('stores the reporting interval a meter declares, and refuses one that is not whole minutes up to a week', async () => {
    const reg = smallRegistry();
    reg.meters[0] = { ...reg.meters[0]!, reportEveryMinutes: 1440 };
    await importRegistry(store, reg);
    expect(store.registry.meter('m-1')).toMatchObject({ reportEveryMinutes: 1440 });
    expect(store.registry.meter('m-2')).toMatchObject({ reportEveryMinutes: null });

    const bad = smallRegistry() as unknown as { meters: Record<string, unknown>[] };
    bad.meters[0]!.reportEveryMinutes = 0;
    bad.meters[1]!.reportEveryMinutes = 1.5;
    bad.meters[2]!.reportEveryMinutes = '1440';
    const err = await importFailure(bad);
    expect(err.issues.map((i) => i.path)).toEqual([
      'meters.0.reportEveryMinutes',
      'meters.1.reportEveryMinutes',
      'meters.2.reportEveryMinutes',
    ]);
    expect(store.registry.meter('m-1')).toMatchObject({ reportEveryMinutes: 1440 });
  });

  it('resolves references to entries already in the store', async () => {
    await importRegistry(store, smallRegistry());

    const report = await importRegistry(store, {
      grids: [{ code: 'g3', community: 'c1', name: 'Grid 3' }],
      workers: [{ id: 'w-3', name: 'Liu Fang', grids: ['g2', 'g3'], secret: 'worker-three-secret' }],
      households: [{ id: 'h-5', grid: 'g1', address: '幸福小区 1号楼 1单元 101' }],
    });

    expect(report).toMatchObject({ ...EMPTY, grids: 1, workers: 1, households: 1 });
    expect(store.registry.worker('w-3')!.grids).toEqual(['g2', 'g3']);
    expect(store.registry.household('h-5')!.gridCode).toBe('g1');
  });

  it('rejects a file that does not match the schema, naming each path, and writes nothing', async () => {
    const bad: Record<string, unknown> = smallRegistry();
    const households = bad.households as Record<string, unknown>[];
    households[1]!.grid = 'grid one!';
    households[2]!.awayUntil = 'next Tuesday';
    (bad.meters as Record<string, unknown>[])[0]!.secret = 'short';

    const err = await importFailure(bad);

    expect(err.code).toBe('ERR_REGISTRY_INVALID');
    expect(err.status).toBe(400);
    expect(err.issues.map((i) => i.path)).toEqual([
      'households.1.grid',
      'households.2.awayUntil',
      'meters.0.secret',
    ]);
    expect(err.message).toContain('households.1.grid: letters, digits');
    expect(err.message).toContain('meters.0.secret: secrets must be at least 8 characters');
    expect(err.message).not.toContain('short');
    expect(store.registry.counts()).toEqual(EMPTY);
  });

  it('rejects input that is not a registry object', async () => {
    const err = await importFailure([1, 2, 3]);
    expect(err.code).toBe('ERR_REGISTRY_INVALID');
    expect(err.issues).toEqual([
      { path: '(root)', message: expect.stringContaining('expected object'), kind: 'type', limit: 'object' },
    ]);
  });

  it('lists every unknown reference at once and writes nothing', async () => {
    const file = smallRegistry();
    file.communities[0]!.street = 's-9';
    file.grids[1]!.community = 'c-9';
    file.workers[1]!.grids = ['g1', 'g-9', 'g-8'];
    file.households[2]!.grid = 'g-7';
    file.meters.push({ id: 'm-4', household: 'h-99', secret: 'meter-four-secret' });

    const err = await importFailure(file);

    expect(err.code).toBe('ERR_REGISTRY_REFERENCE');
    expect(err.issues).toEqual([
      { path: 'communities.0.street', message: 'unknown street "s-9"' },
      { path: 'grids.1.community', message: 'unknown community "c-9"' },
      { path: 'workers.1.grids.1', message: 'unknown grid "g-9"' },
      { path: 'workers.1.grids.2', message: 'unknown grid "g-8"' },
      { path: 'households.2.grid', message: 'unknown grid "g-7"' },
      { path: 'meters.3.household', message: 'unknown household "h-99"' },
    ]);
    expect(err.message).toContain('meters.3.household: unknown household "h-99"');
    expect(store.registry.counts()).toEqual(EMPTY);
  });

  it('rejects ids repeated within the file', async () => {
    const file = smallRegistry();
    file.grids.push({ code: 'g1', community: 'c1', name: 'Grid 1 again' });
    file.households.push({ id: 'h-2', grid: 'g2', address: 'somewhere else' });
    file.meters.push({ id: 'm-1', household: 'h-3', secret: 'another-secret' });

    const err = await importFailure(file);

    expect(err.code).toBe('ERR_REGISTRY_REFERENCE');
    expect(err.issues).toEqual([
      { path: 'grids.2.code', message: 'duplicate grid "g1" (first at grids.0)' },
      { path: 'households.3.id', message: 'duplicate household "h-2" (first at households.1)' },
      { path: 'meters.3.id', message: 'duplicate meter "m-1" (first at meters.0)' },
      {
        path: 'meters.3.household',
        message: 'household "h-3" already has meter "m-3" (meters.2); a household has one active meter',
      },
    ]);
    expect(store.registry.counts()).toEqual(EMPTY);
  });

  it('rejects an id used by both a worker and a meter, since both sign in to the broker by id', async () => {
    await importRegistry(store, smallRegistry());

    const err = await importFailure({
      workers: [{ id: 'm-1', name: 'Confused', grids: ['g1'], secret: 'worker-secret-xyz' }],
      meters: [{ id: 'w-2', household: 'h-1', secret: 'meter-secret-xyz' }],
    });

    expect(err.issues).toEqual([
      { path: 'workers.0.id', message: '"m-1" is already the id of a meter' },
      { path: 'meters.0.id', message: '"w-2" is already the id of a worker' },
    ]);
  });

  it('lists the first 20 problems in the message and keeps all of them in the issues', async () => {
    const households = Array.from({ length: 25 }, (_, i) => ({
      id: `h-${i}`,
      grid: 'nowhere',
      address: 'x',
    }));

    const err = await importFailure({ households });

    expect(err.issues).toHaveLength(25);
    const lines = err.message.split('\n');
    expect(lines[0]).toBe('The registry file has broken references (25 problems):');
    expect(lines.slice(1, 21)).toEqual(
      Array.from({ length: 20 }, (_, i) => `  households.${i}.grid: unknown grid "nowhere"`),
    );
    expect(lines[21]).toBe('  … and 5 more');
    expect(lines).toHaveLength(22);
  });

  it('writes in transactions of about 10,000 rows and reports progress after each', async () => {
    const progress: [number, number][] = [];
    const households = Array.from({ length: 10_000 }, (_, i) => ({
      id: `h-${i}`,
      grid: 'g1',
      address: `${i}号`,
    }));

    const report = await importRegistry(
      store,
      {
        streets: [{ code: 's1', name: 'S' }],
        communities: [{ code: 'c1', street: 's1', name: 'C' }],
        grids: [{ code: 'g1', community: 'c1', name: 'G' }],
        households,
      },
      { onProgress: (done, total) => progress.push([done, total]) },
    );

    expect(report.households).toBe(10_000);
    expect(progress).toEqual([
      [10_000, 10_003],
      [10_003, 10_003],
    ]);
    expect(store.registry.counts().households).toBe(10_000);
  });

  it('imports the example community with exactly one grid worker per grid and its community staff', async () => {
    const example = JSON.parse(readFileSync(new URL('../examples/community.json', import.meta.url), 'utf8'));

    const progress: number[] = [];
    const report = await importRegistry(store, example, {
      onProgress: (done, total) => {
        expect(total).toBe(69);
        progress.push(done);
      },
    });

    expect(report).toMatchObject({
      streets: 1,
      communities: 1,
      grids: 3,
      workers: 4,
      households: 30,
      meters: 30,
    });
    for (const grid of ['js-01-c1-g1', 'js-01-c1-g2', 'js-01-c1-g3']) {
      const workers = store.registry.workersOfGrid(grid);
      expect(workers).toHaveLength(1);
      expect(workers[0]).toMatchObject({ id: `w-${grid.slice(-2)}`, role: 'grid-worker' });
    }
    for (let n = 1; n <= 30; n++) {
      const id = String(n).padStart(4, '0');
      expect(store.registry.meter(`m-${id}`)).toMatchObject({ householdId: `h-${id}`, active: true });
    }
    const secrets = [...example.workers, ...example.meters].map((e: { secret: string }) => e.secret);
    expect(new Set(secrets).size).toBe(34);
    expect(secrets.every((s) => s.length >= 16)).toBe(true);
  });
});
