import { join } from 'node:path';
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryInput, WorkerRole } from '../core/registry.ts';
import type { Detection } from '../core/streams.ts';
import {
  axeViolations,
  chromiumAvailable,
  launchBrowser,
  overflowAtDoubleZoom,
  SCREENSHOTS,
} from './browser.ts';
import { connectClient, eventually, HOUR, startTestService, T0, type TestService } from './harness.ts';

/**
 * The console in a real Chromium against the real service (broker, store, detectors, API on ephemeral ports):
 * a leak published over MQTT reaches the grid worker's inbox live, is acknowledged and resolved; staff
 * change a grid's heavy-use bar after a backtest preview; the leader's overview shows the grid's time to
 * acknowledge. Also: another grid's alert is "not yours", a dropped event stream resumes, hostile registry
 * strings stay text. Screenshots of every screen in both languages go to test-output/screenshots.
 */
const HOSTILE_ADDRESS = '<img src=x onerror="window.__pwned=1">1 号楼';
const HOSTILE_NOTES = '<script>window.__pwned=2</script>独居老人';
const person = (
  id: string,
  role: WorkerRole,
  scope: { grids?: string[]; communities?: string[]; streets?: string[] },
) => ({
  id,
  name: id,
  role,
  ...scope,
  secret: `secret-${id}`,
  password: `password-${id}`,
});
const REGISTRY: RegistryInput = {
  streets: [{ code: 's1', name: '幸福街道' }],
  communities: [{ code: 'c1', street: 's1', name: '阳光社区' }],
  grids: [
    { code: 'g1', community: 'c1', name: '第一网格' },
    { code: 'g2', community: 'c1', name: '第二网格' },
  ],
  workers: [
    person('w-g1', 'grid-worker', { grids: ['g1'] }),
    person('w-g2', 'grid-worker', { grids: ['g2'] }),
    person('staff-c1', 'community-staff', { communities: ['c1'] }),
    person('leader-s1', 'street-staff', { streets: ['s1'] }),
  ],
  households: [
    { id: 'h1', grid: 'g1', address: HOSTILE_ADDRESS, livesAlone: true, elderly: true, notes: HOSTILE_NOTES },
    { id: 'h2', grid: 'g1', address: '阳光小区 2 栋 301' },
    { id: 'h3', grid: 'g2', address: '阳光小区 9 栋 101' },
  ],
  meters: [
    { id: 'm1', household: 'h1', secret: 'secret-m1' },
    { id: 'm2', household: 'h2', secret: 'secret-m2' },
    { id: 'm3', household: 'h3', secret: 'secret-m3' },
  ],
};
const LEAK_START = T0 + 24 * HOUR;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const WALL = { width: 1920, height: 1080 };

const run = chromiumAvailable();
let svc: TestService;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let base: string;

function lowUse(householdId: string, at: number): Detection {
  return {
    key: `${householdId}|low-use|opened|${at}`,
    householdId,
    ruleId: 'low-use',
    ruleType: 'sustained-low',
    kind: 'opened',
    at,
    evidence: { windowStart: at - 24 * HOUR, windowEnd: at, totalLiters: 0, thresholds: {}, ruleVersion: 1 },
    severity: 'critical',
    audience: 'welfare',
    autoResolve: false,
  };
}

async function login(page: Page, id: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name=id]', id);
  await page.fill('input[name=password]', `password-${id}`);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** Form controls without an accessible name (a label, aria-label or aria-labelledby). */
async function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((el) => {
        const e = el as HTMLInputElement;
        if (e.type === 'hidden') return false;
        const named = e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby');
        return !named && !(el.textContent ?? '').trim();
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );
}

const CATALOG_KEY =
  /\b(?:alert|rules?|staff|overview|timeline|outcome|scope|target|audience|state|nav|common|inbox|households|registry|login|lang|duration|ago)\.[a-zA-Z][\w.-]*/;

/** The marks the usage chart's legend names, in order. */
async function legendMarks(page: Page): Promise<string[]> {
  return page
    .locator('[data-testid=chart-legend] li')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-mark') ?? ''));
}

