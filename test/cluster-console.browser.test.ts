import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchBrowser } from './browser.ts';
import { startClusterApis, type ClusterApis, type WorkerApi } from './cluster-api-harness.ts';
import { eventually, HOUR, testRegistry } from './harness.ts';
import { SKIP_POSTGRES } from './postgres.ts';

/**
 * The console served by cluster workers, in a real Chromium, on a real PostgreSQL: a grid worker logs in on one
 * worker (phone viewport), sees their grid's alert with its address and a new one arrive live (written by another
 * worker), opens it — household, 7-day usage chart from the shared store, timeline — and acknowledges it; through
 * the other worker the alert shows as acknowledged. No page the grid worker opens asks for anything the workers
 * do not serve (no error in the browser's console).
 */
const registry = testRegistry(2);
for (const w of registry.workers!) w.password = `password-${w.id}`;
const run = chromiumAvailable() && !SKIP_POSTGRES;

let cluster: ClusterApis;
let browser: Awaited<ReturnType<typeof launchBrowser>>;

async function login(page: Page, w: WorkerApi, id: string): Promise<void> {
  await page.goto(`${w.base}/login`);
  await page.fill('input[name=id]', id);
  await page.fill('input[name=password]', `password-${id}`);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

describe.runIf(run)('the console of a cluster worker in a real browser', () => {
  beforeAll(async () => {
    cluster = await startClusterApis(registry, { workers: 2, feedPollMs: 200 });
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.dispose();
  }, 60_000);

  it('shows, updates live and acknowledges an alert through any worker', async () => {
    const [a, b] = cluster.workers as [WorkerApi, WorkerApi];
    // A day of a cistern running at 5 L an hour in h-g1-1, and its leak alert.
    const to = Math.ceil(Date.now() / HOUR) * HOUR;
    for (let i = 1; i <= 24; i++)
      await cluster.pool.query(
        `INSERT INTO usage_buckets (household_id, start, "end", liters) VALUES ('h-g1-1', $1, $2, 5)`,
        [to - i * HOUR, to - (i - 1) * HOUR],
      );
    await cluster.openAlert('leak-1', { fields: { ruleId: 'continuous-flow', audience: 'leak' } });

    const errors: string[] = [];
    const page = await browser.context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.setViewportSize({ width: 390, height: 844 });
    await login(page, a, 'w-g1');
    expect(new URL(page.url()).pathname).toBe('/inbox');
    await page.locator('[data-alert="leak-1"]').waitFor();
    expect(await page.locator('[data-alert="leak-1"] .addr').textContent()).toBe('g1 楼 1 号');
    await page.getByTestId('live').filter({ hasText: '实时' }).waitFor();

    // Opened by another worker's partition: on this screen without a reload.
    const opened = Date.now();
    await cluster.openAlert('fall-1', { household: 'h-g1-2', via: b });
    await page.locator('[data-alert="fall-1"]').waitFor({ timeout: 5_000 });
    console.log(
      `cluster console: an alert written through another worker on screen after ${Date.now() - opened} ms`,
    );

    await page.click('[data-alert="leak-1"] a');
    await page.getByTestId('alert-detail').waitFor();
    expect(await page.getByTestId('household-address').textContent()).toBe('g1 楼 1 号');
    await page.getByTestId('usage-chart').locator('canvas').waitFor();
    await page.getByTestId('ack').click();
    await expect.poll(() => page.getByTestId('alert-state').textContent()).toBe('已确认');
    expect(await cluster.alerts.get('leak-1')).toMatchObject({
      state: 'acknowledged',
      acknowledgedBy: 'w-g1',
    });
    expect(await cluster.escalations.get('leak-1')).toMatchObject({ state: 'stopped' });

    // The other worker shows the same alert acknowledged.
    const other = await browser.context.newPage();
    await login(other, b, 'w-g1');
    await other.goto(`${b.base}/alerts/leak-1`);
    await expect.poll(() => other.getByTestId('alert-state').textContent()).toBe('已确认');
    await eventually(
      async () => (await other.getByTestId('timeline').textContent())?.includes('w-g1') ?? false,
      5_000,
      'the acknowledgement on the timeline',
    );
    expect(errors).toEqual([]);
  });
});
