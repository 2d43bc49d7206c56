import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { normalizeRecording } from '../testbench/replay-mirror.ts';
import { autoRegistry, type ReplayCredentials } from '../testbench/replay-registry.ts';
import { RemoteTarget } from '../testbench/replay-target.ts';
import { runReplay, type ReplayOptions } from '../testbench/replay.ts';
import { LocalTime } from '../core/local-time.ts';
import { openStore } from '../core/store/store.ts';
import { readRecordedFile } from '../simulators/recorded-file.ts';
import { RecordedReadings } from '../simulators/recorded-readings.ts';
import type { ScheduledReading } from '../simulators/recorded-meter.ts';
import { seedRegistry } from './harness.ts';
import { spawnService, type ServiceProcess } from './service-process.ts';

/**
 * Kill -9 during a replay into a running service: the replay waits for the service to come back, moves its
 * clock back to where it was, sends again what was not acknowledged, and completes. No acknowledged reading is
 * lost and no usage is counted twice: the buckets equal those of a run without the kill.
 */
const EXTRACT = fileURLToPath(new URL('./fixtures/daiad/swm_trialA_extract.zip', import.meta.url));
const TOKEN = 'process-admin-token-0123456789';
const H = 3_600_000;

/** The first ten days of the extract (every timer of the service runs in simulated time: keep the test short). */
const recording = firstDays(readRecordedFile(EXTRACT, { format: 'daiad' }), 10);
const START = Math.floor(Math.min(...[...recording.meters.values()].map((l) => l[0]!.ts)) / H) * H;
const credentials: ReplayCredentials = autoRegistry([...recording.meters.keys()]);
const readings = recording.readingCount();

const dirs: string[] = [];
const procs: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill().catch(() => {})));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function freshDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'careflow-replay-kill-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'registry.json'), JSON.stringify(credentials.registry));
  await seedRegistry(dir, credentials.registry!);
  return dir;
}

async function start(dir: string, ports: { mqtt: number; http: number }): Promise<ServiceProcess> {
  const p = await spawnService(dir, {
    CAREFLOW_CLOCK: 'manual',
    CAREFLOW_CLOCK_START: new Date(START).toISOString(),
    CAREFLOW_TIMEZONE: 'Europe/Madrid',
    CAREFLOW_TICK_INTERVAL_MS: String(60 * 60_000),
    CAREFLOW_MQTT_PORT: String(ports.mqtt),
    CAREFLOW_HTTP_PORT: String(ports.http),
  });
  procs.push(p);
  return p;
}

function options(ports: { mqtt: number; http: number }, extra: Partial<ReplayOptions> = {}): ReplayOptions {
  return {
    file: EXTRACT,
    recording,
    timeZone: 'Europe/Madrid',
    target: new RemoteTarget(`mqtt://127.0.0.1:${ports.mqtt}`, `http://127.0.0.1:${ports.http}`, TOKEN),
    credentials,
    speed: 'max',
    stepMs: H,
    maxInflight: 200,
    waitMs: 30_000,
    normalizer: {
      localTime: new LocalTime('Europe/Madrid', 60),
      maxGapMs: 6 * H,
      maxFlowLitersPerHour: 3000,
      resetNearZeroLiters: 100,
      rolloverLiters: null,
    },
    ...extra,
  };
}

function snapshot(dir: string) {
  const store = openStore({ path: join(dir, 'careflow.db') });
  try {
    const buckets = [...recording.meters.keys()].flatMap((id) =>
      store.usage.range(id, 0, Number.MAX_SAFE_INTEGER),
    );
    const inbox = store.inbox.after(0, 10_000_000);
    return { buckets, inbox, keys: new Set(inbox.map((r) => `${r.meterId}@${r.ts}`)) };
  } finally {
    store.close();
  }
}

const key = (r: ScheduledReading) => `${r.meterId}@${r.ts}`;

function firstDays(rec: RecordedReadings, days: number): RecordedReadings {
  const first = Math.min(...[...rec.meters.values()].map((l) => l[0]!.ts));
  const out = new RecordedReadings(rec.format);
  for (const [id, list] of rec.meters) {
    for (const r of list) if (r.ts < first + days * 86_400_000) out.add(id, r);
  }
  out.rows = out.readingCount();
  return out;
}

describe('kill -9 during a replay into a running service', () => {
  it('loses no acknowledged reading and counts no usage twice', async () => {
    const ports = { mqtt: await freePort(), http: await freePort() };

    // The uninterrupted run: the same normalizer over the same readings (test/replay-embedded.test.ts shows that a
    // replay through the service stores exactly these buckets).
    const mirror = normalizeRecording(recording, options(ports).normalizer, { keepBuckets: true });
    const expected = [...mirror].flatMap(([id, a]) =>
      a.buckets.map((b) => ({ householdId: id, start: b.start, end: b.end, liters: b.liters })),
    );

    const interrupted = await freshDir();
    let service = await start(interrupted, ports);
    const acked = new Set<string>();
    let restarted: Promise<void> | undefined;
    let ackedAtKill: string[] = [];
    let inboxAfterKill = new Set<string>();
    const report = await runReplay(
      options(ports, {
        onAcknowledged: (r) => acked.add(key(r)),
        onProgress: (p) => {
          if (restarted || p.acknowledged < readings * 0.4) return;
          restarted = (async () => {
            await service.kill(); // SIGKILL mid-stream: no checkpoint, no shutdown code
            ackedAtKill = [...acked];
            inboxAfterKill = snapshot(interrupted).keys;
            service = await start(interrupted, ports);
          })();
        },
      }),
    );
    await restarted;
    console.log('killed', report.replay);
    expect(await service.stop()).toBe(0);

    expect(ackedAtKill.length).toBeGreaterThan(readings * 0.4);
    expect(ackedAtKill.filter((k) => !inboxAfterKill.has(k))).toEqual([]);
    expect(report.replay.reconnects).toBeGreaterThanOrEqual(1);
    expect(report.replay.acknowledged).toBe(readings);

    const actual = snapshot(interrupted);
    const all = [...recording.meters].flatMap(([id, list]) => list.map((r) => `${id}@${r.ts}`));
    expect(all.filter((k) => !actual.keys.has(k))).toEqual([]);
    // A reading stored whose PUBACK was lost is sent again and stored again: the normalizer ignores it.
    expect(actual.inbox.length - readings).toBeLessThanOrEqual(report.replay.resent);
    expect(actual.buckets).toEqual(expected);
  });
});