/** Elements whose text is cut off (wider than their box, or reaching outside the viewport). */
async function clipped(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).evaluateAll((els) =>
    els
      .filter((e) => {
        const r = e.getBoundingClientRect();
        return e.scrollWidth > e.clientWidth + 1 || r.right > window.innerWidth || r.left < 0;
      })
      .map((e) => e.textContent ?? ''),
  );
}

async function switchLanguage(page: Page): Promise<void> {
  await page.click('header button[aria-label]');
}

/** A screenshot in Chinese and one in English (the language button switches; it is switched back after). */
async function shoot(page: Page, name: string): Promise<void> {
  expect(await unlabelled(page), `${name}: every control is labelled`).toEqual([]);
  // Every visible string comes from the catalogs: no catalog key shows instead of its text.
  expect(await page.locator('body').innerText(), `${name}: a catalog key on screen`).not.toMatch(CATALOG_KEY);
  // axe-core in both languages: no serious or critical WCAG 2.1 AA violation; usable at 200 % zoom.
  expect.soft(await axeViolations(page), `${name} (zh-CN): axe-core`).toEqual([]);
  expect
    .soft(await overflowAtDoubleZoom(page), `${name}: sideways scrolling at 200 %`)
    .toBeLessThanOrEqual(0);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.zh-CN.png`), fullPage: true });
  await page.click('header button[aria-label]');
  expect.soft(await axeViolations(page), `${name} (en): axe-core`).toEqual([]);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.en.png`), fullPage: true });
  await page.click('header button[aria-label]');
}

