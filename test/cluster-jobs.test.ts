import amqp from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MQTT_EXCHANGE } from '../cluster/topology.ts';
import { importRegistryShared } from '../registry/shared-import.ts';
import { eventually, HOUR, tempDataDir, testRegistry } from './harness.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';
import { SKIP_RABBITMQ, startRabbitMq, type RabbitMq } from './rabbitmq.ts';
import { spawnClusterWorker, type ClusterWorkerProcess, stopWorkerProcess } from './service-process.ts';
import { SKIP_VICTORIA_METRICS, startVictoriaMetrics, type VictoriaMetrics } from './victoria-metrics.ts';

/**
 * The archive in a cluster: two real workers (`careflow start --cluster`) on RabbitMQ and PostgreSQL, each with
 * the archive configured against a real VictoriaMetrics. One of them holds the archive's lease and writes every
 * reading of every partition from the shared inbox; killed with SIGKILL, the other takes the archive over from
 * the cursor in PostgreSQL, and every reading is in the archive — each once (VictoriaMetrics deduplicates
 * samples of one series and time, so a batch written again after a lost cursor update is not counted twice).
 * Then a household is erased through the surviving worker while readings keep coming: the partition holding it is
 * reset and restored without it, and its meter's readings are unknown from then on. Last, readings posted over
 * HTTP to the worker reach their partitions as MQTT payloads do.
 */
const PARTITIONS = 4;
const SERIES = '{__name__="water_reading_total_liters"}';
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 3 * 24 * HOUR;
const registry = testRegistry(20);
const meterIds = (registry.meters ?? []).map((m) => m.id);
const ADMIN = 'cluster-archive-admin-token-0123456789';
const skip = SKIP_POSTGRES || SKIP_RABBITMQ || SKIP_VICTORIA_METRICS;

interface Worker extends ClusterWorkerProcess {
  dir: string;
}
let pgServer: Postgres;
let rabbit: RabbitMq;
let vm: VictoriaMetrics;
let db: pg.Pool;
const workers: Worker[] = [];

beforeAll(async () => {
  if (skip) return;
  [pgServer, rabbit, vm] = await Promise.all([
    startPostgres(),
    startRabbitMq(),
    startVictoriaMetrics({ dedup: true }),
  ]);
  db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  await importRegistryShared(db, registry);
  const env = {
    CAREFLOW_INFLUX_URL: vm.url,
    CAREFLOW_INFLUX_TOKEN: 'test-influx-token',
    CAREFLOW_INFLUX_ORG: 'careflow',
    CAREFLOW_INFLUX_BUCKET: 'readings',
    CAREFLOW_ADMIN_TOKEN: ADMIN,
  };
  const cluster = { amqpUrl: rabbit.amqpUrl, postgresUrl: pgServer.url, partitions: PARTITIONS };
  for (const prefer of ['0-1', '2-3']) {
    const dir = tempDataDir();
    workers.push({ ...(await spawnClusterWorker(dir, { ...cluster, prefer }, 60_000, env)), dir });
  }
}, 240_000);

afterAll(async () => {
  for (const w of workers) await stopWorkerProcess(w);
  await db?.end();
  await vm?.dispose();
  await rabbit?.dispose();
  await pgServer?.dispose();
}, 120_000);

interface ArchiveHealth {
  held: boolean;
  spoolReadings?: number;
  up?: boolean;
}
async function archiveOf(w: Worker): Promise<ArchiveHealth | null> {
  try {
    const body = (await (await fetch(`http://127.0.0.1:${w.httpPort}/healthz`)).json()) as {
      archive?: ArchiveHealth;
    };
    return body.archive ?? null;
  } catch {
    return null;
  }
}

/** Publishes `hours` hourly readings of every meter from hour `from`, confirmed by RabbitMQ. */
async function publish(from: number, hours: number): Promise<Map<string, number>> {
  const conn = await amqp.connect(rabbit.amqpUrl);
  const ch = await conn.createConfirmChannel();
  const sent = new Map<string, number>();
  for (let h = from; h < from + hours; h++) {
    meterIds.forEach((meterId, i) => {
      const ts = BASE + h * HOUR;
      const reading = { ts: new Date(ts).toISOString(), totalLiters: 1000 + i + h * 3 };
      ch.publish(MQTT_EXCHANGE, `meters.${meterId}.readings`, Buffer.from(JSON.stringify(reading)));
      sent.set(`${meterId}@${ts}`, reading.totalLiters);
    });
  }
  await ch.waitForConfirms();
  await conn.close();
  return sent;
}

/** Every stored sample as meter@time → liters, and how many samples there are. */
async function archived(): Promise<{ samples: Map<string, number>; count: number; tagged: boolean }> {
  const samples = new Map<string, number>();
  let count = 0;
  let tagged = true;
  for (const s of await vm.exportSeries(SERIES)) {
    tagged &&= s.metric.household !== undefined && s.metric.grid !== undefined;
    s.timestamps.forEach((t, i) => {
      samples.set(`${s.metric.meter}@${t}`, s.values[i]!);
      count++;
    });
  }
  return { samples, count, tagged };
}

async function archivedExactly(expected: Map<string, number>): Promise<void> {
  let got = await archived();
  const until = Date.now() + 30_000;
  while (got.count < expected.size && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    got = await archived();
  }
  expect(got.count).toBe(expected.size);
  expect(got.samples).toEqual(expected);
  expect(got.tagged).toBe(true);
}

