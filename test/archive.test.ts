import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import type { ConfigInput } from '../core/config.ts';
import { openStore } from '../core/store/store.ts';
import {
  ADMIN_TOKEN,
  connectClient,
  eventually,
  HOUR,
  startTestService,
  tempDataDir,
  testRegistry,
  type TestService,
} from './harness.ts';
import { SKIP_VICTORIA_METRICS, startVictoriaMetrics, type VictoriaMetrics } from './victoria-metrics.ts';

/**
 * The InfluxDB archive against a real VictoriaMetrics server (InfluxDB v2 write API). Readings are stamped
 * a few days before the real now, inside the server's retention and never in its future.
 */
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 4 * 24 * HOUR;
const METERS = ['m-g1-1', 'm-g1-2', 'm-g2-1'];
const SERIES = '{__name__="water_reading_total_liters"}';
const VISIBLE_MS = 20_000;

const servers: VictoriaMetrics[] = [];
const services: TestService[] = [];
const clients: MqttClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  for (const svc of services.splice(0).reverse()) await svc.dispose();
  for (const vm of servers.splice(0)) await vm.dispose();
});

async function vmServer(dedup = false): Promise<VictoriaMetrics> {
  const vm = await startVictoriaMetrics({ dedup });
  servers.push(vm);
  return vm;
}

function archiveConfig(vm: VictoriaMetrics): ConfigInput {
  return {
    archive: {
      url: vm.url,
      token: 'test-influx-token',
      org: 'careflow',
      bucket: 'readings',
      batchReadings: 25,
      flushIntervalMs: 100,
      retryMinMs: 50,
      retryMaxMs: 400,
      requestTimeoutMs: 2_000,
    },
  };
}

async function service(vm: VictoriaMetrics, dataDir?: string): Promise<TestService> {
  const svc = await startTestService({
    ...(dataDir ? { dataDir } : { registry: testRegistry(2) }),
    clock: new ManualClock(BASE + 2 * 24 * HOUR),
    config: archiveConfig(vm),
  });
  services.push(svc);
  return svc;
}

/** What each meter published: reading time → register. */
type Published = Map<string, Map<number, number>>;

/** Each meter publishes `n` readings (one minute apart, continuing where it left off), in batches of 10. */
async function publish(svc: TestService, published: Published, n: number): Promise<void> {
  await Promise.all(
    METERS.map(async (meterId) => {
      const client = await connectClient(svc.mqttUrl, meterId, `secret-${meterId}`);
      clients.push(client);
      const mine = published.get(meterId) ?? new Map<number, number>();
      published.set(meterId, mine);
      for (let sent = 0; sent < n; sent += 10) {
        const readings = Array.from({ length: Math.min(10, n - sent) }, () => {
          const i = mine.size;
          const reading = { ts: BASE + i * 60_000, totalLiters: 1000 + i * 1.5 };
          mine.set(reading.ts, reading.totalLiters);
          return reading;
        });
        await client.publishAsync(`meters/${meterId}/readings`, JSON.stringify({ readings }), { qos: 1 });
      }
      await client.endAsync();
      clients.splice(clients.indexOf(client), 1);
    }),
  );
}

/** Samples per meter as [time, liters] pairs, sorted by time; also the tags of each meter's series. */
async function stored(vm: VictoriaMetrics) {
  const series = await vm.exportSeries(SERIES);
  const samples = new Map<string, [number, number][]>();
  const tags = new Map<string, Record<string, string>>();
  for (const s of series) {
    const meter = s.metric.meter!;
    tags.set(meter, s.metric);
    const pairs = samples.get(meter) ?? [];
    s.timestamps.forEach((t, i) => pairs.push([t, s.values[i]!]));
    samples.set(
      meter,
      pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]),
    );
  }
  return { samples, tags, count: [...samples.values()].reduce((n, p) => n + p.length, 0) };
}

function expectedSamples(published: Published, copies = 1): Map<string, [number, number][]> {
  return new Map(
    [...published].map(([meter, readings]) => [
      meter,
      [...readings]
        .sort((a, b) => a[0] - b[0])
        .flatMap((pair) => Array.from({ length: copies }, () => [...pair] as [number, number])),
    ]),
  );
}

