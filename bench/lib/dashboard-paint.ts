/**
 * The dashboard as a person sees it, in Debian's chromium (playwright-core): the first paint of
 * the overview they can use, and what an open tab asks of the server. Shared by the dashboard
 * suite (a quiet server) and the scale suite (a server under a team's load).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { withTimeout } from './async.js';
import { REPO_ROOT } from './suite.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];
export const DASHBOARD_DIST = path.join(REPO_ROOT, 'dist', 'dashboard');
/** Rows the overview's roster shows before "Show more" (dashboard/src/pages/overview.ts ROSTER_PAGE). */
export const ROSTER_PAGE = 50;

/** Why the dashboard cannot be measured here, or null: no chromium, or no built dashboard. */
export function dashboardUnmeasurable(): string | null {
  if (!fs.existsSync(path.join(DASHBOARD_DIST, 'index.html'))) return `${DASHBOARD_DIST} is missing: run npm run build first`;
  if (!CHROMIUM.some((p) => fs.existsSync(p))) return 'no chromium (apt-get install chromium)';
  return null;
}

/** Chromium headless, in this process's CPU affinity (a pinned bench keeps it off the server's core). */
export function launchChromium(): Promise<Browser> {
  const exe = CHROMIUM.find((p) => fs.existsSync(p));
  const args = ['--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return withTimeout(chromium.launch({ executablePath: exe, args }), 60_000, 'launching chromium');
}

export interface Paint {
  meaningful_ms: number;
  fcp_ms: number | null;
  wire_bytes: number;
  requests: number;
}

/**
 * Marks (in the page) the first frame after the overview shows its state-key figure, `rows`
 * roster rows and at least one event row: the first paint a person can use.
 */
function markMeaningfulPaint(rows: number): void {
  const w = window as unknown as { __koorPaint?: number };
  const ready = () =>
    document.querySelector('[data-metric="state_keys"]') !== null &&
    document.querySelectorAll('table.roster tbody tr').length >= rows &&
    document.querySelector('table.events tbody tr') !== null;
  const obs = new MutationObserver(() => {
    if (w.__koorPaint !== undefined || !ready()) return;
    obs.disconnect();
    // The rAF callback runs before the frame is painted; the next one after it was.
    requestAnimationFrame(() => requestAnimationFrame(() => (w.__koorPaint = performance.now())));
  });
  document.addEventListener('DOMContentLoaded', () => obs.observe(document.body, { childList: true, subtree: true }));
}

/**
 * `runs` fresh contexts, each a cold load (empty cache) then a warm one (reload: assets
 * revalidated by ETag) of the overview at `url`, until it shows `rows` roster rows.
 */
export async function measurePaint(browser: Browser, url: string, runs: number, rows: number, log: (m: string) => void): Promise<{ cold: Paint[]; warm: Paint[] }> {
  const cold: Paint[] = [];
  const warm: Paint[] = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: 'block' });
    await context.addInitScript(markMeaningfulPaint, rows);
    const page = await context.newPage();
    for (const [kind, list] of [['cold', cold], ['warm', warm]] as const) {
      const sizes: Array<Promise<number>> = [];
      const onRequest = (req: Request) => sizes.push(req.sizes().then((s) => s.responseBodySize + s.responseHeadersSize));
      page.on('requestfinished', onRequest);
      if (kind === 'cold') await page.goto(url, { waitUntil: 'commit' });
      else await page.reload({ waitUntil: 'commit' });
      try {
        await page.waitForFunction(() => (window as unknown as { __koorPaint?: number }).__koorPaint !== undefined, undefined, { timeout: 30_000 });
      } catch (e) {
        const seen = await page.evaluate(() => ({ figures: document.querySelector('[data-metric="state_keys"]')?.textContent ?? null, roster: document.querySelectorAll('table.roster tbody tr').length, events: document.querySelectorAll('table.events tbody tr').length, text: document.body.innerText.slice(0, 300) }));
        throw new Error(`the overview never became usable (${kind} load): ${JSON.stringify(seen)}: ${(e as Error).message}`);
      }
      const t = await page.evaluate(() => ({
        paint: (window as unknown as { __koorPaint: number }).__koorPaint,
        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
      }));
      page.off('requestfinished', onRequest);
      const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
      list.push({ meaningful_ms: Math.round(t.paint * 10) / 10, fcp_ms: t.fcp === null ? null : Math.round(t.fcp * 10) / 10, wire_bytes: bytes, requests: sizes.length });
    }
    await context.close();
    log(`paint run ${i + 1}/${runs}: cold ${cold.at(-1)!.meaningful_ms} ms, warm ${warm.at(-1)!.meaningful_ms} ms`);
  }
  return { cold, warm };
}

/** What an open tab asked of the server from `watch` on: HTTP requests and bytes, WebSocket frames and bytes received. */
export interface TabLoad {
  requests: number;
  http_bytes: number;
  ws_frames: number;
  ws_bytes: number;
}

/** Counts what `page` fetches and receives from now on; `read()` gives the totals so far. */
export function watchTab(page: Page): { read: () => Promise<TabLoad> } {
  const sizes: Array<Promise<number>> = [];
  let wsFrames = 0;
  let wsBytes = 0;
  page.on('requestfinished', (req) => sizes.push(req.sizes().then((s) => s.responseBodySize + s.responseHeadersSize, () => 0)));
  page.on('websocket', (ws) =>
    ws.on('framereceived', (f) => {
      wsFrames++;
      wsBytes += typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length;
    }),
  );
  return {
    read: async () => ({ requests: sizes.length, http_bytes: (await Promise.all(sizes)).reduce((a, b) => a + b, 0), ws_frames: wsFrames, ws_bytes: wsBytes }),
  };
}