describe.skipIf(skip)("a cluster's running workers: the archive and an erasure", () => {
  it('is written by one worker at a time, and by another from where it stopped when that one is killed', async () => {
    const holders = async () => (await Promise.all(workers.map(archiveOf))).map((a) => a?.held === true);
    await eventually(
      async () => (await holders()).filter(Boolean).length === 1,
      20_000,
      'one archive holder',
    );
    const holderIndex = (await holders()).indexOf(true);
    const [holder, other] = [workers[holderIndex]!, workers[1 - holderIndex]!];
    expect((await archiveOf(other))?.held).toBe(false);

    const expected = await publish(0, 12);
    await archivedExactly(expected);

    // The holder goes without a word; readings keep arriving meanwhile.
    holder.proc.kill('SIGKILL');
    await holder.exited;
    const killedAt = Date.now();
    for (const [k, v] of await publish(12, 12)) expected.set(k, v);
    await eventually(
      async () => (await archiveOf(other))?.held === true,
      30_000,
      'the other worker to take over',
    );
    const takeover = Date.now() - killedAt;
    await archivedExactly(expected);
    await eventually(async () => (await archiveOf(other))?.spoolReadings === 0, 20_000, 'an empty spool');
    expect(takeover).toBeLessThan(15_000);
    expect(expected.size).toBe(meterIds.length * 24);
  }, 180_000);

  it('erases a household through a running worker: the partition restarts without it, its readings are unknown', async () => {
    const survivor = workers.find((w) => w.proc.exitCode === null && w.proc.signalCode === null)!;
    const [hid, meter] = ['h-g1-3', 'm-g1-3'];
    const health = async () =>
      (await (await fetch(`http://127.0.0.1:${survivor.httpPort}/healthz`)).json()) as {
        resets: number;
        committedReadings: number;
      };
    const erase = await fetch(`http://127.0.0.1:${survivor.httpPort}/api/households/${hid}/erase`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'the resident asked in writing', confirm: hid }),
    });
    expect(erase.status).toBe(200);
    const { deleted } = (await erase.json()) as { deleted: Record<string, number> };
    expect(deleted).toMatchObject({ households: 1, meters: 1, readings: 24, partitionMeters: 1 });
    // Readings keep coming from every meter, the erased one too: the owner of its partition restores it once.
    const before = await health();
    await publish(24, 2);
    const others = (meterIds.length - 1) * 2;
    await eventually(
      async () => (await health()).committedReadings >= before.committedReadings + others,
      30_000,
      'the next readings committed',
    );
    expect((await health()).resets).toBeGreaterThanOrEqual(1);
    const rows = async (sql: string) => (await db.query<{ n: number }>(sql, [meter])).rows[0]!.n;
    expect(await rows('SELECT count(*)::int AS n FROM inbox WHERE meter_id = $1')).toBe(0);
    expect(await rows('SELECT count(*)::int AS n FROM meter_state WHERE meter_id = $1')).toBe(0);
    expect(
      await rows(
        `SELECT count(*)::int AS n FROM dead_letters WHERE meter_id = $1 AND code = 'ERR_INGEST_UNKNOWN_METER'`,
      ),
    ).toBe(2);
    const state = await db.query('SELECT 1 FROM household_state WHERE household_id = $1', [hid]);
    expect(state.rowCount).toBe(0);
  }, 120_000);

  it('takes readings posted over HTTP into the partitions, answering once RabbitMQ has them', async () => {
    const survivor = workers.find((w) => w.proc.exitCode === null && w.proc.signalCode === null)!;
    const post = async (readings: unknown[]) => {
      const res = await fetch(`http://127.0.0.1:${survivor.httpPort}/api/ingest/readings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ readings }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const at = (h: number) => new Date(BASE + h * HOUR).toISOString();
    const readings = [
      { meterId: 'm-g1-1', ts: at(40), totalLiters: 5_000 },
      { meterId: 'm-g1-1', ts: at(41), totalLiters: 5_012 },
      { meterId: 'm-g2-1', ts: at(40), totalLiters: -3 },
      { meterId: 'm-unknown', ts: at(40), totalLiters: 1 },
    ];
    const first = await post(readings);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ accepted: 2, duplicate: 0, refused: 2 });
    const results = first.body.results as { status: string; code?: string }[];
    expect(results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'refused', 'refused']);
    expect(results[2]!.code).toBe('ERR_INGEST_PAYLOAD_INVALID');
    expect(results[3]!.code).toBe('ERR_INGEST_UNKNOWN_METER');
    const count = async (sql: string, params: unknown[]) =>
      (await db.query<{ n: number }>(sql, params)).rows[0]!.n;
    const inbox = (meterId: string) =>
      count('SELECT count(*)::int AS n FROM inbox WHERE meter_id = $1 AND ts >= $2', [
        meterId,
        BASE + 40 * HOUR,
      ]);
    // The partition stores them and dead-letters the refused reading as for an MQTT payload; the worker itself
    // records the unknown meter.
    await eventually(async () => (await inbox('m-g1-1')) === 2, 20_000, 'the posted readings stored');
    const letters = async (meterId: string, code: string) =>
      count('SELECT count(*)::int AS n FROM dead_letters WHERE meter_id = $1 AND code = $2', [meterId, code]);
    await eventually(
      async () => (await letters('m-g2-1', 'ERR_INGEST_PAYLOAD_INVALID')) === 1,
      20_000,
      "the partition's dead letter",
    );
    expect(await letters('m-unknown', 'ERR_INGEST_UNKNOWN_METER')).toBe(1);
    // The same batch again, once stored: answered duplicate from PostgreSQL, stored once.
    const again = await post(readings.slice(0, 2));
    expect(again.body).toMatchObject({ accepted: 0, duplicate: 2, refused: 0 });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await inbox('m-g1-1')).toBe(2);
  }, 60_000);
});