async function archivedAll(svc: TestService, vm: VictoriaMetrics, expected: number): Promise<void> {
  await eventually(() => svc.cf.archive!.stats().spoolReadings === 0, VISIBLE_MS, 'the spool to drain');
  let count: number;
  const until = Date.now() + VISIBLE_MS;
  while ((count = (await stored(vm)).count) < expected && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(count, 'samples visible in VictoriaMetrics').toBe(expected);
}

async function metrics(svc: TestService): Promise<string> {
  const res = await svc.cf.http.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(res.statusCode).toBe(200);
  return res.body;
}

describe.skipIf(SKIP_VICTORIA_METRICS)('the InfluxDB archive', () => {
  it('writes every accepted reading once, with meter, household and grid tags at the reading time', async () => {
    const vm = await vmServer();
    const svc = await service(vm);
    const published: Published = new Map();

    await publish(svc, published, 40);
    const bad = await connectClient(svc.mqttUrl, 'm-g1-1', 'secret-m-g1-1');
    clients.push(bad);
    await bad.publishAsync('meters/m-g1-1/readings', '{"ts": "yesterday", "totalLiters": 5}', { qos: 1 });
    await archivedAll(svc, vm, 3 * 40);

    const { samples, tags } = await stored(vm);
    expect(samples).toEqual(expectedSamples(published));
    expect(tags.get('m-g1-2')).toEqual({
      __name__: 'water_reading_total_liters',
      meter: 'm-g1-2',
      household: 'h-g1-2',
      grid: 'g1',
    });
    expect(tags.get('m-g2-1')).toMatchObject({ household: 'h-g2-1', grid: 'g2' });
    const stats = svc.cf.archive!.stats();
    expect(stats).toMatchObject({ up: true, spoolReadings: 0, lagSeconds: 0, writtenReadings: 120 });
    expect(stats.writes).toBeGreaterThanOrEqual(120 / 25);
    expect(svc.cf.store.archive.cursor()).toBe(svc.cf.store.inbox.maxSeq());
  });

  it('keeps readings in the spool through an outage and drains them when the database returns, each once', async () => {
    const vm = await vmServer();
    const svc = await service(vm);
    const published: Published = new Map();
    await publish(svc, published, 20);
    await archivedAll(svc, vm, 60);

    await vm.stop();
    await publish(svc, published, 30); // acknowledged while the database is down
    await eventually(() => svc.cf.archive!.stats().writeFailures >= 2, VISIBLE_MS, 'failed writes');
    svc.clock.advance(300_000);
    const down = svc.cf.archive!.stats();
    expect(down).toMatchObject({ up: false, spoolReadings: 90 });
    expect(down.lagSeconds).toBeGreaterThanOrEqual(300);
    expect(down.lastError).toMatch(/ECONNREFUSED|connect|fetch failed/i);
    const text = await metrics(svc);
    expect(text).toContain('careflow_archive_up 0\n');
    expect(text).toContain('careflow_archive_spool_readings 90\n');
    const health = await svc.cf.http.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200); // an archive outage does not make careflow unhealthy
    expect(health.json()).toMatchObject({ checks: { archive: { up: false, spoolReadings: 90 } } });

    await vm.start();
    await publish(svc, published, 20);
    await archivedAll(svc, vm, 3 * 70);

    expect((await stored(vm)).samples).toEqual(expectedSamples(published));
    expect(svc.cf.archive!.stats()).toMatchObject({ up: true, spoolReadings: 0, lagSeconds: 0 });
    expect(await metrics(svc)).toContain('careflow_archive_up 1\n');
  });

  it('keeps the spool across a careflow restart while the database is down', async () => {
    const vm = await vmServer();
    await vm.stop();
    const dataDir = tempDataDir();
    const first = await startTestService({
      dataDir,
      registry: testRegistry(2),
      clock: new ManualClock(BASE + 2 * 24 * HOUR),
      config: archiveConfig(vm),
    });
    services.push(first);
    const published: Published = new Map();
    await publish(first, published, 30);
    await eventually(() => first.cf.archive!.stats().writeFailures >= 1, VISIBLE_MS, 'a failed write');
    await first.stop();

    await vm.start();
    const second = await service(vm, dataDir);
    await archivedAll(second, vm, 90);
    expect((await stored(vm)).samples).toEqual(expectedSamples(published));
    await second.stop();

    // The cursor is durable: a start after a drained spool has nothing to write again.
    const third = await service(vm, dataDir);
    expect(third.cf.archive!.stats()).toMatchObject({ spoolReadings: 0, cursor: 90 });
  });

  it('holds a partial batch for the flush interval, sends a full one at once, and flushes on stop', async () => {
    const vm = await vmServer();
    const svc = await startTestService({
      registry: testRegistry(2),
      clock: new ManualClock(BASE + 2 * 24 * HOUR),
      config: { archive: { ...archiveConfig(vm).archive, flushIntervalMs: 60_000 } },
    });
    services.push(svc);
    const archive = svc.cf.archive!;
    const published: Published = new Map();

    await publish(svc, published, 5); // 15 readings: less than a batch of 25, so they wait
    await new Promise((r) => setTimeout(r, 500));
    expect(archive.stats()).toMatchObject({ writtenReadings: 0, spoolReadings: 15 });

    await publish(svc, published, 5); // 30: a full batch goes now, and the rest of the backlog after it
    await eventually(() => archive.stats().writtenReadings === 30, VISIBLE_MS, 'the full batch');

    await publish(svc, published, 2); // held again, until the orderly stop flushes them
    expect(archive.stats().spoolReadings).toBe(6);
    await svc.stop();
    expect((await stored(vm)).samples).toEqual(expectedSamples(published));
  });

  it.each([
    { dedup: false, copies: 2, what: 'twice without deduplication' },
    { dedup: true, copies: 1, what: 'once with -dedup.minScrapeInterval=1ms' },
  ])('a batch written again after its cursor update was lost is stored $what', async ({ dedup, copies }) => {
    const vm = await vmServer(dedup);
    const first = await service(vm);
    const published: Published = new Map();
    await publish(first, published, 20);
    await archivedAll(first, vm, 60);
    await first.stop();

    // The crash this stands for: the database took the batches, the process died before the cursor moved.
    const store = openStore({ path: `${first.dataDir}/careflow.db` });
    store.archive.setCursor(0);
    store.close();

    const second = await service(vm, first.dataDir);
    await eventually(() => second.cf.archive!.stats().writtenReadings === 60, VISIBLE_MS, 'the re-write');
    await archivedAll(second, vm, 60 * copies);
    expect((await stored(vm)).samples).toEqual(expectedSamples(published, copies));
  });
});