describe.runIf(run)('the console in a real browser', () => {
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];
  let worker: Page;
  let leakAlertId: string;

  beforeAll(async () => {
    svc = await startTestService({
      registry: REGISTRY,
      config: { http: { host: '127.0.0.1', port: 0, sessionTtlMinutes: 24 * 60 } },
    });
    // The service clock stands a day into the leak; the meter's readings of the day arrive in one batch.
    svc.clock.advanceTo(LEAK_START + 24 * HOUR + 60_000);
    base = `http://127.0.0.1:${svc.cf.httpPort}`;
    browser = await launchBrowser();
    console.log(`console screenshots: ${SCREENSHOTS}`);
  });

  afterAll(async () => {
    await browser?.close();
    await svc?.dispose();
  });

  it('serves the console with a strict CSP and security headers', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('shows a leak published over MQTT in the worker’s inbox within 2 s, without a reload', async () => {
    worker = await browser.context.newPage();
    await worker.setViewportSize(PHONE);
    worker.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    worker.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await login(worker, 'w-g1');
    expect(new URL(worker.url()).pathname).toBe('/inbox');
    expect(worker.url()).not.toContain('cfs_');
    await worker.getByTestId('live').filter({ hasText: '实时' }).waitFor();
    await shoot(worker, 'worker-inbox-empty');

    // 26 hours of readings, 5 L flowing every hour: a continuous-flow leak over the last 24 hours.
    const meter = await connectClient(svc.mqttUrl, 'm1', 'secret-m1');
    const readings = Array.from({ length: 27 }, (_, i) => ({
      ts: LEAK_START + (i - 2) * HOUR,
      totalLiters: 1000 + i * 5,
    }));
    await meter.publishAsync('meters/m1/readings', JSON.stringify({ readings }), { qos: 1 });
    await meter.endAsync();
    const published = Date.now();
    // The detectors run on their tick: move the service clock on until the alert is raised.
    await eventually(
      () => {
        if (svc.cf.store.alerts.list({ householdId: 'h1' }).length === 0) {
          svc.clock.advanceTo(svc.clock.now() + 60_000);
          return false;
        }
        return true;
      },
      10_000,
      'the leak alert',
    );
    const alert = svc.cf.store.alerts.list({ householdId: 'h1' })[0]!;
    expect(alert.ruleId).toBe('continuous-flow');
    leakAlertId = alert.id;
    const raised = Date.now();
    await worker.locator(`[data-alert="${leakAlertId}"]`).waitFor({ timeout: 2_000 });
    console.log(
      `leak on screen ${Date.now() - raised} ms after it was raised (${Date.now() - published} ms after publishing)`,
    );
    await expect.poll(() => worker.getByTestId('unread').textContent()).toBe('1');
    // The hostile address is shown as text and ran nothing.
    await expect
      .poll(() => worker.locator(`[data-alert="${leakAlertId}"] .addr`).textContent())
      .toBe(HOSTILE_ADDRESS);
    expect(await worker.locator('img[src="x"]').count()).toBe(0);
    await shoot(worker, 'worker-inbox');
  });

  it('opens the alert: the chart shows the 24 flowing hours; the worker acknowledges and resolves it', async () => {
    await worker.click(`[data-alert="${leakAlertId}"] a`);
    await worker.getByTestId('alert-detail').waitFor();
    await expect
      .poll(() => worker.getByTestId('chart-summary').getAttribute('data-flowing-hours'))
      .toBe('24');
    expect(await worker.getByTestId('household-address').textContent()).toBe(HOSTILE_ADDRESS);
    expect(await worker.getByTestId('household-notes').textContent()).toBe(HOSTILE_NOTES);
    expect(await worker.locator('img[src="x"]').count()).toBe(0);
    await worker.getByTestId('usage-chart').locator('canvas').waitFor();
    // The header says which time it shows, and it is the timeline's: when the alert was raised.
    const raisedText = await worker
      .locator('[data-testid=timeline] li[data-kind=opened] .muted')
      .first()
      .textContent();
    expect(await worker.getByTestId('alert-raised').textContent()).toBe(`警报发出于 ${raisedText}`);
    // The leak rule's hourly bar and the evidence window are drawn and named in the legend.
    expect(await legendMarks(worker)).toEqual(['window', 'bar', 'unknown']);
    await shoot(worker, 'worker-alert');
    await switchLanguage(worker);
    expect(await worker.getByTestId('alert-raised').textContent()).toMatch(
      /^Alert raised \d{1,2} [A-Z][a-z]{2} \d\d:\d\d$/,
    );
    const windowLabel = worker.locator('[data-testid=chart-legend] li[data-mark=window]');
    expect(await windowLabel.textContent()).toContain('Evidence window');
    expect(await clipped(worker, '[data-testid=chart-legend] li')).toEqual([]);
    await switchLanguage(worker);

    svc.clock.advanceTo(svc.clock.now() + 7 * 60_000);
    await worker.getByTestId('ack').click();
    await expect.poll(() => worker.getByTestId('action-result').textContent()).toContain('已确认接单');
    await expect.poll(() => worker.getByTestId('alert-state').textContent()).toBe('已确认');

    // Someone else acts first: the second acknowledgement's 409 is explained in words.
    await worker.selectOption('select[name=outcome]', 'leak-repaired');
    await worker.fill('textarea[name=note]', '已更换水箱阀门 <b>ok</b>');
    await worker.getByTestId('resolve-form').locator('button[type=submit]').click();
    await expect.poll(() => worker.getByTestId('action-result').textContent()).toContain('警报已关闭');
    await expect.poll(() => worker.getByTestId('alert-outcome').textContent()).toContain('漏水已修复');
    const stored = svc.cf.store.alerts.get(leakAlertId)!;
    expect(stored).toMatchObject({ state: 'resolved', outcome: 'leak-repaired', acknowledgedBy: 'w-g1' });
    expect(await worker.getByTestId('timeline').textContent()).toContain('<b>ok</b>');
    await shoot(worker, 'worker-alert-resolved');
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(await worker.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('draws the learned peak window and the baseline where the rule uses them', async () => {
    // 07:00–10:00 local time (T0 is local midnight) of the day before the service clock's.
    const end = T0 + 34 * HOUR;
    const peak = svc.cf.notifier.actions.applyDetection({
      ...lowUse('h2', end),
      key: `h2|no-water-at-peak|${end}`,
      ruleId: 'no-water-at-peak',
      ruleType: 'zero-at-peak',
      evidence: {
        windowStart: end - 3 * HOUR,
        windowEnd: end,
        totalLiters: 0,
        thresholds: { start: '07:00', end: '10:00', maxLiters: 1, bucketMinutes: 60, peak: 'learned' },
        ruleVersion: 1,
      },
    })!;
    await worker.goto(`${base}/alerts/${peak.id}`);
    await worker.getByTestId('usage-chart').locator('canvas').waitFor();
    expect(await legendMarks(worker)).toEqual(['window', 'peak', 'unknown']);
    expect(await worker.locator('[data-mark=peak]').textContent()).toContain('学习到的高峰时段 07:00–10:00');
    // The watched window on every day of the chart (7 days), not only the day it fired.
    expect(
      Number(await worker.getByTestId('usage-chart').getAttribute('data-peak-windows')),
    ).toBeGreaterThanOrEqual(7);
    await shoot(worker, 'worker-alert-peak');

    const low = svc.cf.notifier.actions.applyDetection({
      ...lowUse('h2', end),
      evidence: {
        windowStart: end - 24 * HOUR,
        windowEnd: end,
        totalLiters: 12,
        thresholds: { windowMinutes: 1440, maxTotalLiters: 60, relativeToBaseline: 0.25, typicalLiters: 240 },
        ruleVersion: 1,
      },
    })!;
    await worker.goto(`${base}/alerts/${low.id}`);
    await worker.getByTestId('usage-chart').locator('canvas').waitFor();
    expect(await legendMarks(worker)).toEqual(['window', 'usual', 'limit', 'unknown']);
    expect(await worker.locator('[data-mark=usual]').textContent()).toContain('每小时平均 10 升');
    expect(await worker.locator('[data-mark=limit]').textContent()).toContain('每小时平均 2.5 升');
    for (const a of [peak, low]) svc.cf.notifier.actions.resolve(a.id, 'staff-c1', 'resident-ok', null);
  });

  it('reads "away until" in the service’s time zone, not the browser’s', async () => {
    // A staff laptop set to New York; the service runs on Shanghai time (UTC+8, no daylight saving).
    const elsewhere = await launchBrowser({ timezoneId: 'America/New_York' });
    const alert = svc.cf.notifier.actions.applyDetection(lowUse('h2', svc.clock.now() - 2 * HOUR))!;
    try {
      const page = await elsewhere.context.newPage();
      await login(page, 'w-g1');
      await page.goto(`${base}/alerts/${alert.id}`);
      const until = page.locator('input[name=awayUntil]');
      await until.waitFor();
      expect(await page.locator('label', { has: until }).textContent()).toContain('Asia/Shanghai');
      // Three days after the service clock's day, 08:00 in Shanghai: 00:00 UTC.
      const day = new Date(svc.clock.now() + 3 * 24 * HOUR).toISOString().slice(0, 10);
      await until.fill(`${day}T08:00`);
      await page.fill('input[name=awayReason]', '探亲');
      await page.locator('form', { has: until }).locator('button[type=submit]').click();
      await expect
        .poll(() => svc.cf.store.away.current('h2', svc.clock.now())?.until)
        .toBe(Date.parse(`${day}T00:00:00Z`));
    } finally {
      const span = svc.cf.store.away.current('h2', svc.clock.now());
      if (span) svc.cf.store.away.clear(span.id, svc.clock.now(), 'test');
      svc.cf.store.registry.setAway('h2', null);
      svc.cf.notifier.actions.resolve(alert.id, 'staff-c1', 'resident-ok', null);
      await elsewhere.close();
    }
  });

  it('explains a conflict when someone else acted first', async () => {
    const other = svc.cf.notifier.actions.applyDetection(lowUse('h2', svc.clock.now()))!;
    await worker.goto(`${base}/alerts/${other.id}`);
    await worker.getByTestId('ack').waitFor();
    // The community staff acknowledges while the worker's request is on its way.
    await worker.route(`**/api/alerts/${other.id}/ack`, async (route) => {
      svc.cf.notifier.actions.acknowledge(other.id, 'staff-c1');
      await route.continue();
    });
    await worker.getByTestId('ack').click();
    await expect.poll(() => worker.getByTestId('action-error').textContent()).toContain('其他人已先处理');
    await worker.unroute(`**/api/alerts/${other.id}/ack`);
  });

  it('shows a clear "not among yours" page, and no data, for another grid’s alert URL', async () => {
    const foreign = svc.cf.notifier.actions.applyDetection(lowUse('h3', svc.clock.now()))!;
    await worker.goto(`${base}/alerts/${foreign.id}`);
    await worker.getByTestId('not-found').waitFor();
    const text = (await worker.locator('main').textContent()) ?? '';
    expect(text).toContain('您负责的警报中没有这一条');
    expect(text).not.toContain('9 栋');
    // The same page as for an id that does not exist: the worker is not told the alert exists elsewhere.
    await worker.goto(`${base}/alerts/al-0000000000000000`);
    await worker.getByTestId('not-found').waitFor();
    expect((await worker.locator('main').textContent()) ?? '').toBe(text);
    await shoot(worker, 'worker-not-yours');
  });

  it('resumes a dropped event stream with Last-Event-ID and loses no alert', async () => {
    await worker.goto(`${base}/inbox`);
    await worker.getByTestId('live').filter({ hasText: '实时' }).waitFor();
    const streams: Request[] = [];
    worker.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/events') streams.push(r);
    });
    const lastSeen = svc.cf.store.alerts.latestTimelineId();
    svc.cf.http.server.closeAllConnections();
    const missed = svc.cf.notifier.actions.applyDetection(lowUse('h1', svc.clock.now()))!;
    await worker.locator(`[data-alert="${missed.id}"]`).waitFor({ timeout: 10_000 });
    const resumed = streams.find((r) => r.headers()['last-event-id'] !== undefined);
    expect(resumed, 'a reconnect with Last-Event-ID').toBeDefined();
    expect(Number(resumed!.headers()['last-event-id'])).toBeGreaterThanOrEqual(lastSeen);
    expect(Number(resumed!.headers()['last-event-id'])).toBeLessThan(svc.cf.store.alerts.latestTimelineId());
    expect(resumed!.url()).not.toMatch(/token|cfs_/);
  });

  it('lists my households with their status, searchable by address', async () => {
    await worker.goto(`${base}/households`);
    await worker.getByTestId('households').locator('li').first().waitFor();
    expect(await worker.getByTestId('households').locator('li').count()).toBe(2);
    await worker.fill('input[type=search]', '2 栋');
    await expect.poll(() => worker.getByTestId('households').locator('li').count()).toBe(1);
    await shoot(worker, 'worker-households');
  });

  it('lets staff change a grid’s heavy-use bar after a backtest preview', async () => {
    const staff = await browser.context.newPage();
    await staff.setViewportSize(DESKTOP);
    await login(staff, 'staff-c1');
    await staff.goto(`${base}/rules`);
    await staff.getByTestId('rules-table').locator('tbody tr').first().waitFor();
    await staff.selectOption('[data-testid=rules-scope]', 'grid:g1');
    await staff.getByTestId('rules-table').locator('input[name="heavy-use.minLitersPerBucket"]').waitFor();
    // An invalid value is refused on the field itself.
    await staff.fill('input[name="heavy-use.minLitersPerBucket"]', '-5');
    await staff.getByTestId('preview').click();
    await staff.locator('input[name="heavy-use.minLitersPerBucket"][aria-invalid=true]').waitFor();
    // In the reader's language, from the kind of problem the API names (not the API's English).
    const fieldError = staff.locator('td:has(input[name="heavy-use.minLitersPerBucket"]) .error');
    expect(await fieldError.textContent()).toContain('必须大于 0');
    // A change that raises new alerts and drops one: each is openable with its chart.
    await staff.fill('input[name="heavy-use.minLitersPerBucket"]', '4');
    await staff.fill('input[name="continuous-flow.windowMinutes"]', '1800');
    await staff.getByTestId('preview').click();
    await staff.getByTestId('backtest').waitFor();
    const appearing = staff.locator('[data-testid=appearing] li[data-household=h1]').first();
    await appearing.locator('button').click();
    await appearing.getByTestId('usage-chart').locator('canvas').waitFor();
    expect(
      await appearing
        .locator('[data-testid=chart-legend] li')
        .evaluateAll((els) => els.map((e) => e.textContent?.trim())),
    ).toEqual(expect.arrayContaining(['证据时段', '规则阈值 4 升/小时']));
    expect(await appearing.locator('.addr').textContent()).toBe(HOSTILE_ADDRESS);
    await shoot(staff, 'staff-rules-appearing');
    const gone = staff.locator(`[data-testid=disappearing] a[href="/alerts/${leakAlertId}"]`);
    expect(await gone.textContent()).toContain('持续流水');
    await gone.click();
    await staff.getByTestId('alert-detail').waitFor();
    await staff.getByTestId('usage-chart').locator('canvas').waitFor();
    await staff.goBack();
    await staff.getByTestId('rules-table').locator('input[name="heavy-use.minLitersPerBucket"]').waitFor();
    await staff.selectOption('[data-testid=rules-scope]', 'grid:g1');
    await staff.getByTestId('rules-table').locator('input[name="heavy-use.minLitersPerBucket"]').waitFor();

    await staff.fill('input[name="continuous-flow.windowMinutes"]', '');
    await staff.fill('input[name="heavy-use.minLitersPerBucket"]', '90');
    await staff.getByTestId('preview').click();
    await staff.getByTestId('backtest').waitFor();
    expect(await staff.getByTestId('backtest').textContent()).toContain('用水过多：现行规则 0 条警报');
    await shoot(staff, 'staff-rules-preview');
    await staff.fill('input[name=reason]', '老人多，降低阈值');
    await staff.getByTestId('apply').click();
    await staff.getByTestId('rules-applied').waitFor();
    expect(svc.cf.detectors.admin!.overrides({ level: 'grid', code: 'g1' })['heavy-use']).toEqual({
      params: { minLitersPerBucket: 90 },
    });
    await expect.poll(() => staff.getByTestId('rules-history').textContent()).toContain('老人多');
    for (const [path, name] of [
      ['/staff/meters', 'staff-meters'],
      ['/staff/registry', 'staff-registry'],
    ] as const) {
      await staff.goto(`${base}${path}`);
      await staff.locator('main h2').waitFor();
      await shoot(staff, name);
    }
    await staff.close();
  });

  it('lets staff edit a grid’s escalation chain: who fills each level today, errors on the field', async () => {
    const staff = await browser.context.newPage();
    await staff.setViewportSize(DESKTOP);
    await login(staff, 'staff-c1');
    await staff.goto(`${base}/staff/escalation`);
    await staff
      .locator('[data-testid=escalation-scope] option[value="grid:g1"]')
      .waitFor({ state: 'attached' });
    await staff.selectOption('[data-testid=escalation-scope]', 'grid:g1');
    // Today: the default welfare chain, its first level filled by the grid's worker.
    const people = staff.locator('[data-testid=today-welfare] td[data-col=people]').first();
    await expect.poll(() => people.textContent()).toContain('w-g1');
    await staff.locator('fieldset[data-audience=welfare] button', { hasText: '为此范围单独设置' }).click();
    const after = staff.locator('input[name="welfare.levels.0.afterMinutes"]');
    await after.fill('0');
    await staff.getByTestId('escalation-save').click();
    // The API's own validation, shown on the field; nothing stored.
    await staff.locator('input[name="welfare.levels.0.afterMinutes"][aria-invalid=true]').waitFor();
    expect(await staff.locator('#err-welfare-0').textContent()).toContain('不能小于 1');
    expect(await staff.getByTestId('escalation-error').textContent()).toContain('有输入不符合要求');
    expect(svc.cf.store.escalation.settings('grid', 'g1')?.welfare).toBeUndefined();
    await after.fill('20');
    await staff.getByTestId('escalation-save').click();
    await staff.getByTestId('escalation-saved').waitFor();
    // Messages follow a change of language (no mixed-language screen).
    await switchLanguage(staff);
    expect(await staff.getByTestId('escalation-saved').textContent()).toContain('Escalation chains saved');
    await switchLanguage(staff);
    expect(svc.cf.store.escalation.settings('grid', 'g1')?.welfare?.levels[0]).toEqual({
      notify: 'grid-workers',
      afterMinutes: 20,
    });
    await expect
      .poll(() => staff.locator('[data-testid=today-welfare] tbody tr').first().textContent())
      .toContain('20 分钟');
    expect(await staff.locator('fieldset[data-audience=welfare] legend').textContent()).toContain('网格 g1');
    // A long wait reads in days, not as "4320 分钟".
    await after.fill('4320');
    await staff.getByTestId('escalation-save').click();
    await expect
      .poll(() => staff.locator('[data-testid=today-welfare] tbody tr').first().textContent())
      .toContain('3 天');
    await after.fill('20');
    await staff.getByTestId('escalation-save').click();
    await expect
      .poll(() => staff.locator('[data-testid=today-welfare] tbody tr').first().textContent())
      .toContain('20 分钟');
    await shoot(staff, 'staff-escalation');
    await staff.close();
  });

  it('shows the street leader each grid’s time to acknowledge on the overview', async () => {
    const leader = await browser.context.newPage();
    await leader.setViewportSize(WALL);
    await login(leader, 'leader-s1');
    expect(new URL(leader.url()).pathname).toBe('/overview');
    // Grid g1: the leak acknowledged after 7 minutes, the conflict alert at once (p90 is the leak's).
    const grid = leader.locator('[data-testid=overview-grids] tr[data-grid=g1]');
    await expect.poll(() => grid.locator('[data-col=ack-p90]').textContent()).toBe('7 分钟');
    await leader.locator('details summary').click();
    const w = leader.locator('[data-testid=overview-workers] tr[data-worker=w-g1]');
    await expect.poll(() => w.locator('[data-col=ack-p50]').textContent()).toBe('7 分钟');
    await shoot(leader, 'leader-overview');
    // Trends over 30 days per grid: the area's, then g1's alone (g2's alert is not in it).
    const trend = leader.getByTestId('trend');
    const area = Number(await trend.getAttribute('data-raised'));
    await grid.locator('th button').click();
    await leader.locator('[data-testid=trend][data-grid=g1]').waitFor();
    await expect.poll(async () => Number(await trend.getAttribute('data-raised'))).toBeGreaterThan(0);
    const g1 = Number(await trend.getAttribute('data-raised'));
    expect(g1).toBeLessThan(area);
    expect(await trend.locator('h3').textContent()).toContain('第一网格');
    await trend.locator('canvas').first().waitFor();
    await shoot(leader, 'leader-overview-grid-trend');
    await leader.close();
  });

  it('is usable with the keyboard: Tab reaches an alert and Enter opens it', async () => {
    await worker.goto(`${base}/inbox`);
    await worker.locator('[data-testid=inbox] li a').first().waitFor();
    for (let i = 0; i < 30; i++) {
      await worker.keyboard.press('Tab');
      if (await worker.evaluate(() => document.activeElement?.closest('[data-alert]') !== null)) break;
    }
    await worker.keyboard.press('Enter');
    await worker.getByTestId('alert-detail').waitFor();
  });

  it('ends the session on logout with a clear message, and keeps it across a reload', async () => {
    await worker.goto(`${base}/inbox`);
    await worker.reload();
    await worker.getByTestId('inbox').waitFor();
    await worker.getByTestId('logout').click();
    await worker.getByTestId('session-ended').waitFor();
    expect(await worker.getByTestId('session-ended').textContent()).toContain('退出');
    await shoot(worker, 'login');
  });

  it('ends an expired session with a clear message', async () => {
    const late = await browser.context.newPage();
    await late.setViewportSize(PHONE);
    await login(late, 'w-g1');
    await late.getByTestId('inbox').waitFor();
    svc.clock.advanceTo(svc.clock.now() + 25 * HOUR);
    await late.reload();
    await late.getByTestId('session-ended').waitFor();
    expect(await late.getByTestId('session-ended').textContent()).toContain('登录已过期');
    await late.close();
  });
});
