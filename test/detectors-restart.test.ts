import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { runLockstep } from '../testbench/lockstep.ts';
import { ManualClock } from '../core/clock.ts';
import type { ConfigInput } from '../core/config.ts';
import { HouseholdModel } from '../simulators/household-model.ts';
import { startFleet, type Fleet } from '../simulators/meter-fleet.ts';
import { Random } from '../simulators/random.ts';
import { Scenario } from '../simulators/scenarios.ts';
import { SimulatedMeter } from '../simulators/simulated-meter.ts';
import { Meters } from './detectors-fixture.ts';
import { HOUR, startTestService, T0, tempDataDir, type TestService } from './harness.ts';
import { registryFor, type SimHousehold } from './simulated-community.ts';

/**
 * Restart safety with the learned state: the service is stopped abruptly (no final checkpoint) at random
 * points of a simulated week and a half, with checkpoints at other random points, and ends with exactly the
 * alerts of an uninterrupted run — learned peak windows and baselines included, nothing missed, nothing
 * repeated. And silence timers resume with the time already elapsed.
 */
const DAY = 24 * HOUR;
const DAYS = 9;
const STEP = 3 * HOUR;
/** Learned peaks after 2 complete days; low-use relative to the baseline (known after 7). */
const CONFIG: ConfigInput = {
  detectors: {
    tickIntervalMs: HOUR,
    checkpointIntervalMs: 600_000,
    rules: {
      'no-water-at-peak': { params: { minDays: 2 } },
      'low-use': { params: { relativeToBaseline: 0.2 } },
    },
  },
};
const HOUSEHOLDS: SimHousehold[] = [
  {
    id: 'leak',
    grid: 'g1',
    profile: 'elderly-alone',
    seed: 31,
    scenarios: [{ type: 'leak', start: T0 + DAY + 5 * HOUR, litersPerHour: 4 }],
  },
  {
    id: 'fallen',
    grid: 'g1',
    profile: 'elderly-alone',
    seed: 32,
    scenarios: [{ type: 'low-use', start: T0 + 7 * DAY + 13 * HOUR, durationHours: 40 }],
  },
  {
    id: 'late',
    grid: 'g2',
    profile: 'couple',
    seed: 33,
    scenarios: [{ type: 'no-morning-water', day: '2026-01-09' }],
  },
  {
    id: 'silent',
    grid: 'g2',
    profile: 'couple',
    seed: 34,
    scenarios: [{ type: 'silent', start: T0 + 3 * DAY + 2 * HOUR, durationMinutes: 600 }],
  },
  {
    id: 'tap',
    grid: 'g1',
    profile: 'family',
    seed: 35,
    scenarios: [
      { type: 'heavy-use', start: T0 + 5 * DAY + 18 * HOUR, durationMinutes: 200, litersPerHour: 400 },
    ],
  },
  { id: 'ordinary', grid: 'g2', profile: 'elderly-alone', seed: 36 },
];

