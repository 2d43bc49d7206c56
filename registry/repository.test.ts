import { afterEach, expect, it } from 'vitest';
import type { Mode } from '../core/repository.ts';
import { CareflowError } from '../core/errors.ts';
import { importRegistry } from '../core/registry-import.ts';
import type { RegistryInput } from '../core/registry.ts';
import { verifySecret } from '../core/secrets.ts';
import { eachBackend, type Backend } from '../test/repositories/backends.ts';
import { PgRegistryRepository } from './postgres-repository.ts';
import type { RegistryRepository } from './repository.ts';
import { importRegistryShared } from './shared-import.ts';
import { sqliteRegistryRepository } from './sqlite-repository.ts';

const SECRET = { w1: 'worker-one-secret-7Hq2', w2: 'worker-two-secret-Kp9x', m: 'meter-secret-aZ81-' };

/** Two grids, two workers, three households (one with a building and unit), one meter each. */
function registry(): RegistryInput {
  return {
    streets: [{ code: 's1', name: 'Jiefang Street Office' }],
    communities: [{ code: 'c1', street: 's1', name: 'Xingfu Community' }],
    grids: [
      { code: 'g1', community: 'c1', name: 'Grid 1' },
      { code: 'g2', community: 'c1', name: 'Grid 2' },
    ],
    buildings: [{ code: 'b3', grid: 'g1', name: 'Building 3' }],
    units: [{ code: 'b3-u2', building: 'b3', name: 'Unit 2' }],
    workers: [
      { id: 'w-2', name: 'Zhang Wei', role: 'grid-leader', grids: ['g1', 'g2'], secret: SECRET.w2 },
      { id: 'w-1', name: 'Wang Li', grids: ['g1'], secret: SECRET.w1 },
    ],
    households: [
      {
        id: 'h-1',
        grid: 'g1',
        address: '幸福小区 3号楼 2单元 501',
        livesAlone: true,
        elderly: true,
        unit: 'b3-u2',
      },
      { id: 'h-2', grid: 'g1', address: '幸福小区 3号楼 2单元 502', awayUntil: '2026-02-20T00:00:00+08:00' },
      {
        id: 'h-3',
        grid: 'g2',
        address: '和平里小区 1号楼 1单元 101',
        elderly: true,
        notes: 'hard of hearing',
      },
    ],
    meters: ['1', '2', '3'].map((n) => ({ id: `m-${n}`, household: `h-${n}`, secret: SECRET.m + n })),
  };
}

/**
 * One behavioural suite for the registry's repository, run against the embedded SQLite store (written by
 * `careflow import`) and the shared PostgreSQL store (written by `careflow import --cluster`).
 */
