import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterPartitions } from '../app/start-cluster-worker.ts';
import { eraseHouseholdShared } from '../cluster/household-data.ts';
import { PartitionFencedError, PartitionResetError, type PartitionSubmission } from '../cluster/partition.ts';
import { importRegistryShared } from '../registry/shared-import.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { openPgPool, type PgPool } from '../core/postgres.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { seedRegistry, tempDataDir, testRegistry } from './harness.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';

/**
 * A partition taken over between rounds on a real PostgreSQL: the previous owner is fenced out (its commit is
 * refused and leaves nothing behind), the batch it committed but never acknowledged comes again marked
 * redelivered and is skipped, and everything the partition stores — inbox, buckets, alerts, normaliser and
 * detector checkpoints — equals an uninterrupted run of the same batches.
 */
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 4, 16);
const ROUNDS = 10;
const LEAK = 'm-g1-2';
const logger = createLogger('silent');

let server: Postgres;
let dir: string;
let store: Store;
const pools: PgPool[] = [];
const registry = testRegistry(4);
const meterIds = (registry.meters ?? []).map((m) => m.id);
const householdOf = new Map((registry.meters ?? []).map((m) => [m.id, m.household]));

beforeAll(async () => {
  if (SKIP_POSTGRES) return;
  server = await startPostgres();
  dir = tempDataDir();
  await seedRegistry(dir, registry);
  store = openStore({ path: join(dir, 'careflow.db') });
}, 120_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await server?.dispose();
}, 60_000);

/** Round `r`: every meter's payload of 4 hourly readings (day use, and a 3 L/h leak at one meter). */
function batch(r: number, redelivered = false): PartitionSubmission[] {
  return meterIds.map((meterId, i) => ({
    meterId,
    householdId: householdOf.get(meterId),
    redelivered,
    receivedAt: Date.now(),
    deadLetters: [],
    readings: Array.from({ length: 4 }, (_, k) => {
      const hour = r * 4 + k;
      let total = 500 + i;
      for (let h = 0; h < hour; h++) {
        const local = h % 24;
        total += (local >= 7 && local < 22 ? 10 : 0) + (meterId === LEAK ? 3 : 0);
      }
      return { ts: T0 + hour * HOUR, totalLiters: total };
    }),
  }));
}

async function open(database: string, registryAtLeast?: (version: number) => Promise<void>) {
  const pool = openPgPool(await server.createDatabase(database));
  pools.push(pool);
  const config = loadConfig({}, { dataDir: dir });
  const { openPartition } = await clusterPartitions(config, logger, pool, store, registryAtLeast);
  return { pool, openPartition };
}

async function snapshot(pool: PgPool) {
  const q = async (sql: string) => (await pool.query(sql)).rows as unknown[];
  return {
    inbox: await q('SELECT meter_id, ts, total_liters FROM inbox ORDER BY meter_id, ts'),
    buckets: await q('SELECT household_id, start, liters FROM usage_buckets ORDER BY household_id, start'),
    alerts: await q(
      'SELECT id, household_id, rule_id, state, opened_at, evidence FROM alerts ORDER BY id COLLATE "C"',
    ),
    detections: await q('SELECT key, alert_id FROM detections ORDER BY key COLLATE "C"'),
    meterStates: await q('SELECT meter_id, state FROM meter_state ORDER BY meter_id'),
    householdStates: await q('SELECT household_id, bytes FROM household_state ORDER BY household_id'),
    clock: await q('SELECT clock FROM cluster_partitions'),
  };
}

describe.skipIf(SKIP_POSTGRES)('a partition taken over', () => {
  it('fences the old owner, skips what it committed, and ends exactly as an uninterrupted run', async () => {
    const reference = await open('reference');
    const one = await reference.openPartition(0);
    for (let r = 0; r < ROUNDS; r++) await one.commit(batch(r));
    one.stop();
    const expected = await snapshot(reference.pool);
    // The leak was found (the comparison below compares alerts, not only empty tables).
    expect(expected.alerts.map((a) => (a as { rule_id: string }).rule_id)).toContain('continuous-flow');

    const takeover = await open('takeover');
    const first = await takeover.openPartition(0);
    for (let r = 0; r < 6; r++) await first.commit(batch(r));
    // Another worker takes the partition over; the first one's next commit is refused and leaves nothing.
    const second = await takeover.openPartition(0);
    await expect(first.commit(batch(6))).rejects.toBeInstanceOf(PartitionFencedError);
    first.stop();
    // Round 5 was committed but not acknowledged: RabbitMQ delivers it again, marked redelivered.
    const again = await second.commit(batch(5, true));
    expect(again).toEqual({ readings: 0, skipped: meterIds.length * 4, detections: 0 });
    for (let r = 6; r < ROUNDS; r++) await second.commit(batch(r));
    second.stop();
    expect(await snapshot(takeover.pool)).toEqual(expected);
  }, 120_000);

  it("an erasure resets the partition: the household's state and rows are gone, the others go on unchanged", async () => {
    const ERASED = 'm-g1-1';
    const household = householdOf.get(ERASED)!;
    const without = (b: PartitionSubmission[]) => b.filter((s) => s.meterId !== ERASED);
    // The same input with the household's meter, then without it (its readings unknown after the erasure).
    const reference = await open('erase_reference');
    const ref = await reference.openPartition(0);
    for (let r = 0; r < ROUNDS; r++) await ref.commit(r < 5 ? batch(r) : without(batch(r)));
    ref.stop();
    const expected = await snapshot(reference.pool);
    const mentions = (v: unknown) =>
      JSON.stringify(v).includes(household) || JSON.stringify(v).includes(ERASED);
    expect(Object.values(expected).some((rows) => rows.some(mentions))).toBe(true);

    const waited: number[] = [];
    const erasing = await open('erasing', async (version) => {
      waited.push(version);
    });
    await importRegistryShared(erasing.pool, registry);
    const first = await erasing.openPartition(0);
    for (let r = 0; r < 5; r++) await first.commit(batch(r));
    const erased = await eraseHouseholdShared(erasing.pool, household, { actor: 'admin', at: Date.now() });
    expect(erased.partitions).toEqual([0]);
    expect(erased.deleted).toMatchObject({ households: 1, meters: 1, readings: 5 * 4, partitionMeters: 1 });
    expect(erased.deleted.detectorState).toBe(1);
    // The owner's next commit is refused and leaves nothing; restored, it waits for the registry without them.
    await expect(first.commit(without(batch(5)))).rejects.toBeInstanceOf(PartitionResetError);
    first.stop();
    const second = await erasing.openPartition(0);
    expect(waited).toEqual([erased.registryVersion]);
    for (let r = 5; r < ROUNDS; r++) await second.commit(without(batch(r)));
    second.stop();
    const got = await snapshot(erasing.pool);
    // Nothing of the household is left anywhere, and everything else is as if the erasure had not happened.
    expect(Object.values(got).some((rows) => rows.some(mentions))).toBe(false);
    const others = Object.fromEntries(
      Object.entries(expected).map(([k, rows]) => [k, rows.filter((row) => !mentions(row))]),
    );
    expect(got).toEqual(others);
  }, 120_000);
});
