/**
 * Dashboard: what the web UI costs.
 *   paint    time from navigation to the first frame in which the overview shows its figures, the
 *            roster (its first page: the 50 of 200 agents seen last) and the live event list, in Debian's chromium (playwright-core),
 *            against a server holding 1,000 state keys, 200 agents and 1,000 retained events; a
 *            cold load (fresh browser context: empty cache) and a warm one (reload: cached assets
 *            revalidated by ETag), with the bytes that crossed the wire
 *   bundle   the built client's files, raw / gzip / brotli, and what the overview loads
 *   load     the server's requests/s and CPU with one tab open on the overview, against the same
 *            window with no tab (the idle server's own timers), nothing else running
 * Server and browser share the machine; the server is pinned to core 0 and the browser to core 1
 * when taskset is available.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { pooled, sleep } from '../lib/async.js';
import { cpuWindow } from '../lib/cpu.js';
import { fmtCores, fmtInt, fmtMs, median } from '../lib/format.js';
import { pin, spawnKoor } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { DASHBOARD_DIST, dashboardUnmeasurable, launchChromium, measurePaint, ROSTER_PAGE, type Paint } from '../lib/dashboard-paint.js';

const KEYS = 1000;
const AGENTS = 200;
const EVENTS = 1000;
/** Roster rows the overview shows of them. */
const SHOWN = Math.min(AGENTS, ROSTER_PAGE);
const DIST = DASHBOARD_DIST;

async function ok(r: Promise<Response>, what: string): Promise<any> {
  const res = await r;
  if (!res.ok) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The built files: raw, .gz and .br sizes; `initial` = what the overview loads (not the chart chunk). */
function bundleSizes(): { files: Array<{ file: string; raw: number; gzip: number; br: number }>; initial: { raw: number; gzip: number; br: number }; all: { raw: number; gzip: number; br: number } } {
  const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
  const html = path.join(DIST, 'index.html');
  const page = fs.readFileSync(html, 'utf8');
  const named = new Set([...page.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1]!));
  const files = [html, ...fs.readdirSync(path.join(DIST, 'assets')).filter((f) => !/\.(br|gz)$/.test(f) && !f.endsWith('.LEGAL.txt')).map((f) => path.join(DIST, 'assets', f))].map((f) => {
    const raw = size(f);
    return { file: path.relative(DIST, f), raw, gzip: size(`${f}.gz`) || raw, br: size(`${f}.br`) || raw };
  });
  const sum = (list: typeof files) => list.reduce((a, f) => ({ raw: a.raw + f.raw, gzip: a.gzip + f.gzip, br: a.br + f.br }), { raw: 0, gzip: 0, br: 0 });
  return { files, initial: sum(files.filter((f) => f.file === 'index.html' || named.has(path.basename(f.file)))), all: sum(files) };
}

