import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDataDir } from './harness.ts';
import { spawnService } from './service-process.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RECORDER = fileURLToPath(new URL('./fixtures/record-modules.mjs', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('the production build', () => {
  it('`npm start` runs the compiled JavaScript of dist/ with no TypeScript loader', async () => {
    // The same build `npm install` runs (prepare), so this checks the current sources.
    await promisify(execFile)('npm', ['run', '--silent', 'build:server'], { cwd: ROOT, timeout: 240_000 });
    const dir = tempDataDir();
    dirs.push(dir);
    const record = join(dir, 'modules.txt');
    const service = await spawnService(dir, {
      CAREFLOW_FROM_SOURCE: '0',
      NODE_OPTIONS: `--import=${RECORDER}`,
      RECORD_MODULES_FILE: record,
    });
    const health = await fetch(`http://127.0.0.1:${service.httpPort}/healthz`);
    expect(health.status).toBe(200);
    expect(await service.stop()).toBe(0);
    const modules = readFileSync(record, 'utf8').split('\n');
    expect(modules.some((u) => u.endsWith('/dist/cli/main.js'))).toBe(true);
    expect(modules.some((u) => u.endsWith('/dist/app/start-careflow.js'))).toBe(true);
    expect(modules.filter((u) => u.includes('/node_modules/tsx/') || u.endsWith('.ts'))).toEqual([]);
  }, 300_000);
});
