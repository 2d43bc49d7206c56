import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Subject } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { loadConfig } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import { silentLogger } from '../core/logger.ts';
import { openPgPool, type PgPool } from '../core/postgres.ts';
import type { RuleScope } from '../core/rules.ts';
import { followSharedTables, type SharedFollower } from '../core/shared-follower.ts';
import { openStore, type Store } from '../core/store/store.ts';
import type { DetectorInput } from '../core/streams.ts';
import { RULES_SET } from '../detectors/rule-tables.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { setRulesShared } from '../detectors/shared-rules.ts';
import { startDetectors, type Detectors } from '../detectors/start-detectors.ts';
import { importRegistryShared } from '../registry/shared-import.ts';
import { REGISTRY_SET } from '../registry/tables.ts';
import { testRegistry } from './harness.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';

const config = loadConfig({});
const g1: RuleScope = { level: 'grid', code: 'g1' };
const by = (reason: string) => ({ actor: 'admin', at: Date.UTC(2026, 0, 5), reason });
const change = (scope: RuleScope, rules: Record<string, unknown>, reason = 'wetter summer') => ({
  scope,
  changes: () => rules as never,
  by: by(reason),
  config: config.detectors.rules,
  bucketMinutes: config.bucketMinutes,
  places: [REGISTRY_SET],
});
const heavyBar = (d: Detectors, household: string) =>
  (d.ruleBook!.rulesFor(household).find((r) => r.id === 'heavy-use')!.params as Record<string, unknown>)
    .minLitersPerBucket;

/**
 * The rule hierarchy of a cluster: changed once in PostgreSQL (`careflow rules set --cluster`), validated by the
 * embedded RuleBook against the shared registry, pulled by every worker, and taken by its running detectors at
 * their next tick.
 */
const DEFAULT_HEAVY_BAR = (
  DEFAULT_RULES.find((r) => r.id === 'heavy-use')!.params as { minLitersPerBucket: number }
).minLitersPerBucket;