const dirs: string[] = [];
const running: { svc?: TestService; fleet?: Fleet } = {};
afterEach(async () => {
  await running.fleet?.stop({ force: true });
  await running.svc?.stop();
  running.svc = running.fleet = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** One meter per household, each remembering where it is, so a new fleet after a restart carries on. */
function meters() {
  return HOUSEHOLDS.map((h) => ({
    meterId: `m-${h.id}`,
    secret: `secret-m-${h.id}`,
    meter: new SimulatedMeter({
      source: new HouseholdModel({
        profile: h.profile,
        seed: h.seed,
        scenarios: (h.scenarios ?? []).map((s) => Scenario.parse(s)),
      }),
      seed: h.seed,
      startAt: T0,
      reportEveryMinutes: 60,
    }),
  }));
}

async function start(dataDir: string, clock: ManualClock, registry = false): Promise<TestService> {
  const svc = await startTestService({
    dataDir,
    clock,
    config: CONFIG,
    ...(registry ? { registry: registryFor(HOUSEHOLDS) } : {}),
  });
  running.svc = svc;
  return svc;
}

/** Stops without the final checkpoint: what was processed since the last checkpoint is only in the inbox. */
async function crash(svc: TestService): Promise<void> {
  svc.cf.store.close();
  await svc.stop();
}

function snapshot(svc: TestService) {
  const store = svc.cf.store;
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
  const timelines = alerts.map((a) =>
    store.alerts
      .timeline(a.id)
      .filter((e) => e.kind !== 'queued' && e.kind !== 'delivered' && e.kind !== 'no-recipient')
      .map((e) => e.kind),
  );
  const detections = store.db.prepare('SELECT key FROM detections ORDER BY key').pluck().all();
  return { alerts, timelines, detections };
}

describe('abrupt restarts at random points', () => {
  it('end with the same alerts as an uninterrupted run, learned peaks and baselines included', async () => {
    const end = T0 + DAYS * DAY;
    const referenceDir = tempDataDir();
    dirs.push(referenceDir);
    const reference = await start(referenceDir, new ManualClock(T0), true);
    running.fleet = await startFleet({ url: reference.mqttUrl, meters: meters() });
    await runLockstep({ clock: reference.clock, fleet: running.fleet, from: T0, to: end, stepMs: STEP });
    await running.fleet.stop();
    const expected = snapshot(reference);
    await reference.stop();

    // The restored state must matter: a learned window and a baseline-relative limit fire in this run.
    const thresholds = expected.alerts.map((a) => a.evidence.thresholds);
    expect(thresholds.some((t) => t.peak === 'learned')).toBe(true);
    // The baseline-relative low-use fires too, within the dry morning's welfare episode: its detection joins
    // that alert (its opening time depends on the restored baseline, and the detections must match below).
    expect(expected.detections.some((k) => String(k).includes('|low-use|opened|'))).toBe(true);
    expect(new Set(expected.alerts.map((a) => a.ruleId))).toEqual(
      new Set(['continuous-flow', 'heavy-use', 'no-water-at-peak', 'meter-silent']),
    );

    const rng = new Random(2026);
    const steps = (end - T0) / STEP;
    const crashes = new Set(Array.from({ length: 5 }, () => T0 + rng.int(2, steps - 1) * STEP));
    const dir = tempDataDir();
    dirs.push(dir);
    const clock = new ManualClock(T0);
    let svc = await start(dir, clock, true);
    const fleetMeters = meters();
    let from = T0;
    let restarts = 0;
    while (from < end) {
      const stopAt = [...crashes].filter((t) => t > from).sort((a, b) => a - b)[0] ?? end;
      running.fleet = await startFleet({ url: svc.mqttUrl, meters: fleetMeters });
      await runLockstep({
        clock,
        fleet: running.fleet,
        from,
        to: stopAt,
        stepMs: STEP,
        afterStep: () => {
          if (rng.chance(0.15)) svc.cf.checkpoint();
        },
      });
      await running.fleet.stop();
      running.fleet = undefined;
      from = stopAt;
      if (stopAt === end) break;
      await crash(svc);
      restarts++;
      svc = await start(dir, clock);
    }
    expect(restarts).toBe(crashes.size);
    const actual = snapshot(svc);
    expect(actual.detections).toEqual(expected.detections);
    expect(actual.alerts).toEqual(expected.alerts);
    expect(actual.timelines).toEqual(expected.timelines);
  });
});

describe('silence across a restart', () => {
  it('fires meter-silent at the last reading + 6 h although the service was down then, and only once', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const clock = new ManualClock(T0);
    let svc = await start(dir, clock, true);
    let meters = await Meters.connect(svc.mqttUrl, ['silent']);
    await meters.report('silent', T0);
    svc.cf.checkpoint();
    await meters.close();
    await crash(svc);

    // Down from T0 to T0 + 10 h: the 6-hour deadline passes while nothing runs.
    clock.advanceTo(T0 + 10 * HOUR);
    svc = await start(dir, clock);
    expect(svc.cf.store.alerts.list({})).toEqual([]);
    clock.advance(HOUR); // the first tick after the restart
    const [alert] = svc.cf.store.alerts.list({});
    expect(alert).toMatchObject({
      ruleId: 'meter-silent',
      openedAt: T0 + 6 * HOUR,
      evidence: { lastReadingAt: T0 },
    });

    // Crash again before the next checkpoint: the restored state does not know it fired, the tick fires it
    // again with the same key, and the notifier recognises it.
    await crash(svc);
    svc = await start(dir, clock);
    clock.advance(2 * HOUR);
    expect(svc.cf.store.alerts.list({}).map((a) => a.id)).toEqual([alert!.id]);
    expect(svc.cf.store.alerts.timeline(alert!.id).filter((e) => e.kind === 'opened')).toHaveLength(1);

    // An orderly restart keeps it as firing; the meter speaking again starts the clear-hold: the ticket
    // closes once the meter has kept reporting for 3 days, across another restart.
    await svc.stop();
    svc = await start(dir, clock);
    meters = await Meters.connect(svc.mqttUrl, ['silent']);
    await meters.report('silent', clock.now(), 5);
    const resumed = clock.now();
    clock.advance(HOUR);
    expect(svc.cf.store.alerts.get(alert!.id)).toMatchObject({ state: 'open' });
    svc.cf.checkpoint();
    await meters.close();
    await svc.stop();
    svc = await start(dir, clock);
    meters = await Meters.connect(svc.mqttUrl, ['silent']);
    for (let k = 1; clock.now() < resumed + 3 * 24 * HOUR + HOUR; k++) {
      await meters.report('silent', clock.now(), 5 + k);
      clock.advance(4 * HOUR);
    }
    await meters.close();
    expect(svc.cf.store.alerts.get(alert!.id)).toMatchObject({ state: 'resolved', resolvedBy: 'careflow' });
    const kinds = svc.cf.store.alerts.timeline(alert!.id).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'opened')).toHaveLength(1);
    expect(kinds).toContain('auto-resolved');
  });
});
