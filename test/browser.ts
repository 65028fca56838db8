import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BrowserContext, Page } from 'playwright-core';

/** Debian's Chromium, which .ci/run installs. */
export const CHROMIUM = '/usr/bin/chromium';

export function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's Chromium. Install the Debian package "chromium": apt-get install -y chromium`);
  }
}

/**
 * Headless Chromium with a fresh profile and no background networking; every request that is
 * not a file:// URL is aborted and recorded in `blocked`, so pages must work offline.
 */
export async function launchOffline(): Promise<{ context: BrowserContext; blocked: string[]; close: () => Promise<void> }> {
  requireChromium();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'jukebox-chromium-'));
  const { chromium } = await import('playwright-core');
  // playwright takes the profile directory as an argument (it refuses a --user-data-dir flag).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file://')) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  return {
    context,
    blocked,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens a local file and collects console errors and uncaught page errors. */
export async function openPage(context: BrowserContext, file: string): Promise<{ page: Page; consoleErrors: string[]; pageErrors: string[] }> {
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`file://${file}`, { waitUntil: 'load' });
  return { page, consoleErrors, pageErrors };
}

/**
 * Seeks the page's audio element (CSS `selector`) to `t` seconds and returns the text of the
 * karaoke page's current word just after the seek lands (null where no word is current).
 */
export async function currentWordAt(page: Page, selector: string, t: number): Promise<string | null> {
  return page.evaluate(({ selector, t }) => new Promise<string | null>((resolve) => {
    const audio = document.querySelector(selector) as HTMLAudioElement;
    audio.addEventListener('seeked', () => setTimeout(() => resolve(document.querySelector('.jbx-word.jbx-current')?.textContent ?? null), 50), { once: true });
    audio.currentTime = t;
  }), { selector, t });
}
