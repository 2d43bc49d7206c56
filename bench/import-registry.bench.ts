/**
 * Registry import benchmark: `node bin/run-ts.js bench/import-registry.bench.ts [--households 300000]
 * [--hash-concurrency 8]`. Generates a registry, writes it to a temp JSON file, imports that file into a fresh
 * temp SQLite file and prints the figures. scrypt runs on the libuv threadpool: set UV_THREADPOOL_SIZE (default
 * 4) to the number of cores to use them all.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importRegistry } from '../core/registry-import.ts';
import { openStore } from '../core/store/store.ts';
import { generateRegistry } from './generate-registry.ts';

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '300000' },
    'hash-concurrency': { type: 'string', default: '8' },
  },
});
const households = Number(values.households);
const hashConcurrency = Number(values['hash-concurrency']);
if (!Number.isInteger(households) || households < 1)
  throw new Error('--households must be a positive integer');
if (!Number.isInteger(hashConcurrency) || hashConcurrency < 1) {
  throw new Error('--hash-concurrency must be a positive integer');
}

const dir = mkdtempSync(join(tmpdir(), 'careflow-bench-import-'));
try {
  const jsonPath = join(dir, 'registry.json');
  const dbPath = join(dir, 'careflow.db');
  writeFileSync(jsonPath, JSON.stringify(generateRegistry(households)));
  const jsonBytes = statSync(jsonPath).size;

  const store = openStore({ path: dbPath });
  const started = performance.now();
  let lastPrint = 0;
  let report;
  try {
    const input: unknown = JSON.parse(readFileSync(jsonPath, 'utf8'));
    report = await importRegistry(store, input, {
      hashConcurrency,
      onProgress(done, total) {
        const now = performance.now();
        if (now - lastPrint < 250 && done < total) return;
        lastPrint = now;
        const pct = ((100 * done) / total).toFixed(1);
        process.stderr.write(
          `\rimporting ${done}/${total} entries (${pct}%) ${((now - started) / 1000).toFixed(1)} s`,
        );
      },
    });
    process.stderr.write('\n');
  } finally {
    store.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

  const rows: [string, string][] = [
    ['households', String(report.households)],
    ['meters + workers hashed', String(report.meters + report.workers)],
    ['JSON file MB', mb(jsonBytes)],
    ['total seconds (parse + import)', seconds.toFixed(2)],
    ['households/s', Math.round(report.households / seconds).toString()],
    ['peak RSS MB', mb(process.resourceUsage().maxRSS * 1024)],
    ['DB file MB', mb(statSync(dbPath).size)],
    ['hash concurrency', String(hashConcurrency)],
    ['UV_THREADPOOL_SIZE', process.env.UV_THREADPOOL_SIZE ?? '4 (default)'],
  ];
  for (const [name, value] of rows) console.log(`${name.padEnd(32)}${value}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
