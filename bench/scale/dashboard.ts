/**
 * The dashboard beside a team at work: the overview's first paint while the agents run, then one
 * tab left open on it for a while, what it fetched and was pushed counted.
 */
import type { Browser } from 'playwright-core';
import { sleep } from '../lib/async.js';
import { median } from '../lib/format.js';
import { measurePaint, ROSTER_PAGE, watchTab } from '../lib/dashboard-paint.js';

export interface DashboardStep {
  /** Median over the runs: navigation → the frame showing the figures, a page of the roster, the events. */
  paint_cold_ms: number;
  paint_warm_ms: number;
  /** Bytes a cold load fetched (median). */
  cold_bytes: number;
  /** The open tab, per second of its window: HTTP requests and KB, WebSocket frames and KB. */
  tab_req_per_s: number;
  tab_http_kb_per_s: number;
  tab_ws_frames_per_s: number;
  tab_ws_kb_per_s: number;
  tab_window_s: number;
}

const PAINT_RUNS = 3;

/** From `from` (performance.now() clock) measures the paint, then keeps a tab open on `url` for `tabMs`. */
export async function dashboardBeside(browser: Browser, url: string, from: number, tabMs: number, log: (m: string) => void): Promise<DashboardStep> {
  await sleep(Math.max(0, from - performance.now()));
  const paint = await measurePaint(browser, url, PAINT_RUNS, ROSTER_PAGE, (m) => log(`  dashboard ${m}`));
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    const tab = watchTab(page);
    await page.goto(url);
    await page.locator('table.roster tbody tr').nth(ROSTER_PAGE - 1).waitFor({ timeout: 30_000 });
    await sleep(1000); // the first reads are over
    const a = await tab.read();
    const t0 = performance.now();
    await sleep(tabMs);
    const b = await tab.read();
    const s = (performance.now() - t0) / 1000;
    const per = (x: number) => Math.round((x / s) * 10) / 10;
    return {
      paint_cold_ms: median(paint.cold.map((p) => p.meaningful_ms)),
      paint_warm_ms: median(paint.warm.map((p) => p.meaningful_ms)),
      cold_bytes: median(paint.cold.map((p) => p.wire_bytes)),
      tab_req_per_s: per(b.requests - a.requests),
      tab_http_kb_per_s: per((b.http_bytes - a.http_bytes) / 1024),
      tab_ws_frames_per_s: per(b.ws_frames - a.ws_frames),
      tab_ws_kb_per_s: per((b.ws_bytes - a.ws_bytes) / 1024),
      tab_window_s: Math.round(s),
    };
  } finally {
    await context.close();
  }
}
