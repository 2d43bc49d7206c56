import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEASUREMENT, toPoint } from '../archive/influx-writer.ts';
import { connectClient, seedRegistry, tempDataDir, testRegistry } from './harness.ts';
import { spawnService, type ServiceProcess } from './service-process.ts';
import { SKIP_VICTORIA_METRICS, startVictoriaMetrics, type VictoriaMetrics } from './victoria-metrics.ts';

/**
 * The Grafana dashboards of dashboards/grafana/ against the real thing. Prometheus panels: a real
 * VictoriaMetrics (Debian package) scrapes a real careflow process under load every second, and every panel
 * query must return data. Flux panels: no Flux server can run here (InfluxDB 2 is not packaged for Debian),
 * so their measurement, tags and fields are checked against the points the archive writes.
 */
const dashboard = (name: string) =>
  JSON.parse(readFileSync(new URL(`../dashboards/grafana/${name}`, import.meta.url), 'utf8')) as {
    panels: { title: string; targets: { expr?: string; query?: string }[] }[];
    templating: { list: { name: string; query?: string }[] };
  };

const ADMIN = 'process-admin-token-0123456789';
const HOUR = 3_600_000;

describe.skipIf(SKIP_VICTORIA_METRICS)('operations dashboard (Prometheus queries)', () => {
  const dir = tempDataDir();
  let service: ServiceProcess;
  let vm: VictoriaMetrics;
  const clients: MqttClient[] = [];
  let loading = true;
  let load: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    await seedRegistry(dir, testRegistry(4));
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ ingest: { maxReadingsPerMeterPerMinute: 100_000 } }),
    );
    service = await spawnService(dir, { CAREFLOW_CONFIG: join(dir, 'config.json') });
    writeFileSync(
      join(dir, 'scrape.yml'),
      `scrape_configs:\n  - job_name: careflow\n    scrape_interval: 1s\n    static_configs: [{ targets: ['127.0.0.1:${service.httpPort}'] }]\n` +
        `    authorization: { credentials: '${ADMIN}' }\n`,
    );
    vm = await startVictoriaMetrics({ args: [`-promscrape.config=${join(dir, 'scrape.yml')}`] });

    // The first scrapes see every series at its start value.
    await new Promise((r) => setTimeout(r, 3_000));
    const url = `mqtt://127.0.0.1:${service.mqttPort}`;
    const now = Date.now();
    // A leak: 400 L an hour for five hours (heavy-use and continuous-flow open, their messages go out).
    const leak = await connectClient(url, 'm-g1-1', 'secret-m-g1-1');
    clients.push(leak);
    const readings = Array.from({ length: 21 }, (_, i) => ({
      ts: now - 6 * HOUR + i * 900_000,
      totalLiters: 100 * i,
    }));
    await leak.publishAsync('meters/m-g1-1/readings', JSON.stringify({ readings }), { qos: 1 });
    // Bad input and a wrong secret.
    await leak.publishAsync('meters/m-g1-1/readings', '{"ts": 1}', { qos: 1 });
    await connectClient(url, 'm-g1-2', 'wrong-secret').then(
      (c) => c.endAsync(true),
      () => undefined,
    );
    // Steady load from the other meters for as long as the queries run.
    const steady = await Promise.all(
      ['m-g1-2', 'm-g1-3', 'm-g2-1', 'm-g2-2'].map((id) => connectClient(url, id, `secret-${id}`)),
    );
    clients.push(...steady);
    load = (async () => {
      for (let i = 0; loading && i < 2_000; i++) {
        await Promise.all(
          steady.map((c, m) =>
            c.publishAsync(
              `meters/${['m-g1-2', 'm-g1-3', 'm-g2-1', 'm-g2-2'][m]}/readings`,
              JSON.stringify({ ts: now - 2 * HOUR + i * 1000, totalLiters: i * 0.5 }),
              { qos: 1 },
            ),
          ),
        );
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Enough scrapes for rate() over a minute window.
    await new Promise((r) => setTimeout(r, 10_000));
  }, 120_000);

  afterAll(async () => {
    loading = false;
    await load.catch(() => undefined);
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await vm?.dispose();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every Prometheus panel query returns data', async () => {
    const ops = dashboard('operations.json');
    const queries = ops.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr! })));
    expect(queries.length).toBeGreaterThanOrEqual(14);
    const empty: string[] = [];
    for (const q of queries) {
      const res = await fetch(`${vm.url}/api/v1/query?${new URLSearchParams({ query: q.expr })}`);
      expect(res.status, `${q.panel}: ${q.expr}`).toBe(200);
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      const values = body.data.result.map((r) => Number(r.value[1])).filter((v) => Number.isFinite(v));
      if (values.length === 0) empty.push(`${q.panel}: ${q.expr}`);
    }
    expect(empty, 'panels without data').toEqual([]);
  });
});

describe('water dashboard (Flux queries)', () => {
  const water = dashboard('water.json');
  const flux = [
    ...water.panels.flatMap((p) => p.targets.map((t) => t.query!)),
    ...water.templating.list.filter((v) => v.name !== 'bucket').map((v) => v.query!),
  ];
  // What the archive writes, from its own point builder.
  const line = toPoint({
    seq: 1,
    meterId: 'm1',
    householdId: 'h1',
    grid: 'g1',
    ts: 1_772_409_600_000,
    totalLiters: 1.5,
    receivedAt: 0,
  }).toLineProtocol()!;
  const [head, fieldSet] = line.split(' ');
  const [measurement, ...tagPairs] = head!.split(',');
  const tags = tagPairs.map((t) => t.split('=')[0]!);
  const fields = fieldSet!.split(',').map((f) => f.split('=')[0]!);

  it('reads the measurement the archive writes', () => {
    expect(measurement).toBe(MEASUREMENT);
    for (const q of flux) {
      const named = [...q.matchAll(/r\._measurement == "([^"]+)"/g)].map((m) => m[1]);
      expect(named.length, q).toBeGreaterThan(0);
      expect(new Set(named), q).toEqual(new Set([measurement]));
    }
  });

  it('filters and groups only by tags the archive writes, and reads only its fields', () => {
    expect(tags.sort()).toEqual(['grid', 'household', 'meter']);
    expect(fields).toEqual(['total_liters']);
    for (const q of flux) {
      for (const m of q.matchAll(/r\._field == "([^"]+)"/g)) expect(fields, q).toContain(m[1]);
      for (const m of q.matchAll(/r\.([a-z][a-z_]*) ==/g)) expect(tags, q).toContain(m[1]);
      for (const m of q.matchAll(/tag: "([^"]+)"/g)) expect(tags, q).toContain(m[1]);
      for (const m of q.matchAll(/columns: \[([^\]]*)\]/g)) {
        for (const c of m[1]!.split(',').map((s) => s.trim().replace(/"/g, '')))
          expect([...tags, '_time', '_value'], q).toContain(c);
      }
    }
  });
});
