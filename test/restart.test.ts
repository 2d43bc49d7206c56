import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { openStore } from '../core/store/store.ts';
import { HouseholdModel } from '../simulators/household-model.ts';
import { Scenario } from '../simulators/scenarios.ts';
import { SimulatedMeter, type SimulatedReading } from '../simulators/simulated-meter.ts';
import { connectClient, seedRegistry, tempDataDir } from './harness.ts';
import { spawnService, type ServiceProcess } from './service-process.ts';
import { registryFor, type SimHousehold } from './simulated-community.ts';

/**
 * An acknowledged QoS 1 reading survives an abrupt kill of the service process, and the detectors' results
 * after the restart equal those of a run without it.
 */
const HOUR = 3_600_000;
const END = Math.floor(Date.now() / HOUR) * HOUR - HOUR; // readings of the last three days, on the system clock
const START = END - 72 * HOUR;

const HOUSEHOLDS: SimHousehold[] = [
  {
    id: 'leak',
    grid: 'g1',
    profile: 'elderly-alone',
    seed: 21,
    scenarios: [{ type: 'leak', start: START + HOUR, litersPerHour: 5 }],
  },
  {
    id: 'fallen',
    grid: 'g1',
    profile: 'elderly-alone',
    seed: 22,
    scenarios: [{ type: 'low-use', start: START + 30 * HOUR, durationHours: 30 }],
  },
  {
    id: 'tap',
    grid: 'g2',
    profile: 'couple',
    seed: 23,
    scenarios: [{ type: 'heavy-use', start: START + 40 * HOUR, durationMinutes: 200, litersPerHour: 300 }],
  },
  { id: 'ordinary', grid: 'g2', profile: 'elderly-alone', seed: 24 },
];

/** Every meter's readings, in event-time order, as [meterId, reading]. */
function allReadings(): [string, SimulatedReading][] {
  const lt = new LocalTime('Asia/Shanghai', 60);
  const out: [string, SimulatedReading][] = [];
  for (const h of HOUSEHOLDS) {
    const meter = new SimulatedMeter({
      source: new HouseholdModel({
        profile: h.profile,
        seed: h.seed,
        localTime: lt,
        scenarios: (h.scenarios ?? []).map((s) => Scenario.parse(s)),
      }),
      seed: h.seed,
      startAt: START,
      reportEveryMinutes: 60,
    });
    for (const r of meter.readingsUntil(END)) out.push([`m-${h.id}`, r]);
  }
  return out.sort((a, b) => a[1].ts - b[1].ts || a[0].localeCompare(b[0]));
}

async function publish(port: number, readings: [string, SimulatedReading][]): Promise<void> {
  const url = `mqtt://127.0.0.1:${port}`;
  const clients = new Map<string, Awaited<ReturnType<typeof connectClient>>>();
  for (const h of HOUSEHOLDS)
    clients.set(`m-${h.id}`, await connectClient(url, `m-${h.id}`, `secret-m-${h.id}`));
  for (const [meterId, r] of readings) {
    await clients.get(meterId)!.publishAsync(`meters/${meterId}/readings`, JSON.stringify(r), { qos: 1 });
  }
  await Promise.all([...clients.values()].map((c) => c.endAsync(true)));
}

function snapshot(dataDir: string) {
  const store = openStore({ path: join(dataDir, 'careflow.db') });
  try {
    const alerts = store.alerts
      .list({ limit: 1000 })
      .map((a) => ({
        id: a.id,
        householdId: a.householdId,
        ruleId: a.ruleId,
        openedAt: a.openedAt,
        state: a.state,
        evidence: a.evidence,
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
    const buckets = HOUSEHOLDS.flatMap((h) => store.usage.range(h.id, 0, Number.MAX_SAFE_INTEGER));
    const inbox = store.inbox.after(0, 1_000_000).length;
    const timelines = alerts.map((a) =>
      store.alerts
        .timeline(a.id)
        .filter((e) => e.kind !== 'delivered' && e.kind !== 'queued')
        .map((e) => e.kind),
    );
    return { alerts, buckets, inbox, timelines };
  } finally {
    store.close();
  }
}

const dirs: string[] = [];
const procs: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill().catch(() => {})));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = tempDataDir();
  dirs.push(dir);
  await seedRegistry(dir, registryFor(HOUSEHOLDS));
  return dir;
}

describe('restart safety', () => {
  it('keeps every acknowledged reading through a kill -9 and ends with the same alerts as an uninterrupted run', async () => {
    const readings = allReadings();
    const half = Math.floor(readings.length / 2);

    const reference = await freshDir();
    const a = await spawnService(reference);
    procs.push(a);
    await publish(a.mqttPort, readings);
    expect(await a.stop()).toBe(0);
    const expected = snapshot(reference);

    const interrupted = await freshDir();
    const b1 = await spawnService(interrupted);
    procs.push(b1);
    await publish(b1.mqttPort, readings.slice(0, half));
    await b1.kill(); // right after the last PUBACK: no checkpoint, no shutdown code
    expect(snapshot(interrupted).inbox).toBe(half);

    const b2 = await spawnService(interrupted);
    procs.push(b2);
    await publish(b2.mqttPort, readings.slice(half));
    expect(await b2.stop()).toBe(0);
    const actual = snapshot(interrupted);

    expect(expected.inbox).toBe(readings.length);
    expect(actual.inbox).toBe(readings.length);
    // Every scenario raised its alert in the reference run. The fall shows as a dry morning or as a dry day,
    // whichever the detectors see first: that depends on the hour and the date the three days fall on (the
    // test runs on the system clock), and the other joins the same welfare episode: one alert.
    const rulesOf = (id: string) => [
      ...new Set(expected.alerts.filter((a) => a.householdId === id).map((a) => a.ruleId)),
    ];
    expect(rulesOf('leak')).toEqual(['continuous-flow']);
    expect(rulesOf('tap')).toEqual(['heavy-use']);
    expect(rulesOf('fallen')).toHaveLength(1);
    expect(['no-water-at-peak', 'low-use']).toContain(rulesOf('fallen')[0]);
    expect(rulesOf('ordinary')).toEqual([]);
    expect(actual.alerts).toEqual(expected.alerts);
    expect(actual.timelines).toEqual(expected.timelines);
    expect(actual.buckets).toEqual(expected.buckets);
    // Three service starts and two replays of 14 days: about 25 s alone, past a minute on a loaded CI machine.
  }, 180_000);
});
