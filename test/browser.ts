import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

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

/** A fresh headless Chromium with its own profile directory; `close` removes it. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
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
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
