import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../core/config.ts';
import { importRegistry } from '../../core/registry-import.ts';
import { openStore } from '../../core/store/store.ts';
import type { Command } from './command.ts';
import { etaText } from './eta.ts';

export const importCommand: Command = {
  name: 'import',
  usage: 'import <file.json>',
  summary: 'Load or update the registry (streets … meters) into the store in CAREFLOW_DATA_DIR',
  help: `The file's shape is in the README (Registry file). Import is an idempotent upsert, validated as a whole
before anything is written; it may run while the service runs (same CAREFLOW_DATA_DIR).
Example: careflow import examples/community.json`,
  async run(args) {
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
      const started = Date.now();
      const report = await importRegistry(store, input, {
        onProgress: (done, total) => {
          if (tty)
            process.stderr.write(
              `\rimporting… ${done}/${total}, ${etaText(done, total, Date.now() - started)}\x1b[K`,
            );
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
  },
};
