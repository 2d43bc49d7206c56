import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../core/store/store.ts';
import { writeServiceSettings } from '../app/service-settings.ts';
import { tempDataDir } from './harness.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/community.json', import.meta.url));

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function careflow(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 90_000 });
}

describe('the careflow command', () => {
  it('imports the example community into the data dir, idempotently', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = await careflow(['import', EXAMPLE], { CAREFLOW_DATA_DIR: dir });
    expect(first.stdout).toContain('1 streets, 1 communities, 3 grids, 4 workers, 30 households, 30 meters');
    await careflow(['import', EXAMPLE], { CAREFLOW_DATA_DIR: dir });
    const store = openStore({ path: join(dir, 'careflow.db') });
    expect(store.registry.counts()).toEqual({
      streets: 1,
      communities: 1,
      grids: 3,
      workers: 4,
      households: 30,
      meters: 30,
    });
    store.close();
  });

  it('explains a registry error with its path and exits 1', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const err = await careflow(['import', join(dir, 'missing.json')], { CAREFLOW_DATA_DIR: dir }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toContain('cannot read');
  });

  it('refuses invalid configuration naming every bad field', async () => {
    const err = await careflow(['start'], { CAREFLOW_MQTT_PORT: 'abc', CAREFLOW_BUCKET_MINUTES: '45' }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 1 });
    const stderr = (err as { stderr: string }).stderr;
    expect(stderr).toContain('ERR_CONFIG_INVALID');
    expect(stderr).toContain('CAREFLOW_MQTT_PORT');
    expect(stderr).toContain('bucketMinutes');
  });

  it("backtests in the time zone the service stored its data in, not the shell's", async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    await careflow(['import', EXAMPLE], { CAREFLOW_DATA_DIR: dir });
    writeServiceSettings(dir, { timezone: 'Europe/Madrid', bucketMinutes: 60 });
    const from = String(Date.UTC(2026, 2, 1));
    const args = ['backtest', '--scope', 'global', '--from', from, '--to', String(Date.UTC(2026, 2, 2))];
    const shanghai = await careflow(args, { CAREFLOW_DATA_DIR: dir, CAREFLOW_TIMEZONE: 'Asia/Shanghai' });
    expect(shanghai.stderr).toContain('runs in Europe/Madrid; CAREFLOW_TIMEZONE=Asia/Shanghai is ignored');
    // Times are told in the service's zone: 2026-03-01 00:00 UTC is 01:00 in Madrid (08:00 in Shanghai).
    expect(shanghai.stdout).toContain('2026-03-01 01:00');
    expect(shanghai.stdout).not.toContain('2026-03-01 08:00');
  });

  it('answers an unknown command with usage and exit code 2', async () => {
    const err = await careflow(['frobnicate']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toContain('careflow import <file.json>');
  });

  it('runs the demo: alerts reach named grid workers, well within a minute', async () => {
    const started = Date.now();
    const { stdout } = await careflow(['demo', '--days', '2']);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(stdout).toMatch(/→ 王丽 Wang Li \(w-g1\) 新警报 NEW · continuous-flow · h-0002/);
    expect(stdout).toMatch(/→ 张建国 Zhang Jianguo \(w-g2\) 新警报 NEW · low-use · h-0011/);
    expect(stdout).toMatch(/新警报 NEW · meter-silent · h-0013/);
    expect(stdout).toMatch(/新警报 NEW · no-water-at-peak · h-0007/);
    expect(stdout).toContain('过去24小时仅用水');
  });
});
