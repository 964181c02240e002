/**
 * Bounded reads: does a large read stall everyone else? A server holding 100,000 keys and
 * 100,000 retained events (quick: 20,000 each) answers a probe — one client doing sequential
 * cached `GET /api/state/<key>` — while another process runs one heavy reader at a time:
 *   list     pages through every key (`GET /api/state?limit=5000`, the largest page, following Link)
 *   replay   a `since=0` subscriber reading every retained event, again and again
 *   history  `GET /api/events/history?topic=never.*` (a filter matching nothing, whole log)
 * The probe's p50/p99/max next to its own figures with no heavy reader (the baseline, same run).
 * A read that held the event loop for the whole result set (as before paging and stepwise
 * replay) shows up as probe p99/max in the tens to hundreds of milliseconds.
 * Server pinned to core 0, probe and heavy reader to core 1 (taskset), when available.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pooled, withTimeout } from '../lib/async.js';
import { cpuWindow } from '../lib/cpu.js';
import { fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { pin, spawnKoor } from '../lib/processes.js';
import { BENCH_DIST_DIR, type BenchOptions, type BenchTable } from '../lib/suite.js';

const PROBE_KEY = 'k/000001';

async function probe(url: string, ms: number): Promise<{ latency: LatencySummary; count: number }> {
  const h = new LatencyHistogram();
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const t0 = process.hrtime.bigint();
    const r = await fetch(url);
    await r.arrayBuffer();
    h.record(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { latency: h.summary(), count: h.count };
}

function heavy(mode: string, url: string, ms: number, last: number): Promise<{ mode: string; ops: number; items: number; errors: number }> {
  const child = spawn(process.execPath, [path.join(BENCH_DIST_DIR, 'bounded', 'load.js'), mode, url, String(ms), String(last)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ mode: string; ops: number; items: number; errors: number }>((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bounded-load ${mode} exited ${code}: ${err}`)))),
  );
  return withTimeout(done, ms + 30_000, `heavy reader ${mode}`);
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const KEYS = quick ? 20_000 : 100_000;
  const EVENTS = quick ? 20_000 : 100_000;
  const WINDOW_MS = quick ? 3000 : 8000;
  const server = await spawnKoor(['--event-retention', String(EVENTS), '--sync', 'normal']);
  const pinned = pin(server.pid, 0) && pin(process.pid, 1);
  const warnings: string[] = [];
  if (!pinned) warnings.push('taskset unavailable: server and clients share cores');
  try {
    log(`filling ${KEYS} keys and ${EVENTS} events`);
    const value = JSON.stringify({ owner: 'agent', status: 'in-progress', note: 'x'.repeat(60) });
    const keys = Array.from({ length: KEYS }, (_, i) => `k/${String(i).padStart(6, '0')}`);
    await pooled(keys, 64, async (k) => {
      const r = await fetch(`${server.url}/api/state/${k}`, { method: 'PUT', body: value });
      await r.arrayBuffer();
    });
    let last = 0;
    await pooled(Array.from({ length: EVENTS }, (_, i) => i), 64, async (i) => {
      const r = await fetch(`${server.url}/api/events/publish`, { method: 'POST', body: JSON.stringify({ topic: i % 2 ? 'build.done' : 'task.claimed', data: { i } }) });
      const e = (await r.json()) as { id: number };
      if (e.id > last) last = e.id;
    });

    const probeUrl = `${server.url}/api/state/${PROBE_KEY}`;
    await probe(probeUrl, 500); // warm-up
    const rows: BenchTable['rows'] = [];
    const results: Record<string, unknown> = {};
    log('probe alone (baseline)');
    const base = await probe(probeUrl, WINDOW_MS);
    results.baseline = base;
    rows.push(['(none: baseline)', '-', fmtMs(base.latency.p50), fmtMs(base.latency.p99), fmtMs(base.latency.max), '1.00x', '-']);
    for (const mode of ['list', 'replay', 'history'] as const) {
      log(`probe while ${mode} runs`);
      const cpu = cpuWindow({ server: server.pid });
      const [p, h] = await Promise.all([probe(probeUrl, WINDOW_MS), heavy(mode, server.url, WINDOW_MS + 500, last)]);
      const c = cpu();
      results[mode] = { probe: p, heavy: h, server_cores: c.procs.server?.cores ?? null };
      const work = mode === 'list' ? `${h.ops} full listings (${h.items} keys)` : mode === 'replay' ? `${h.ops} full replays (${h.items} events)` : `${h.ops} scans`;
      rows.push([mode, work, fmtMs(p.latency.p50), fmtMs(p.latency.p99), fmtMs(p.latency.max), fmtRatio(ratio(p.latency.p99 ?? 0, base.latency.p99 ?? 0)), h.errors === 0 ? 'ok' : `${h.errors} errors`]);
    }
    const tables: BenchTable[] = [
      {
        title: `Cached GET p99 while a large read runs (${KEYS} keys, ${EVENTS} retained events, ${WINDOW_MS / 1000} s each)`,
        columns: ['heavy reader', 'work done', 'probe p50', 'probe p99', 'probe max', 'p99 vs baseline', 'status'],
        rows,
      },
    ];
    return { keys: KEYS, events: EVENTS, window_ms: WINDOW_MS, pinned, results, tables, warnings };
  } finally {
    await server.stop();
  }
}
