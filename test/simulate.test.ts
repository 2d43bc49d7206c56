import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import { runSimulation } from '../testbench/simulate.ts';
import type { AlertsFile, GroundTruthFile } from '../testbench/simulate-results.ts';
import { startCareflow } from '../app/start-careflow.ts';
import { ManualClock } from '../core/clock.ts';
import { loadConfig } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';
import { generatePopulation, populationRegistry } from '../simulators/population.ts';
import { parseScenarioMix, type ScenarioMixInput } from '../simulators/scenario-mix.ts';
import { ADMIN_TOKEN, seedRegistry } from './harness.ts';

/**
 * `careflow simulate` and `careflow score` end to end: the same seed gives the same events and the same
 * alerts; a running service on a manual clock is driven through `POST /api/clock`; the CLI writes the run
 * and its report.
 */
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'careflow-simulate-test-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const small: ScenarioMixInput = {
  name: 'small',
  households: 8,
  days: 2,
  seed: 5,
  profiles: { 'elderly-alone': 2, 'working-couple': 1 },
  meters: { '15min': 1, hourly: 1, 'daily-batch': 1 },
  scenarios: [
    { type: 'leak', share: 0.25, startDay: 0, startHour: [0, 6], params: { litersPerHour: [3, 10] } },
    { type: 'fall', share: 0.25, profiles: ['elderly-alone'], startDay: 0, startHour: [10, 20] },
    { type: 'garbage', share: 0.25, startDay: 1 },
  ],
};

/** A run without what depends on the machine (how long it took). */
const comparable = (run: { truth: GroundTruthFile; alerts: AlertsFile }) => ({
  truth: { ...run.truth, run: { ...run.truth.run, durationMs: 0 } },
  alerts: run.alerts,
});

describe('the same seed gives the same run', () => {
  it('generates the same households, water events, readings and alerts twice, and another seed differs', async () => {
    const mix = parseScenarioMix(small);
    const a = await runSimulation({ mix, target: { kind: 'embedded' }, outDir: temp() });
    const b = await runSimulation({ mix, target: { kind: 'embedded' }, outDir: temp() });
    // Something to compare: an alert for each household's scenario at least (a dry morning and the dry day
    // it belongs to are one welfare alert).
    expect(a.alerts.alerts.length).toBeGreaterThanOrEqual(3);
    expect(comparable(b)).toEqual(comparable(a));
    const other = generatePopulation(mix, { seed: 6 });
    expect(other.households).not.toEqual(generatePopulation(mix).households);
  });
});

describe('against a running careflow on a manual clock', () => {
  it('drives its clock through POST /api/clock, publishes over MQTT and reads the alerts back', async () => {
    const mix = parseScenarioMix({
      ...small,
      households: 3,
      days: 2,
      scenarios: [],
      explicit: [
        {
          id: 'leaky',
          profile: 'elderly-alone',
          scenarios: [{ type: 'leak', start: { day: 0, at: '02:30' }, litersPerHour: 6 }],
        },
      ],
    });
    const dataDir = temp();
    await seedRegistry(dataDir, populationRegistry(generatePopulation(mix)));
    const config = loadConfig(
      {},
      {
        dataDir,
        adminToken: ADMIN_TOKEN,
        logLevel: 'silent',
        clock: 'manual',
        mqtt: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        store: { synchronous: 'NORMAL' },
      },
    );
    // A manual clock like CAREFLOW_CLOCK=manual's, set near the run (from its default of 2000, the first
    // POST /api/clock would fire every periodic timer of 26 years on the way).
    const clock = new ManualClock(generatePopulation(mix).start - 3_600_000);
    const cf = await startCareflow(config, { clock, logger: silentLogger });
    try {
      const target = {
        kind: 'remote' as const,
        mqttUrl: `mqtt://127.0.0.1:${cf.mqttPort}`,
        httpUrl: `http://127.0.0.1:${cf.httpPort}`,
        token: ADMIN_TOKEN,
      };
      const run = await runSimulation({ mix, target, outDir: temp(), stepMinutes: 60 });
      expect(run.truth.run.target).toBe('remote');
      expect(cf.clock.now()).toBe(run.truth.run.end);
      const leak = run.alerts.alerts.filter(
        (a) => a.householdId === 'leaky' && a.ruleId === 'continuous-flow',
      );
      expect(leak).toHaveLength(1);
      expect(leak[0]!.openedAt).toBeLessThanOrEqual(run.truth.households[0]!.expectations[0]!.observableAt!);
      // Its clock is now past the run's start: a second run must not silently replay into the past.
      await expect(runSimulation({ mix, target, outDir: temp() })).rejects.toMatchObject({
        code: 'ERR_SIMULATION_TARGET',
      });
    } finally {
      await cf.stop();
    }
  });
});

describe('the CLI', () => {
  it('careflow simulate writes the run and its report; careflow score reads it back', async () => {
    const out = temp();
    const mixFile = join(temp(), 'tiny.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(mixFile, JSON.stringify({ ...small, households: 3, days: 1, scenarios: [] }));
    expect(await main(['simulate', '--scenario-mix', mixFile, '--out', out, '--seed', '9'])).toBe(0);
    for (const f of ['ground-truth.json', 'alerts.json', 'report.md', 'report.json'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const first = readFileSync(join(out, 'report.json'), 'utf8');
    rmSync(join(out, 'report.json'));
    expect(await main(['score', out])).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))).toEqual(JSON.parse(first));
  });

  it('careflow simulate --write-registry writes the registry to import into a running service', async () => {
    const file = join(temp(), 'registry.json');
    expect(await main(['simulate', '--scenario-mix', 'every-scenario', '--write-registry', file])).toBe(0);
    const registry = JSON.parse(readFileSync(file, 'utf8')) as {
      households: { id: string }[];
      meters: unknown[];
    };
    expect(registry.households.map((h) => h.id)).toContain('fall-batch');
    expect(registry.meters).toHaveLength(registry.households.length);
  });

  it('refuses an unknown scenario mix and a bad option, naming them', async () => {
    expect(await main(['simulate', '--scenario-mix', 'no-such-mix'])).toBe(1);
    expect(await main(['simulate', '--households', '0'])).toBe(2);
    expect(await main(['simulate', '--url', 'mqtt://127.0.0.1:1'])).toBe(2);
  });
});