eachBackend("the registry's repository", (fresh) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });
  async function open(): Promise<{
    repo: RegistryRepository<Mode>;
    load: (file: unknown) => Promise<unknown>;
  }> {
    backend = await fresh();
    const { store, pool } = backend;
    if (store) return { repo: sqliteRegistryRepository(store), load: (file) => importRegistry(store, file) };
    return {
      repo: await PgRegistryRepository.open(pool!),
      load: (file) => importRegistryShared(pool!, file),
    };
  }
  const failure = async (p: Promise<unknown>): Promise<CareflowError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CareflowError);
    return err as CareflowError;
  };

  it('starts empty', async () => {
    const { repo } = await open();
    expect(await repo.meter('m-1')).toBeUndefined();
    expect(await repo.household('h-1')).toBeUndefined();
    expect(await repo.worker('w-1')).toBeUndefined();
    expect(await repo.workersOfGrid('g1')).toEqual([]);
    expect(await repo.gridName('g1')).toBeUndefined();
    expect(await repo.counts()).toEqual({
      streets: 0,
      communities: 0,
      grids: 0,
      workers: 0,
      households: 0,
      meters: 0,
    });
  });

  it("answers a meter's household, a household's grid, place and flags, a grid's people", async () => {
    const { repo, load } = await open();
    await load(registry());
    const meter = await repo.meter('m-1');
    expect(meter).toMatchObject({ id: 'm-1', householdId: 'h-1', active: true, reportEveryMinutes: null });
    expect(meter!.secretHash).not.toContain(SECRET.m);
    expect(await verifySecret(`${SECRET.m}1`, meter!.secretHash)).toBe(true);
    expect(await repo.household('h-1')).toEqual({
      id: 'h-1',
      gridCode: 'g1',
      address: '幸福小区 3号楼 2单元 501',
      livesAlone: true,
      elderly: true,
      awayUntil: null,
      notes: null,
      building: 'b3', // the unit's building
      unit: 'b3-u2',
    });
    expect(await repo.household('h-2')).toEqual({
      id: 'h-2',
      gridCode: 'g1',
      address: '幸福小区 3号楼 2单元 502',
      livesAlone: false,
      elderly: false,
      awayUntil: Date.parse('2026-02-20T00:00:00+08:00'),
      notes: null,
    });
    expect((await repo.household('h-3'))?.notes).toBe('hard of hearing');
    const w2 = await repo.worker('w-2');
    expect(w2).toMatchObject({ id: 'w-2', name: 'Zhang Wei', role: 'grid-leader', grids: ['g1', 'g2'] });
    expect(await verifySecret(SECRET.w2, w2!.secretHash)).toBe(true);
    expect(await repo.workersOfGrid('g1')).toEqual([
      { id: 'w-1', name: 'Wang Li', role: 'grid-worker', grids: ['g1'] },
      { id: 'w-2', name: 'Zhang Wei', role: 'grid-leader', grids: ['g1'] },
    ]);
    expect((await repo.workersOfGrid('g2')).map((w) => w.id)).toEqual(['w-2']);
    expect(await repo.gridName('g2')).toBe('Grid 2');
    expect(await repo.counts()).toEqual({
      streets: 1,
      communities: 1,
      grids: 2,
      workers: 2,
      households: 3,
      meters: 3,
    });
  });

  it('updates on re-import: moved households, replaced meters, reassigned workers; away kept unless given', async () => {
    const { repo, load } = await open();
    await load(registry());
    const before = await repo.revision();
    // A second file with only what changed; it refers to grids and households of the first.
    await load({
      workers: [{ id: 'w-1', name: 'Wang Li', grids: ['g2'], secret: SECRET.w1 }],
      households: [
        { id: 'h-1', grid: 'g2', address: '和平里小区 1号楼 1单元 102', elderly: true },
        { id: 'h-3', grid: 'g2', address: '和平里小区 1号楼 1单元 101', awayUntil: null },
        { id: 'h-2', grid: 'g1', address: '幸福小区 3号楼 2单元 502', notes: 'daughter visits on Sundays' },
      ],
      meters: [{ id: 'm-1b', household: 'h-1', secret: SECRET.m + '1b', reportEveryMinutes: 1440 }],
    });
    expect(await repo.revision()).not.toBe(before);
    expect(await repo.household('h-1')).toEqual({
      id: 'h-1',
      gridCode: 'g2',
      address: '和平里小区 1号楼 1单元 102',
      livesAlone: false,
      elderly: true,
      awayUntil: null,
      notes: null,
    });
    // Absent from the file: the away date stays; null: cleared.
    expect((await repo.household('h-2'))?.awayUntil).toBe(Date.parse('2026-02-20T00:00:00+08:00'));
    expect((await repo.household('h-2'))?.notes).toBe('daughter visits on Sundays');
    expect((await repo.household('h-3'))?.awayUntil).toBeNull();
    // The new meter retires the household's old one.
    expect(await repo.meter('m-1')).toMatchObject({ householdId: 'h-1', active: false });
    expect(await repo.meter('m-1b')).toMatchObject({
      householdId: 'h-1',
      active: true,
      reportEveryMinutes: 1440,
    });
    expect((await repo.counts()).meters).toBe(3);
    // The worker's grids are those of the last file that named them.
    expect((await repo.worker('w-1'))?.grids).toEqual(['g2']);
    expect((await repo.workersOfGrid('g1')).map((w) => w.id)).toEqual(['w-2']);
    expect((await repo.workersOfGrid('g2')).map((w) => w.id)).toEqual(['w-1', 'w-2']);
  });

  it('imports the same file twice to the same registry', async () => {
    const { repo, load } = await open();
    await load(registry());
    const first = {
      h1: await repo.household('h-1'),
      w2: (await repo.worker('w-2'))?.grids,
      counts: await repo.counts(),
    };
    await load(registry());
    expect(await repo.household('h-1')).toEqual(first.h1);
    expect((await repo.worker('w-2'))?.grids).toEqual(first.w2);
    expect(await repo.counts()).toEqual(first.counts);
  });

  it('refuses an invalid file or a broken reference and writes nothing', async () => {
    const { repo, load } = await open();
    await load(registry());
    const revision = await repo.revision();
    const invalid = await failure(
      load({ households: [{ id: 'h-9', grid: 'g1', address: '' }], meters: [{ id: 'm-9' }] }),
    );
    expect(invalid.code).toBe('ERR_REGISTRY_INVALID');
    const broken = await failure(
      load({
        households: [{ id: 'h-9', grid: 'g1', address: 'Lane 9' }],
        meters: [{ id: 'm-9', household: 'h-404', secret: SECRET.m + '9' }],
      }),
    );
    expect(broken.code).toBe('ERR_REGISTRY_REFERENCE');
    expect(broken.message).toContain('h-404');
    expect(await repo.household('h-9')).toBeUndefined();
    expect(await repo.meter('m-9')).toBeUndefined();
    expect(await repo.revision()).toBe(revision);
    expect((await repo.counts()).households).toBe(3);
  });
});
