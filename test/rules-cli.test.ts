import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgRegistry } from './detectors-fixture.ts';
import { ADMIN_TOKEN, startTestService, type TestService } from './harness.ts';

/** `careflow rules …` against a running service over HTTP: the same checks, versions and audit as the API. */
const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ registry: orgRegistry(1) });
});
afterAll(async () => {
  await svc?.dispose();
});

async function careflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const url = `http://127.0.0.1:${svc.cf.httpPort}`;
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [BIN, 'rules', ...args, '--url', url],
      {
        env: { ...process.env, CAREFLOW_TOKEN: ADMIN_TOKEN },
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('careflow rules', () => {
  it('sets a parameter at a scope, keeping the scope’s other overrides, and shows where values come from', async () => {
    const first = await careflow(
      'set',
      'grid:g1',
      'heavy-use.params.minLitersPerBucket=50',
      '--reason',
      'small flats',
    );
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toContain('grid:g1: rules version 2');
    expect(first.stdout).toContain('heavy-use: null → {"params":{"minLitersPerBucket":50}}');
    const second = await careflow(
      'set',
      'grid:g1',
      'heavy-use.params.windowMinutes=180',
      'heavy-use.severity="warning"',
      '--reason',
      'longer',
    );
    expect(second.stdout).toContain(
      'heavy-use: {"params":{"minLitersPerBucket":50}} → {"severity":"warning","params":{"minLitersPerBucket":50,"windowMinutes":180}}',
    );
    const effective = await careflow('effective', 'h-g1-1');
    expect(effective.stdout).toContain('minLitersPerBucket = 50   ← grid:g1');
    expect(effective.stdout).toContain('windowMinutes = 180   ← grid:g1');
    expect(svc.cf.detectors.engine.rulesVersion).toBe(3);
  });

  it('lists the scope’s history and removes an override', async () => {
    await careflow('set', 'grid:g1', 'heavy-use=null', '--reason', 'back to defaults');
    const history = await careflow('history', 'grid:g1');
    const lines = history.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^v4 \S+ admin heavy-use: \{.*\} → null — back to defaults$/);
    expect((await careflow('get', 'grid:g1', '--json')).stdout).toContain('"rules": {}');
  });

  it('explains a refused change field by field (exit 1); insists on a reason and a known scope (exit 2)', async () => {
    const [refused, noReason, badScope] = await Promise.all([
      careflow('set', 'community:c1', 'low-use.params.windowMinutes=90', '--reason', 'try'),
      careflow('set', 'grid:g1', 'low-use.enabled=false'),
      careflow('get', 'block:7'),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ERR_RULES_INVALID');
    expect(refused.stderr).toContain(
      'rules.low-use.params.windowMinutes: must be a multiple of the bucket size (60 minutes); got 90',
    );
    expect([noReason.code, badScope.code]).toEqual([2, 2]);
    expect(noReason.stderr).toContain('--reason');
  });
});
