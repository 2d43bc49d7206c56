import { formatNoise } from '../../notifier/alert-noise.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { calibrationTable, runCalibration } from '../../simulators/calibration.ts';
import { daiadAvailable, defaultDaiadPath } from '../../simulators/calibration-data.ts';
import { generatePopulation, populationRegistry } from '../../simulators/population.ts';
import { loadScenarioMix } from '../../simulators/scenario-mix.ts';
import { scoreRun } from '../../testbench/score.ts';
import { writeScore } from './score.ts';
import { type TargetChoice, runSimulation } from '../../testbench/simulate.ts';
import { progressBar } from '../../testbench/simulate-progress.ts';
import type { Command } from './command.ts';

const USAGE = `careflow simulate [--scenario-mix <name|file>] [--households N] [--days D] [--seed S] [--out dir]
                  [--url mqtt://… --http http://… --token T] [--write-registry file.json]
careflow simulate --calibrate [--daiad path/to/swm_trialA_extended.zip]`;

export const simulateCommand: Command = {
  name: 'simulate',
  usage: 'simulate [--scenario-mix M] [--households N] [--days D] …',
  help: USAGE,
  summary:
    'Simulated households as real MQTT meters in simulated time; writes ground truth, alerts and a score',
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        'scenario-mix': { type: 'string', default: 'standard' },
        households: { type: 'string' },
        days: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        url: { type: 'string' },
        http: { type: 'string' },
        token: { type: 'string' },
        'data-dir': { type: 'string' },
        'write-registry': { type: 'string' },
        'step-minutes': { type: 'string', default: '15' },
        'respond-after-minutes': { type: 'string', default: '120' },
        'max-connections': { type: 'string', default: '5000' },
        calibrate: { type: 'boolean', default: false },
        daiad: { type: 'string' },
      },
    });
    const int = (name: string, v: string | undefined, min: number, max: number): number | undefined => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max)
        throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
      return n;
    };
    try {
      if (values.calibrate) {
        const path = values.daiad ?? defaultDaiadPath();
        if (!daiadAvailable(path)) {
          process.stderr.write(
            `careflow simulate --calibrate: the DAIAD data is not at ${path} (give --daiad)\n`,
          );
          return 2;
        }
        const result = runCalibration({
          daiadPath: path,
          households: int('households', values.households, 10, 5000),
          seed: int('seed', values.seed, 0, 2 ** 32 - 1),
        });
        process.stdout.write(calibrationTable(result));
        process.stdout.write(
          result.ok
            ? '\nthe model is within every tolerance\n'
            : '\nthe model is OUTSIDE a tolerance (NO above)\n',
        );
        return result.ok ? 0 : 1;
      }
      const mix = loadScenarioMix(values['scenario-mix']);
      const households = int('households', values.households, 1, 1_000_000);
      const days = int('days', values.days, 1, 400);
      const seed = int('seed', values.seed, 0, 2 ** 32 - 1);
      if (values['write-registry']) {
        const pop = generatePopulation(mix, { households, days, seed });
        mkdirSync(dirname(values['write-registry']), { recursive: true });
        writeFileSync(values['write-registry'], JSON.stringify(populationRegistry(pop), null, 1) + '\n');
        process.stdout.write(
          `wrote the registry of ${pop.households.length} simulated households to ${values['write-registry']}\n`,
        );
        return 0;
      }
      const remote = [values.url, values.http, values.token];
      if (remote.some((v) => v !== undefined) && remote.some((v) => v === undefined)) {
        throw new UsageError('a running service needs all of --url, --http and --token');
      }
      const target: TargetChoice = values.url
        ? { kind: 'remote', mqttUrl: values.url, httpUrl: values.http!, token: values.token! }
        : { kind: 'embedded', ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}) };
      const n = households ?? mix.households;
      const d = days ?? mix.days;
      const s = seed ?? mix.seed;
      const outDir = values.out ?? join('data', 'simulations', `${mix.name}-${n}x${d}-s${s}`);
      const bar = progressBar(process.stderr);
      const interrupt = new AbortController();
      process.once('SIGINT', () => interrupt.abort());
      process.stderr.write(
        `careflow simulate: ${mix.name}, ${n} households × ${d} days, seed ${s}, ${target.kind} careflow\n`,
      );
      const run = await runSimulation({
        mix,
        households,
        days,
        seed,
        target,
        outDir,
        stepMinutes: int('step-minutes', values['step-minutes'], 1, 24 * 60),
        respondAfterMinutes: int('respond-after-minutes', values['respond-after-minutes'], 0, 7 * 24 * 60),
        maxConnections: int('max-connections', values['max-connections'], 1, 1_000_000),
        progress: (p) => bar.update(p),
        signal: interrupt.signal,
      });
      bar.done();
      const report = scoreRun(run.truth, run.alerts);
      const files = writeScore(report, outDir);
      process.stdout.write(
        `ground truth and alerts in ${outDir}; report ${files.markdown} and ${files.json}\n`,
      );
      if (report.noise) process.stdout.write(formatNoise(report.noise));
      for (const t of report.targets) {
        process.stdout.write(
          `  ${t.met ? 'met    ' : 'MISSED '} ${t.name}: ${t.value === null ? '—' : t.value.toFixed(2)} (target ${t.target})\n`,
        );
      }
      return 0;
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`careflow simulate: ${err.message}\n\n${USAGE}\n`);
        return 2;
      }
      throw err;
    }
  },
};

class UsageError extends Error {}
