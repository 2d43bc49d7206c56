import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../core/config.ts';
import { isCareflowError } from '../core/errors.ts';
import { importRegistry } from '../core/registry-import.ts';
import { openStore } from '../core/store/store.ts';
import { runDemo } from './demo.ts';
import { startCareflow } from './start-careflow.ts';

const HELP = `careflow — smart water meter welfare alerts for grid-based community care

Usage:
  careflow start                 Run the service (MQTT broker, detectors, notifier, HTTP API)
  careflow import <file.json>    Load or update the registry (streets, communities, grids, workers,
                                 households, meters) into the store in CAREFLOW_DATA_DIR
  careflow demo [--days N]      
                                 Run a demo: a temporary service, the example community, simulated
                                 households with scenarios in accelerated time; prints each alert as
                                 the grid worker receives it
  careflow help                  Show this help

Configuration comes from environment variables (CAREFLOW_*) and an optional JSON file named by
CAREFLOW_CONFIG; see the README for the table of settings and defaults.
`;

/** Runs one CLI command; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        return await start();
      case 'import':
        return await importCommand(rest);
      case 'demo':
        return await demo(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return 0;
      default:
        process.stderr.write(`careflow: unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (isCareflowError(err)) {
    process.stderr.write(`careflow: ${err.code}: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`careflow: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}

async function start(): Promise<number> {
  const config = loadConfig(process.env);
  const cf = await startCareflow(config);
  process.stderr.write(
    `careflow is running: MQTT on port ${cf.mqttPort}, HTTP on port ${cf.httpPort}, data in ${config.dataDir}\n` +
      (config.adminToken ? '' : `admin token: see ${join(config.dataDir, 'admin-token')}\n`),
  );
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      process.stderr.write(`careflow: ${signal} received, stopping\n`);
      resolve();
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
  await cf.stop();
  return 0;
}

async function importCommand(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const file = positionals[0];
  if (!file) {
    process.stderr.write(
      'careflow import: name the registry file, e.g. careflow import examples/community.json\n',
    );
    return 2;
  }
  let input: unknown;
  try {
    input = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`careflow import: cannot read ${file} as JSON: ${(err as Error).message}\n`);
    return 1;
  }
  const config = loadConfig(process.env);
  const store = openStore({
    path: join(config.dataDir, 'careflow.db'),
    synchronous: config.store.synchronous,
  });
  try {
    const tty = process.stderr.isTTY;
    const report = await importRegistry(store, input, {
      onProgress: (done, total) => {
        if (tty) process.stderr.write(`\rimporting… ${done}/${total}`);
      },
    });
    if (tty) process.stderr.write('\n');
    process.stdout.write(
      `imported ${report.streets} streets, ${report.communities} communities, ${report.grids} grids, ` +
        `${report.workers} workers, ${report.households} households, ${report.meters} meters ` +
        `in ${(report.durationMs / 1000).toFixed(1)} s\n`,
    );
    return 0;
  } finally {
    store.close();
  }
}

async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { days: { type: 'string', default: '3' } },
  });
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 2 || days > 30) {
    process.stderr.write('careflow demo: --days must be a whole number from 2 to 30\n');
    return 2;
  }
  await runDemo({ days, out: process.stdout });
  return 0;
}
