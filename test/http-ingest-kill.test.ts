import Database from 'better-sqlite3';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../core/store/store.ts';
import { seedRegistry, tempDataDir, testRegistry } from './harness.ts';
import { spawnService, type ServiceProcess } from './service-process.ts';

/**
 * 100,000 readings over HTTP from one `ingest` key, in batches of 10,000; the service (its own process) is killed
 * with SIGKILL while a batch is in flight, started again, and that batch sent again: every reading is stored
 * exactly once, and every reading is answered accepted or duplicate. The inbox writer thread commits: what it
 * committed before the kill is found again, nothing acknowledged is lost.
 */
const ADMIN = 'process-admin-token-0123456789';
const METERS_PER_GRID = 100; // 200 meters
const PER_METER = 500;
const BATCH = 10_000; // the most one request may carry: more than one group commit (5,000 readings) each
const STEP = 15 * 60_000;

const dir = tempDataDir();
let service: ServiceProcess | undefined;
afterAll(async () => {
  await service?.kill().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<ServiceProcess> {
  const s = await spawnService(dir, { CAREFLOW_CONFIG: join(dir, 'config.json') });
  service = s;
  return s;
}

function post(s: ServiceProcess, url: string, token: string, body: unknown) {
  return fetch(`http://127.0.0.1:${s.httpPort}${url}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('HTTP ingest across a crash', () => {
  it('stores 100,000 readings exactly once when the service is killed mid-batch and the batch is resent', async () => {
    const registry = testRegistry(METERS_PER_GRID);
    await seedRegistry(dir, registry);
    // A platform uploading days of history at once is far above a live meter's allowance. The inbox is committed
    // by its writer thread here (the other kill tests run the default, commits on the main thread).
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ ingest: { maxReadingsPerMeterPerMinute: 1_000_000, writerThread: true } }),
    );
    const meters = registry.meters!.map((m) => m.id);
    const start0 = Date.now() - PER_METER * STEP - 3_600_000;
    // Oldest first across meters, as a platform forwards them: reading k of every meter, then k + 1…
    const all: { meterId: string; ts: number; totalLiters: number }[] = [];
    for (let k = 0; k < PER_METER; k++)
      for (const [m, meterId] of meters.entries())
        all.push({ meterId, ts: start0 + k * STEP, totalLiters: 1000 * m + 7 * k });
    expect(all).toHaveLength(100_000);
    const batches = Array.from({ length: all.length / BATCH }, (_, b) =>
      all.slice(b * BATCH, (b + 1) * BATCH),
    );

    let s = await start();
    const created = await post(s, '/api/api-keys', ADMIN, {
      name: 'platform',
      role: 'ingest',
      grids: ['g1', 'g2'],
    });
    expect(created.status).toBe(200);
    const key = ((await created.json()) as { key: string }).key;

    const status = new Map<number, string>(); // index in `all` → accepted | duplicate
    const record = (b: number, answer: { results: { index: number; status: string }[] }) => {
      for (const r of answer.results) {
        const i = b * BATCH + r.index;
        expect(r.status === 'accepted' && status.get(i) === 'accepted', `reading ${i} accepted twice`).toBe(
          false,
        );
        if (r.status !== 'duplicate' || !status.has(i)) status.set(i, r.status);
      }
    };

    const killAt = 5;
    let killedWith = -1;
    for (let b = 0; b < batches.length; b++) {
      if (b === killAt) {
        // Killed as soon as part of the batch is committed: its answer never comes.
        const lost = post(s, '/api/ingest/readings', key, { readings: batches[b] }).then(
          (r) => r.status,
          () => null,
        );
        const inbox = new Database(join(dir, 'careflow.db'), { readonly: true, fileMustExist: true });
        const seq = inbox.prepare('SELECT coalesce(max(seq), 0) FROM inbox').pluck();
        const deadline = Date.now() + 60_000;
        while ((seq.get() as number) <= b * BATCH && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 1));
        await s.kill();
        killedWith = (seq.get() as number) - b * BATCH;
        inbox.close();
        expect(await lost, 'the killed request got no answer').toBeNull();
        s = await start();
      }
      const res = await post(s, '/api/ingest/readings', key, { readings: batches[b] });
      expect(res.status, `batch ${b}`).toBe(200);
      const answer = (await res.json()) as {
        accepted: number;
        duplicate: number;
        refused: number;
        results: [];
      };
      expect(answer.refused, `batch ${b}`).toBe(0);
      record(b, answer as { results: { index: number; status: string }[] });
      if (b === killAt) {
        console.log(
          `killed with ${killedWith} readings of batch ${b} committed; sent again: ${answer.accepted} accepted, ${answer.duplicate} duplicate`,
        );
        expect(killedWith).toBeGreaterThan(0);
        expect(answer.duplicate).toBe(killedWith);
        expect(answer.accepted).toBe(BATCH - killedWith);
      }
    }
    expect(status.size).toBe(100_000);
    expect([...status.values()].every((v) => v === 'accepted' || v === 'duplicate')).toBe(true);
    expect(await s.stop()).toBe(0);
    service = undefined;

    const store = openStore({ path: join(dir, 'careflow.db') });
    try {
      const rows = store.db
        .prepare("SELECT count(*) AS n, count(DISTINCT meter_id || ':' || ts) AS d FROM inbox")
        .get() as {
        n: number;
        d: number;
      };
      expect(rows).toEqual({ n: 100_000, d: 100_000 });
    } finally {
      store.close();
    }
  }, 300_000);
});