describe.skipIf(SKIP_POSTGRES)('shared rules, followed by the workers', () => {
  let server: Postgres;
  let dir: string;
  let pool: PgPool;
  const cleanup: (() => unknown)[] = [];
  beforeAll(async () => {
    server = await startPostgres('careflow_rules');
    dir = mkdtempSync(join(tmpdir(), 'careflow-rules-'));
  }, 60_000);
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  let n = 0;
  async function worker(): Promise<{
    store: Store;
    follower: SharedFollower;
    detectors: Detectors;
    clock: ManualClock;
  }> {
    const path = join(dir, `worker-${++n}.db`);
    const follower = await followSharedTables({
      pool,
      storePath: path,
      sets: [REGISTRY_SET, RULES_SET],
      pollMs: 60_000,
      logger: silentLogger,
    });
    cleanup.push(() => follower.stop());
    const store = openStore({ path });
    cleanup.push(() => store.close());
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 0, 0));
    const detectors = startDetectors(config, {
      inputs: new Subject<DetectorInput>(),
      clock,
      localTime: new LocalTime(config.timezone, config.bucketMinutes),
      logger: silentLogger,
      store,
    });
    cleanup.push(() => detectors.stop());
    return { store, follower, detectors, clock };
  }

  it('gives every worker a change made once; running detectors take the next at their next tick', async () => {
    pool = openPgPool(await server.createDatabase(`rules_${++n}`));
    cleanup.push(() => pool.end());
    await importRegistryShared(pool, testRegistry(2));
    const first = await setRulesShared(
      pool,
      change(g1, { 'heavy-use': { params: { minLitersPerBucket: 150 } } }),
    );
    expect(first).toMatchObject({ published: 1, changes: [{ ruleId: 'heavy-use', old: null }] });

    const a = await worker();
    const b = await worker();
    for (const w of [a, b]) {
      expect(w.follower.stats().rules).toMatchObject({ version: 1, pulls: 1 });
      expect(heavyBar(w.detectors, 'h-g1-1')).toBe(150);
      expect(heavyBar(w.detectors, 'h-g2-1')).not.toBe(150); // another grid keeps the default
      expect(w.detectors.ruleBook!.version()).toBe(first.version);
    }

    // A second change, from the rules in force: only the named field changes.
    const second = await setRulesShared(pool, {
      ...change(g1, {}, 'after the audit'),
      changes: (current) => ({
        'heavy-use': {
          ...current['heavy-use'],
          params: { ...current['heavy-use']?.params, minLitersPerBucket: 90 },
        },
      }),
    });
    expect(second.published).toBe(2);
    expect(second.version).toBeGreaterThan(first.version);
    await a.follower.poll();
    expect(a.follower.stats().rules?.version).toBe(2);
    // Pulled, but the running detectors look at the store at their ticks.
    a.clock.advanceTo(a.clock.now() + config.detectors.tickIntervalMs);
    expect(a.detectors.ruleBook!.version()).toBe(second.version);
    expect(a.detectors.engine.rulesVersion).toBe(second.version);
    expect(heavyBar(a.detectors, 'h-g1-1')).toBe(90);
    expect(a.store.rules.history(g1, 10).map((c) => c.reason)).toEqual(['after the audit', 'wetter summer']);
  });

  it('refuses an invalid change or an unknown scope, and publishes nothing', async () => {
    pool = openPgPool(await server.createDatabase(`rules_${++n}`));
    cleanup.push(() => pool.end());
    await importRegistryShared(pool, testRegistry(2));
    await expect(
      setRulesShared(pool, change(g1, { 'heavy-use': { params: { minLitersPerBucket: -5 } } })),
    ).rejects.toMatchObject({ code: 'ERR_RULES_INVALID' });
    await expect(
      setRulesShared(pool, change({ level: 'grid', code: 'g404' }, { 'heavy-use': { enabled: false } })),
    ).rejects.toMatchObject({ code: 'ERR_SCOPE_NOT_FOUND' });
    const { rows } = await pool.query<{ version: number }>('SELECT version FROM rules_version');
    expect(rows[0]!.version).toBe(0);
    const w = await worker();
    expect(w.follower.stats().rules).toMatchObject({ version: 0, pulls: 0 });
    expect(w.store.rules.all()).toEqual([]);
  });

  it('changes the rules once with `careflow rules set --cluster`, explains a refusal, and reads them back', async () => {
    const url = await server.createDatabase(`rules_cli_${++n}`);
    pool = openPgPool(url);
    cleanup.push(() => pool.end());
    await importRegistryShared(pool, testRegistry(2));
    const bin = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));
    const careflow = (args: string[]) =>
      promisify(execFile)(process.execPath, [bin, 'rules', ...args], {
        env: { ...process.env, CAREFLOW_POSTGRES_URL: url, CAREFLOW_DATA_DIR: join(dir, 'cli') },
        timeout: 90_000,
      });
    const ok = await careflow([
      'set',
      'grid:g1',
      'heavy-use.minLitersPerBucket=120',
      '--reason',
      'pilot',
      '--cluster',
    ]);
    expect(ok.stdout).toMatch(/^grid:g1: rules version \d+ \(shared rules version 1;/);
    expect(ok.stdout).toContain('heavy-use: null → {"params":{"minLitersPerBucket":120}}');
    const bad = await careflow([
      'set',
      'grid:g1',
      'heavy-use.minLitersPerBucket=-1',
      '--reason',
      'typo',
      '--cluster',
    ]).catch((e: unknown) => e as { code: number; stderr: string });
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toContain('ERR_RULES_INVALID');
    const w = await worker();
    expect(heavyBar(w.detectors, 'h-g1-1')).toBe(120);
    expect(w.follower.stats().rules?.version).toBe(1);

    // Read back from the shared store, as the rules API would answer (no running service needed).
    const got = await careflow(['get', 'grid:g1', '--cluster', '--json']);
    expect(JSON.parse(got.stdout)).toMatchObject({
      scope: 'grid:g1',
      rules: { 'heavy-use': { params: { minLitersPerBucket: 120 } } },
    });
    const history = await careflow(['history', 'grid:g1', '--cluster']);
    expect(history.stdout).toMatch(
      /^v\d+ \S+ cli heavy-use: null → \{"params":\{"minLitersPerBucket":120\}\} — pilot\n$/,
    );
    const effective = await careflow(['effective', 'h-g1-1', '--cluster']);
    expect(effective.stdout).toContain('minLitersPerBucket = 120   ← grid:g1');
    // The other grid keeps the default: no source named.
    const other = await careflow(['effective', 'h-g2-1', '--cluster', '--json']);
    const heavy = (
      JSON.parse(other.stdout) as { rules: { id: string; params: Record<string, unknown> }[] }
    ).rules.find((r) => r.id === 'heavy-use');
    expect(heavy?.params.minLitersPerBucket).toBe(DEFAULT_HEAVY_BAR);
    const missing = await careflow(['get', 'grid:nope', '--cluster']).catch(
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(missing).toMatchObject({ code: 1 });
    expect((missing as { stderr: string }).stderr).toBe(
      'careflow rules: ERR_SCOPE_NOT_FOUND: No grid nope\n',
    );
  });
});
