import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** The system Chromium (Debian's `chromium`); CI installs it, and there the browser tests must run. */
export const CHROMIUM = process.env.CAREFLOW_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = resolve('test-output', 'screenshots');

/** Whether browser tests can run; under CI a missing browser is an error, not a skip. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true')
    throw new Error(`CI: the browser tests need Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  console.warn(
    `browser tests skipped: no Chromium at ${CHROMIUM} (set CAREFLOW_CHROMIUM or install chromium)`,
  );
  return false;
}

/**
 * A fresh headless Chromium with its own profile directory; `close` removes it. `timezoneId` sets the browser's
 * own time zone (the console must show and take every time in the service's zone whatever it is).
 */
export async function launchBrowser(
  options: { timezoneId?: string } = {},
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'careflow-chromium-'));
  mkdirSync(SCREENSHOTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    locale: 'zh-CN',
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** axe-core's source, evaluated in the page (through the DevTools protocol: the page's CSP stays as it is). */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/**
 * The serious and critical WCAG 2.1 A/AA violations axe-core finds on the page as it is now (contrast,
 * names, roles, landmarks, keyboard traps…).
 */
export async function axeViolations(page: Page): Promise<AxeFinding[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    interface Result {
      violations: {
        id: string;
        impact: string | null;
        help: string;
        nodes: { target: string[]; failureSummary?: string }[];
      }[];
    }
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<Result> } }).axe;
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      resultTypes: ['violations'],
    });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({
        id: v.id,
        impact: v.impact ?? '',
        help: v.help,
        nodes: v.nodes
          .slice(0, 5)
          .map((n) => `${n.target.join(' ')} ${n.failureSummary ?? ''}`.slice(0, 300)),
      }));
  });
}

/**
 * Horizontal overflow of the page at 200 % zoom: the same page in a viewport of half the width (CSS pixels),
 * but at least 320 px (WCAG's reflow width). 0 when nothing needs sideways scrolling of the whole page.
 */
export async function overflowAtDoubleZoom(page: Page): Promise<number> {
  const size = page.viewportSize()!;
  await page.setViewportSize({
    width: Math.max(320, Math.round(size.width / 2)),
    height: Math.round(size.height / 2),
  });
  try {
    // After the page has handled the resize (charts redraw on it).
    return await page.evaluate(
      () =>
        new Promise<number>((done) =>
          requestAnimationFrame(() =>
            requestAnimationFrame(() =>
              done(document.documentElement.scrollWidth - document.documentElement.clientWidth),
            ),
          ),
        ),
    );
  } finally {
    await page.setViewportSize(size);
  }
}
