/**
 * A real browser for the dashboard tests: Debian's chromium driven by playwright-core (which
 * downloads nothing). The test setup (`npm run test:setup`) installs it before the test files run
 * when it is absent (apt-get, as root); when it still cannot be had, the browser tests skip with
 * the reason.
 *
 * Every page records each request and WebSocket it opens, and any request to a host other than
 * 127.0.0.1 is refused and recorded, so a test can check that nothing leaves the machine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { provided, type Needed } from './apt.js';
import { REPO } from './paths.js';

/** Screenshots (gitignored). */
export const TEST_OUTPUT = path.join(REPO, 'test-output', 'dashboard');

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

export function findChromium(): string | null {
  return CANDIDATES.find((p) => fs.existsSync(p)) ?? null;
}

export const CHROMIUM: Needed = { pkg: 'chromium', find: findChromium };

interface Tap {
  teardown(fn: () => unknown): void;
}

/** The browser, or the reason the browser tests skip (never a silent pass). */
export async function launchBrowser(t: Tap): Promise<Browser | { skip: string }> {
  const found = provided(CHROMIUM);
  if ('skip' in found) return { skip: `no browser: ${found.skip}` };
  const exe = found.path;
  const args = ['--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: exe, args, timeout: 60_000 });
  t.teardown(() => browser.close());
  return browser;
}

export interface Recorded {
  /** Every request the pages made (http: and ws:), by URL. */
  urls: string[];
  /** Requests refused because they went elsewhere than 127.0.0.1. */
  blocked: string[];
  /** Uncaught page errors and console errors. */
  errors: string[];
}

/** A fresh browser context (its own sessionStorage) that records and confines its traffic. */
export async function newContext(browser: Browser, opts: { width?: number; height?: number } = {}): Promise<{ context: BrowserContext; page: Page; rec: Recorded }> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 }, serviceWorkers: 'block', acceptDownloads: true });
  const rec: Recorded = { urls: [], blocked: [], errors: [] };
  await context.route('**/*', (route) => {
    const url = route.request().url();
    rec.urls.push(url);
    const u = new URL(url);
    if ((u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '127.0.0.1') {
      rec.blocked.push(url);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  const page = await context.newPage();
  page.on('websocket', (ws) => rec.urls.push(ws.url()));
  page.on('pageerror', (e) => rec.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A refused request (401 on purpose, a WebSocket cut by a test) also logs an error: the tests
    // look at what they expect; uncaught exceptions are what must never happen.
    if (m.type() === 'error' && !/Failed to load resource|WebSocket connection/.test(m.text())) rec.errors.push(`console: ${m.text()}`);
  });
  return { context, page, rec };
}

/** Saves a full-page screenshot as test-output/dashboard/<name>.png. */
export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(TEST_OUTPUT, { recursive: true });
  const file = path.join(TEST_OUTPUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Form controls on the page without an accessible name (a label, aria-label or aria-labelledby). */
export function unlabelled(page: Page): Promise<string[]> {
  return page.$$eval('input:not([type=hidden]), select, textarea, button', (els) =>
    els
      .filter((e) => {
        const el = e as HTMLInputElement;
        if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
        if (el.tagName === 'BUTTON') return (el.textContent ?? '').trim() === '';
        return !(el.labels && el.labels.length > 0);
      })
      .map((e) => e.outerHTML.slice(0, 120)),
  );
}
