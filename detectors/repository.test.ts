import { afterEach, expect, it } from 'vitest';
import type { Mode } from '../core/repository.ts';
import { eachBackend, type Backend } from '../test/repositories/backends.ts';
import { PgDetectorStateRepository } from './postgres-repository.ts';
import type { DetectorStateRepository } from './repository.ts';
import { SqliteDetectorStateRepository } from './sqlite-repository.ts';

/** One behavioural suite for the detectors' checkpoints, run against the embedded SQLite store and PostgreSQL. */
eachBackend("the detectors' checkpoint repository", (fresh) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });
  async function open(): Promise<DetectorStateRepository<Mode>> {
    backend = await fresh();
    return backend.store
      ? new SqliteDetectorStateRepository(backend.store)
      : await PgDetectorStateRepository.open(backend.pool!);
  }
  const bytesOf = (v: unknown) => (v instanceof Uint8Array ? [...v] : v);
  const all = async (repo: DetectorStateRepository<Mode>, ids?: string[]) =>
    new Map([...(await repo.states(ids))].map(([id, s]) => [id, bytesOf(s)]));

  it('starts with no household states', async () => {
    const repo = await open();
    expect(await all(repo)).toEqual(new Map());
    expect(await all(repo, ['h1'])).toEqual(new Map());
  });

  it('keeps binary states byte for byte and JSON states of earlier releases parsed', async () => {
    const repo = await open();
    const binary = new Uint8Array([3, 0, 255, 0, 0, 128, 7, 1]);
    // A view into a larger buffer: only its own bytes are saved.
    const view = new Uint8Array(new Uint8Array([9, 9, 1, 2, 3, 9]).buffer, 2, 3);
    const legacy = { v: 2, ring: [1.5, null, 0], active: { 'night-flow': { since: 1_767_225_600_000 } } };
    await repo.saveStates([
      ['h1', binary],
      ['h2', view],
      ['h-旧', legacy],
    ]);
    expect(await all(repo)).toEqual(
      new Map<string, unknown>([
        ['h1', [...binary]],
        ['h2', [1, 2, 3]],
        ['h-旧', legacy],
      ]),
    );
    const first = [...(await repo.states(['h1']))][0]?.[1];
    expect(first).toBeInstanceOf(Uint8Array);
  });

  it('overwrites a household state, the last write of a save winning, and a JSON state with a binary one', async () => {
    const repo = await open();
    await repo.saveStates([['h1', { v: 1 }]]);
    await repo.saveStates([
      ['h1', new Uint8Array([1])],
      ['h2', new Uint8Array([2])],
      ['h1', new Uint8Array([3, 3])],
    ]);
    expect(await all(repo)).toEqual(
      new Map([
        ['h1', [3, 3]],
        ['h2', [2]],
      ]),
    );
  });

  it("reads only the given households' states (a partition taken over)", async () => {
    const repo = await open();
    await repo.saveStates(Array.from({ length: 50 }, (_, i) => [`h${i}`, new Uint8Array([i])] as const));
    expect(await all(repo, ['h7', 'h42', 'h7', 'nobody', "h'; DROP TABLE household_state; --"])).toEqual(
      new Map([
        ['h7', [7]],
        ['h42', [42]],
      ]),
    );
    expect((await all(repo)).size).toBe(50);
    expect(await all(repo, [])).toEqual(new Map());
  });
});