/** HTTP requests the server answered so far (all listeners, all routes), from its own registry. */
async function requestsServed(api: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('koor_http_requests_total{')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

async function loadWindow(api: string, pid: number, ms: number): Promise<{ requests: number; req_per_s: number; server_cores: number; others_cores: number }> {
  const before = await requestsServed(api);
  const cpu = cpuWindow({ server: pid });
  await sleep(ms);
  const c = cpu();
  // The two /metrics reads themselves are answered by the server: not the dashboard's.
  const requests = (await requestsServed(api)) - before - 1;
  return { requests, req_per_s: Math.round((requests / c.wall_s) * 100) / 100, server_cores: c.procs.server?.cores ?? 0, others_cores: c.others.cores };
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const warnings: string[] = [];
  if (!fs.existsSync(path.join(DIST, 'index.html'))) throw new Error(`${DIST} is missing: run npm run build first`);
  const bundle = bundleSizes();
  const tables: BenchTable[] = [
    {
      title: 'Dashboard bundle (dist/dashboard)',
      columns: ['file', 'raw', 'gzip', 'brotli'],
      rows: [
        ...bundle.files.map((f) => [f.file, fmtInt(f.raw), fmtInt(f.gzip), fmtInt(f.br)]),
        ['overview loads (page, app js + css)', fmtInt(bundle.initial.raw), fmtInt(bundle.initial.gzip), fmtInt(bundle.initial.br)],
        ['everything', fmtInt(bundle.all.raw), fmtInt(bundle.all.gzip), fmtInt(bundle.all.br)],
      ],
    },
  ];
  const unmeasurable = dashboardUnmeasurable();
  if (unmeasurable) {
    warnings.push(`${unmeasurable}: paint and load not measured`);
    return { bundle, tables, warnings };
  }

  const RUNS = quick ? 3 : 10;
  const WINDOW_MS = quick ? 15_000 : 60_000;
  const server = await spawnKoor(['--dashboard-bind', '127.0.0.1:0', '--event-retention', String(EVENTS), '--sync', 'normal']);
  let browser: Browser | null = null;
  try {
    const dashPort = Number(/"dashboard":"127\.0\.0\.1:(\d+)"/.exec(server.output())?.[1]);
    if (!dashPort) throw new Error(`no dashboard port in the server log:\n${server.output()}`);
    const dash = `http://127.0.0.1:${dashPort}/`;
    log(`filling ${KEYS} keys, ${AGENTS} agents, ${EVENTS} events`);
    const value = JSON.stringify({ owner: 'agent', status: 'in-progress', note: 'x'.repeat(60) });
    await pooled(Array.from({ length: KEYS }, (_, i) => i), 32, async (i) => {
      await ok(fetch(`${server.url}/api/state/k/${String(i).padStart(4, '0')}`, { method: 'PUT', body: value, headers: { 'content-type': 'application/json' } }), 'put');
    });
    await pooled(Array.from({ length: AGENTS }, (_, i) => i), 32, async (i) => {
      const reg = await ok(fetch(`${server.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: `agent-${i}`, workspace: `ws-${i % 7}`, intent: `task ${i}: wire the thing`, stack: i % 2 ? 'ts' : 'go' }) }), 'register');
      await ok(fetch(`${server.url}/api/instances/${reg.id}/capabilities`, { method: 'POST', body: JSON.stringify({ capabilities: ['frontend', 'testing'] }) }), 'capabilities');
      await ok(fetch(`${server.url}/api/instances/${reg.id}/activate`, { method: 'POST' }), 'activate');
    });
    await pooled(Array.from({ length: EVENTS }, (_, i) => i), 32, async (i) => {
      await ok(fetch(`${server.url}/api/events/publish`, { method: 'POST', body: JSON.stringify({ topic: i % 3 ? 'build.done' : 'task.claimed', data: { i, by: `agent-${i % AGENTS}` } }) }), 'publish');
    });

    browser = await launchChromium();
    const pinned = pin(server.pid, 0);
    if (!pinned) warnings.push('taskset unavailable: server and browser share cores');

    log('warm-up load');
    await measurePaint(browser, dash, 1, SHOWN, () => {});
    log(`paint: ${RUNS} cold + warm loads`);
    const paint = await measurePaint(browser, dash, RUNS, SHOWN, log);

    log(`load: ${WINDOW_MS / 1000} s with no tab, then ${WINDOW_MS / 1000} s with the overview open`);
    const idle = await loadWindow(server.url, server.pid, WINDOW_MS);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    let pageRequests = 0;
    page.on('request', () => pageRequests++);
    await page.goto(dash);
    await page.locator('table.roster tbody tr').nth(SHOWN - 1).waitFor({ timeout: 30_000 });
    await sleep(2000); // the first reads are over
    pageRequests = 0;
    const tab = await loadWindow(server.url, server.pid, WINDOW_MS);
    const tabPageRequests = pageRequests;
    await context.close();

    const stat = (list: Paint[], k: 'meaningful_ms' | 'fcp_ms') => {
      const xs = list.map((p) => p[k]).filter((x): x is number => x !== null);
      return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
    };
    const rows = (['cold', 'warm'] as const).map((kind) => {
      const m = stat(paint[kind], 'meaningful_ms');
      const f = stat(paint[kind], 'fcp_ms');
      return [kind === 'cold' ? 'cold (empty cache)' : 'warm (reload, ETag 304s)', fmtMs(m.median), `${fmtMs(m.min)} – ${fmtMs(m.max)}`, fmtMs(f.median), fmtInt(median(paint[kind].map((p) => p.wire_bytes))), String(median(paint[kind].map((p) => p.requests)))];
    });
    tables.push({
      title: `Overview: first meaningful paint (${KEYS} keys, ${AGENTS} agents, ${EVENTS} retained events; median of ${RUNS})`,
      columns: ['load', 'meaningful paint', 'min – max', 'first contentful paint', 'bytes on the wire', 'requests'],
      rows,
    });
    tables.push({
      title: `Server load with one overview tab open (${WINDOW_MS / 1000} s, no other traffic)`,
      columns: ['window', 'requests', 'req/s', 'server cores', 'other cores'],
      rows: [
        ['no tab (baseline)', fmtInt(idle.requests), idle.req_per_s.toFixed(2), fmtCores(idle.server_cores), fmtCores(idle.others_cores)],
        ['one tab on the overview', fmtInt(tab.requests), tab.req_per_s.toFixed(2), fmtCores(tab.server_cores), fmtCores(tab.others_cores)],
      ],
    });
    const notes = [
      `meaningful paint = navigation start → the frame after the overview shows its figures, ${SHOWN} roster rows (the agents seen last) and the event list`,
      `the tab made ${tabPageRequests} requests in the window (browser side); the server counted ${tab.requests}`,
      'server cores = CPU of the koor-server process (all threads) / wall time; the browser runs on the same machine',
    ];
    return { keys: KEYS, agents: AGENTS, events: EVENTS, runs: RUNS, window_ms: WINDOW_MS, pinned, bundle, paint, load: { idle, tab, tab_page_requests: tabPageRequests }, tables, notes, warnings };
  } finally {
    await browser?.close();
    await server.stop();
  }
}
