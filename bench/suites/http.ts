/**
 * HTTP benchmark: koor-server against a bare uWS app serving the same 1 KB JSON from a Map
 * (bench/baselines/uws.ts). Both are separate processes; the load generator (autocannon) runs in
 * this process. Same settings for both (50 connections, pipelining 1, same duration, a warm-up
 * that is not counted), back to back, for:
 *   get      GET /api/state/bench/doc (1 KB JSON, 200)
 *   get_304  the same with If-None-Match: the current ETag (304, no body)
 *   put      PUT 1 KB JSON spread over 1000 keys (koor: durable, the WAL synced at each commit; baseline: Map)
 * Goals (2 cores): koor GET >= 0.8x baseline; durable PUT >= 40,000/s.
 *
 *   npm run bench -- http [--quick]
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type autocannon from 'autocannon';
import { withTimeout } from '../lib/async.js';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { have, pin, spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { wrk, wrkCpu, wrkScript } from '../lib/wrk.js';
import { DOC_BYTES, makeDoc } from '../lib/doc.js';
import { WEBHOOK_BACKLOG_MAX, WEBHOOK_THREAD_NICE } from '../../src/shared/limits-features.js';

const CONNECTIONS = 50;
const PIPELINING = 1;
const DOC_KEY = 'bench/doc';
const DOC_PATH = `/api/state/${DOC_KEY}`;
const PUT_KEYS = 1000;
const PUT_PREFIX = '/api/state/bench/put/';
const GET_RATIO_GOAL = 0.8;
const DURABLE_PUT_GOAL = 40_000;
/** Load-generator CPU above this (cores) means autocannon, not the server, may be the limit. */
const LOADGEN_SATURATED_CORES = 0.9;
/** Other processes using more than this (cores) during a measured run: rerun it once. */
const CONTAMINATED_CORES = 0.25;

interface Target {
  name: 'koor' | 'baseline';
  proc: ServerProc;
  etag: string;
  /** Response header names of a 200 GET (sanity: both servers send the same set). */
  getHeaders: string[];
}

const HEADERS_OF_INTEREST = ['content-type', 'etag', 'x-koor-version'];

/** Stores the doc, then checks GET 200 (body, headers) and GET 304 on one server. */
async function prepare(name: Target['name'], proc: ServerProc, doc: string): Promise<Target> {
  const url = proc.url + DOC_PATH;
  const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: doc, signal: AbortSignal.timeout(5000) });
  const putBody = await put.text();
  if (put.status !== 200) throw new Error(`${name}: PUT ${DOC_PATH} → ${put.status} ${putBody}`);
  const get = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await get.text();
  const etag = get.headers.get('etag') ?? '';
  if (get.status !== 200 || body !== doc) throw new Error(`${name}: GET ${DOC_PATH} → ${get.status}, body ${body.length} bytes (want the ${doc.length}-byte doc)`);
  if (etag === '' || etag !== put.headers.get('etag')) throw new Error(`${name}: ETag of GET (${etag}) differs from PUT's (${put.headers.get('etag')})`);
  const getHeaders = HEADERS_OF_INTEREST.filter((h) => get.headers.has(h));
  const nm = await fetch(url, { headers: { 'if-none-match': etag }, signal: AbortSignal.timeout(5000) });
  const nmBody = await nm.text();
  if (nm.status !== 304 || nmBody !== '') throw new Error(`${name}: GET with If-None-Match → ${nm.status} (want 304, empty body)`);
  return { name, proc, etag, getHeaders };
}

interface Scenario {
  id: 'get' | 'get_304' | 'put';
  title: string;
  okStatuses: number[];
  load: (t: Target) => {
    url: string;
    method: 'GET' | 'PUT';
    headers?: Record<string, string>;
    body?: string;
    setupClient?: (c: autocannon.Client) => void;
  };
}

/** Connection i cycles over its own slice of the PUT_KEYS keys (all keys get written). */
function putClients(doc: string): (c: autocannon.Client) => void {
  let next = 0;
  const perConn = Math.ceil(PUT_KEYS / CONNECTIONS);
  return (client) => {
    const first = (next++ % CONNECTIONS) * perConn;
    const reqs: autocannon.Request[] = [];
    for (let k = first; k < Math.min(first + perConn, PUT_KEYS); k++) {
      reqs.push({ method: 'PUT', path: `${PUT_PREFIX}${k}`, headers: { 'content-type': 'application/json' }, body: doc });
    }
    client.setRequests(reqs);
  };
}

function scenarios(doc: string): Scenario[] {
  return [
    { id: 'get', title: 'GET 1 KB JSON', okStatuses: [200], load: (t) => ({ url: t.proc.url + DOC_PATH, method: 'GET' }) },
    {
      id: 'get_304',
      title: 'GET If-None-Match (304)',
      okStatuses: [304],
      load: (t) => ({ url: t.proc.url + DOC_PATH, method: 'GET', headers: { 'if-none-match': t.etag } }),
    },
    {
      id: 'put',
      title: `PUT 1 KB over ${PUT_KEYS} keys`,
      okStatuses: [200],
      load: (t) => ({
        url: `${t.proc.url}${PUT_PREFIX}0`,
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: doc,
        setupClient: putClients(doc),
      }),
    },
  ];
}

type RunSummary = Pick<LoadResult, 'rps' | 'responses' | 'ok_responses' | 'duration_s' | 'latency_ms' | 'statuses' | 'unexpected' | 'errors' | 'timeouts' | 'cpu' | 'autocannon'> & {
  /** Measured runs made (more than one when other processes used the cores meanwhile). */
  attempts: number;
  warmup: { responses: number; unexpected: number; errors: number; statuses: Record<string, number> };
};

const topOthers = (r: LoadResult): string => {
  const o = r.cpu.others;
  const seen = o.top
    .filter((x) => !x.kernel)
    .slice(0, 3)
    .map((x) => `${x.comm}[${x.pid}] ${fmtCores(x.cores)}`);
  if (o.cores - o.seen_cores >= 0.05) seen.push(`${fmtCores(o.cores - o.seen_cores)} in processes that came and went`);
  return seen.join(', ');
};

/** Bytes of every file in `dir` (data.db, its WAL and shm). */
function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/**
 * The PUT run twice more, on two fresh servers: state-history retention active (the default keep
 * of 100 versions, a pass every second) and off (keep 0). The warm-up writes every key past 100
 * versions, so the measured run prunes on every write. Reports req/s, p50/p99 and the data
 * directory's size before and after the measured run.
 */
async function retentionPut(opts: BenchOptions, doc: string, durationS: number, warmupS: number, failures: string[]) {
  const modes = [
    { id: 'active', label: 'retention active (keep 100, pass every 1 s)', args: ['--state-history-keep', '100', '--prune-interval', '1s'] },
    { id: 'off', label: 'retention off (keep 0)', args: ['--state-history-keep', '0'] },
  ] as const;
  const results: Record<string, unknown> = {};
  const rows: BenchTable['rows'] = [];
  for (const m of modes) {
    const proc = await spawnKoor([...m.args]);
    try {
      const target: Target = { name: 'koor', proc, etag: '', getHeaders: [] };
      const load = scenarios(doc).find((s) => s.id === 'put')!.load(target);
      const common = { ...load, connections: CONNECTIONS, pipelining: PIPELINING, okStatuses: [200], timeoutS: 5 };
      // Long enough to take every key past 100 versions (~10-15k PUT/s over 1000 keys).
      opts.log(`put ${m.id}: filling history (12s)`);
      await runLoad({ ...common, durationS: 12 });
      const before = dirBytes(proc.dataDir);
      opts.log(`put ${m.id}: measuring ${durationS}s`);
      const r = await runLoad({ ...common, durationS, pids: { koor: proc.pid } });
      const after = dirBytes(proc.dataDir);
      const metrics = (await (await fetch(`${proc.url}/api/metrics`)).json()) as { retention: { state_history_pruned: number } };
      if (r.errors > 0 || r.unexpected > 0) failures.push(`put ${m.id}: ${r.errors} errors, ${r.unexpected} unexpected statuses`);
      const okRps = Math.round(r.ok_responses / r.duration_s);
      results[m.id] = { rps: okRps, latency_ms: r.latency_ms, dir_bytes_before: before, dir_bytes_after: after, state_history_pruned: metrics.retention.state_history_pruned, server_cores: r.cpu.procs.koor?.cores ?? null };
      rows.push([m.label, fmtInt(okRps), fmtMs(r.latency_ms.p50), fmtMs(r.latency_ms.p99), (before / 1e6).toFixed(1), (after / 1e6).toFixed(1), fmtInt(metrics.retention.state_history_pruned)]);
    } finally {
      await proc.stop();
    }
  }
  const table: BenchTable = {
    title: `Durable PUT 1 KB over ${PUT_KEYS} keys with every key past 100 versions: retention active vs off, ${durationS}s each`,
    columns: ['server', 'PUT/s', 'p50 ms', 'p99 ms', 'data dir MB before', 'after', 'history rows pruned'],
    rows,
  };
  return { table, results };
}

/**
 * The cost of operations: durable PUT/s and publish/s on fresh servers (a) as is (every
 * PUT is audited, as the audit log requires; no webhook), (b) with 5 active webhooks matching every
 * event, delivered to a local receiver process (each publish causes 5 POSTs, made by the delivery
 * thread from the webhooks' cursors in the event log), (c) with every request identified as an agent
 * (X-Koor-Instance: audit actor, per-agent metrics). Goal: each costs at most 10 % of (a).
 */
/**
 * The receiver's delivery count, on a connection of its own: uWS closes idle keep-alive
 * connections after 10 s, and fetch fails on one it reuses after a 10 s run.
 */
function deliveredTo(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/count`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve((JSON.parse(text) as { deliveries: number }).deliveries));
      })
      .on('error', reject);
  });
}

export async function operationsCost(opts: BenchOptions, doc: string, durationS: number, warmupS: number, failures: string[]) {
  const receiver = await spawnBenchScript('webhook-receiver', 'http/webhook-receiver.js');
  // wrk pinned to core 1 (with the receiver, at nice 19), the server on core 0, when the machine
  // has them: autocannon shares the cores with the server, the deliveries and the receiver, and a
  // generator that slows down reads as a slower server.
  const pinned = have('wrk') && have('taskset') && os.availableParallelism() >= 2;
  if (pinned) pin(receiver.pid, 1);
  else opts.log('operations: wrk/taskset or a second core missing: autocannon, unpinned (noisier)');
  const tmp = makeTempDir('koor-bench-ops-');
  const publishBody = JSON.stringify({ topic: 'bench.ops', data: { doc } });
  const modes = [
    { id: 'plain', label: 'no webhook, anonymous (audit on)' },
    { id: 'webhooks', label: '5 webhooks → local receiver' },
    { id: 'identified', label: 'identified agent (actor + agent metrics)' },
  ] as const;
  const results: Record<string, Record<string, unknown>> = {};
  const rows: BenchTable['rows'] = [];
  try {
    for (const m of modes) {
      const proc = await spawnKoor([]);
      if (pinned) pin(proc.pid, 0);
      try {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (m.id === 'webhooks') {
          for (let i = 0; i < 5; i++) {
            const r = await fetch(`${proc.url}/api/webhooks`, { method: 'POST', headers, body: JSON.stringify({ id: `bench-${i}`, url: `${receiver.url}/hook`, secret: 'bench' }) });
            if (r.status !== 200) throw new Error(`webhook create: ${r.status}`);
          }
        }
        if (m.id === 'identified') {
          const reg = (await (await fetch(`${proc.url}/api/instances/register`, { method: 'POST', headers, body: '{"name":"bench-agent"}' })).json()) as { instance_id: string };
          headers['x-koor-instance'] = reg.instance_id;
        }
        const put = scenarios(doc).find((x) => x.id === 'put')!.load({ name: 'koor', proc, etag: '', getHeaders: [] });
        const putSpec = { ...put, headers: { ...put.headers, ...headers }, setupClient: undefined, connections: CONNECTIONS, pipelining: PIPELINING, okStatuses: [200], timeoutS: 5 };
        const pubSpec = { url: `${proc.url}/api/events/publish`, method: 'POST' as const, headers, body: publishBody, connections: CONNECTIONS, pipelining: PIPELINING, okStatuses: [200], timeoutS: 5 };
        const before = await deliveredTo(receiver.url);
        /** One measured run: requests/s, p99, CPU of the server's main thread per request. */
        type Run = { rps: number; p99_ms: number | null; main_us: number | null };
        const measure = async (what: 'put' | 'publish'): Promise<Run> => {
          opts.log(`operations ${m.id}: ${what} ${durationS}s${pinned ? ' (wrk, pinned)' : ''}`);
          if (pinned) {
            const file = wrkScript(tmp.dir, `${m.id}-${what}`, what === 'put' ? { method: 'PUT', headers, body: doc, cycleKeys: '/api/state/bench/put/', keys: PUT_KEYS } : { method: 'POST', headers, body: publishBody });
            const url = what === 'put' ? `${proc.url}/api/state/bench/put/0` : `${proc.url}/api/events/publish`;
            wrk(url, file, warmupS, CONNECTIONS);
            const r = wrkCpu(proc.pid, url, file, durationS, CONNECTIONS);
            if (r.non2xx > 0) failures.push(`operations ${m.id} ${what}: ${r.non2xx} non-2xx replies`);
            return { rps: r.rps, p99_ms: r.p99_ms, main_us: r.main_us ?? null };
          }
          const spec = what === 'put' ? putSpec : pubSpec;
          await runLoad({ ...spec, durationS: warmupS });
          const r = await runLoad({ ...spec, durationS, pids: { koor: proc.pid } });
          if (r.errors > 0 || r.unexpected > 0) failures.push(`operations ${m.id} ${what}: ${r.errors} errors, ${r.unexpected} unexpected statuses`);
          const main = r.cpu.procs.koor?.threads.find((t) => t.main);
          return { rps: Math.round(r.ok_responses / r.duration_s), p99_ms: r.latency_ms.p99, main_us: main && r.ok_responses > 0 ? (main.cores * r.duration_s * 1e6) / r.ok_responses : null };
        };
        const p = await measure('put');
        const e = await measure('publish');
        // Deliveries made while the publishes ran, and what the outbox still held at the end.
        const after = await deliveredTo(receiver.url);
        const hooks = (await (await fetch(`${proc.url}/api/webhooks`)).json()) as Array<{ pending: number }>;
        const pending = hooks.reduce((n, h) => n + h.pending, 0);
        const putRps = p.rps;
        const pubRps = e.rps;
        // CPU of the server's main (JS) thread per request: the request path's own cost, which a
        // shared machine disturbs far less than req/s (background threads are reported apart).
        const putMainUs = p.main_us;
        const pubMainUs = e.main_us;
        results[m.id] = {
          put_rps: putRps,
          put_p99_ms: p.p99_ms,
          put_main_thread_us: putMainUs,
          publish_rps: pubRps,
          publish_p99_ms: e.p99_ms,
          publish_main_thread_us: pubMainUs,
          deliveries: after - before,
          pending_after: pending,
          driver: pinned ? 'wrk, server core 0, wrk + receiver core 1' : 'autocannon, unpinned',
        };
        const us = (x: number | null) => (x === null ? '-' : x.toFixed(1));
        rows.push([m.label, fmtInt(putRps), fmtMs(p.p99_ms), us(putMainUs), fmtInt(pubRps), fmtMs(e.p99_ms), us(pubMainUs), m.id === 'webhooks' ? fmtInt(after - before) : '-', m.id === 'webhooks' ? fmtInt(pending) : '-']);
      } finally {
        await proc.stop();
      }
    }
  } finally {
    await receiver.stop();
    tmp.remove();
  }
  const plain = results.plain!;
  const ratios = Object.fromEntries(
    (['webhooks', 'identified'] as const).map((id) => [id, { put: ratio(results[id]!.put_rps as number, plain.put_rps as number), publish: ratio(results[id]!.publish_rps as number, plain.publish_rps as number) }]),
  );
  const usRatio = (id: string, k: string) => ratio(plain[k] as number, results[id]![k] as number);
  const cpuRatios = Object.fromEntries((['webhooks', 'identified'] as const).map((id) => [id, { put: usRatio(id, 'put_main_thread_us'), publish: usRatio(id, 'publish_main_thread_us') }]));
  for (const id of ['webhooks', 'identified'] as const) {
    rows.push([`${id} / plain`, fmtRatio(ratios[id]!.put), '', fmtRatio(cpuRatios[id]!.put), fmtRatio(ratios[id]!.publish), '', fmtRatio(cpuRatios[id]!.publish), '', '']);
  }
  const table: BenchTable = {
    title: `Cost of operations (goal: each >= 0.90x of plain), ${CONNECTIONS} connections, ${durationS}s per run, ${pinned ? 'wrk on core 1, server on core 0' : 'autocannon, unpinned'}`,
    columns: ['server', 'PUT/s', 'PUT p99 ms', 'PUT main us', 'publish/s', 'publish p99 ms', 'pub main us', 'deliveries', 'pending after'],
    rows,
  };
  const notes = [
    "'main us' = CPU of koor's main thread per request; its ratio row is plain / mode (1.00x = no extra request-path CPU). On a busy machine req/s ratios are noisy, the CPU ratios much less.",
    `webhooks: each publish matches all 5 webhooks (5 POSTs to a uWS receiver process on this machine, at nice 19 on the generator's core: it stands in for another host). The delivery thread runs at nice +${WEBHOOK_THREAD_NICE}: when the cores are busy, publishing wins and deliveries wait in the backlog (at most ${WEBHOOK_BACKLOG_MAX.toLocaleString('en')} events per webhook; 'pending after' = what is left to deliver).`,
  ];
  return { table, notes, results: { ...results, ratios, main_thread_cpu_ratios: cpuRatios } };
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = opts.quick ? 3 : 10;
  const warmupS = opts.quick ? 1 : 2;
  /** Reruns of a measured run that other processes disturbed (bounded: quick stays < 60 s). */
  const maxReruns = opts.quick ? 1 : 2;
  const doc = makeDoc();
  /** Errors and wrong statuses: the run is invalid (ok: false). */
  const failures: string[] = [];
  /** Other processes competing for the cores: figures are noisy but valid. */
  const noise: string[] = [];
  const notes: string[] = [];

  opts.log('starting koor-server and the bare-uWS baseline (separate processes)');
  const [koorProc, baseProc] = await Promise.all([spawnKoor(), spawnBenchScript('baseline-uws', 'baselines/uws.js')]);
  try {
    opts.log(`koor-server pid ${koorProc.pid} ${koorProc.url} (data ${koorProc.dataDir}); baseline pid ${baseProc.pid} ${baseProc.url}`);
    const targets = await withTimeout(Promise.all([prepare('koor', koorProc, doc), prepare('baseline', baseProc, doc)]), 15_000, 'prepare');
    const [koor, base] = targets;
    if (koor.getHeaders.join() !== base.getHeaders.join()) {
      failures.push(`GET response headers differ: koor [${koor.getHeaders}] vs baseline [${base.getHeaders}]`);
    }
    const pids = { koor: koorProc.pid, baseline: baseProc.pid };

    const results: Record<string, Record<string, RunSummary>> = {};
    let koorPutAcked = 0;
    let koorPutRuns = 0;
    for (const sc of scenarios(doc)) {
      results[sc.id] = {};
      for (const t of targets) {
        const l = sc.load(t);
        const common = { ...l, connections: CONNECTIONS, pipelining: PIPELINING, okStatuses: sc.okStatuses, timeoutS: 5 };
        const all: LoadResult[] = [];
        const checked = (what: string, x: LoadResult): LoadResult => {
          all.push(x);
          if (x.errors > 0 || x.unexpected > 0) {
            failures.push(`${sc.id} ${t.name} ${what}: ${x.errors} connection errors (${x.timeouts} timeouts), ${x.unexpected} unexpected statuses ${JSON.stringify(x.statuses)}`);
          }
          if (x.responses === 0) failures.push(`${sc.id} ${t.name} ${what}: no responses at all`);
          return x;
        };
        opts.log(`${sc.id} ${t.name}: warm-up ${warmupS}s`);
        const w = checked('warm-up', await runLoad({ ...common, durationS: warmupS }));
        opts.log(`${sc.id} ${t.name}: measuring ${durationS}s`);
        let r = checked('measured run', await runLoad({ ...common, durationS, pids }));
        let attempts = 1;
        while (r.cpu.others.cores > CONTAMINATED_CORES && attempts <= maxReruns) {
          // Someone else used the cores meanwhile: try again, keep the cleanest run.
          opts.log(`${sc.id} ${t.name}: other processes used ${fmtCores(r.cpu.others.cores)} cores (${topOthers(r)}); measuring again`);
          const again = checked('measured rerun', await runLoad({ ...common, durationS, pids }));
          attempts++;
          if (again.cpu.others.cores < r.cpu.others.cores) r = again;
        }
        if (r.cpu.others.cores > CONTAMINATED_CORES) {
          noise.push(`${sc.id} ${t.name}: other processes used ${fmtCores(r.cpu.others.cores)} cores during the measured run (${topOthers(r)})`);
        }
        if (sc.id === 'put' && t.name === 'koor') {
          koorPutAcked = all.reduce((a, x) => a + x.ok_responses, 0);
          koorPutRuns = all.length;
        }
        const { rps, responses, ok_responses, duration_s, latency_ms, statuses, unexpected, errors, timeouts, cpu, autocannon } = r;
        results[sc.id]![t.name] = {
          rps,
          responses,
          ok_responses,
          duration_s,
          latency_ms,
          statuses,
          unexpected,
          errors,
          timeouts,
          cpu,
          autocannon,
          attempts,
          warmup: { responses: w.responses, unexpected: w.unexpected, errors: w.errors, statuses: w.statuses },
        };
        opts.log(
          `${sc.id} ${t.name}: ${fmtInt(rps)} req/s p50 ${fmtMs(latency_ms.p50)} ms p99 ${fmtMs(latency_ms.p99)} ms; ` +
            `cores: ${t.name} ${fmtCores(cpu.procs[t.name]?.cores)}, loadgen ${fmtCores(cpu.loadgen.cores)}, other ${fmtCores(cpu.others.cores)}`,
        );
      }
    }

    // Every acknowledged PUT must be a committed version: sum of versions over the PUT keys
    // (each starts at 1 and is +1 per PUT) >= 200s counted; the excess is requests still in
    // flight when autocannon stopped (at most one per connection per run).
    const listRes = await fetch(`${koorProc.url}/api/state?limit=5000`, { signal: AbortSignal.timeout(10_000) });
    if (listRes.status !== 200) throw new Error(`koor: GET /api/state → ${listRes.status} ${await listRes.text()}`);
    const list = (await listRes.json()) as Array<{ key: string; version: number }>;
    const putRows = list.filter((x) => x.key.startsWith('bench/put/'));
    const committed = putRows.reduce((a, x) => a + x.version, 0);
    const putCheck = { keys_written: putRows.length, acked_200: koorPutAcked, committed_versions: committed, unacked_in_flight_at_stop: committed - koorPutAcked };
    if (committed < koorPutAcked) failures.push(`koor acknowledged ${koorPutAcked} PUTs but only ${committed} versions are committed`);
    if (committed - koorPutAcked > koorPutRuns * CONNECTIONS) {
      failures.push(`koor committed ${committed - koorPutAcked} more PUTs than it acknowledged (> ${koorPutRuns * CONNECTIONS} could be in flight at the ends of the runs)`);
    }
    if (putRows.length !== PUT_KEYS) failures.push(`koor has ${putRows.length} bench/put/ keys, want ${PUT_KEYS}`);

    const r = (id: string, n: 'koor' | 'baseline') => results[id]![n]!;
    const okRps = (x: RunSummary) => Math.round(x.ok_responses / x.duration_s);
    /** Server CPU per successful response, µs: independent of who saturated first. */
    const cpuPerReq = (x: RunSummary, n: 'koor' | 'baseline') => {
      const c = x.cpu.procs[n];
      return c && x.ok_responses > 0 ? Math.round((c.cpu_s / x.ok_responses) * 1e7) / 10 : null;
    };
    const ids = ['get', 'get_304', 'put'] as const;
    const ratios = Object.fromEntries(ids.map((id) => [id, ratio(okRps(r(id, 'koor')), okRps(r(id, 'baseline')))])) as Record<(typeof ids)[number], number | null>;
    /** baseline CPU/req ÷ koor CPU/req: 1.0 = koor costs the server no more than bare uWS. */
    const cpuEfficiency = Object.fromEntries(
      ids.map((id) => {
        const k = cpuPerReq(r(id, 'koor'), 'koor');
        const b = cpuPerReq(r(id, 'baseline'), 'baseline');
        return [id, k && b ? ratio(b, k) : null];
      }),
    ) as Record<(typeof ids)[number], number | null>;
    const durablePut = okRps(r('put', 'koor'));
    const goals = {
      get_ratio: { target: GET_RATIO_GOAL, value: ratios.get, met: ratios.get !== null && ratios.get >= GET_RATIO_GOAL },
      durable_put_per_s: { target: DURABLE_PUT_GOAL, value: durablePut, met: durablePut >= DURABLE_PUT_GOAL },
    };

    // What limits the figures: the generator shares the cores with the servers.
    const cores = r('get', 'koor').cpu.system?.cores ?? '?';
    notes.push(
      `autocannon runs single-threaded in the bench process, on the same ${cores} cores as the server under test. ` +
        "'cores' columns = CPU used during the measured run (1.00 = one core busy); 'other' = unrelated processes (kernel threads excluded).",
    );
    notes.push('srv us/req = server CPU per response, independent of which side saturated; cpu eff = baseline us/req / koor us/req (1.00 = koor costs no more CPU than bare uWS).');
    const saturated = ids.flatMap((id) => (['koor', 'baseline'] as const).filter((n) => r(id, n).cpu.loadgen.cores >= LOADGEN_SATURATED_CORES).map((n) => `${id} ${n}`));
    if (saturated.length > 0) {
      notes.push(`autocannon used >= ${LOADGEN_SATURATED_CORES} cores (saturated) in: ${saturated.join(', ')}; those req/s are bounded by the load generator, and a ratio between two such runs is pulled toward 1.`);
    }
    const kp = r('put', 'koor').cpu;
    if (kp.procs.koor) {
      const threads = kp.procs.koor.threads.map((t) => `${t.main ? 'main' : `thread ${t.tid}`} ${fmtCores(t.cores)} (sys ${fmtCores(t.sys_cores)})`).join(', ');
      const io = kp.pressure_pct ? `; I/O stall (PSI some/full) ${kp.pressure_pct.io_some ?? '-'}% / ${kp.pressure_pct.io_full ?? '-'}% of the run` : '';
      notes.push(`koor PUT: server ${fmtCores(kp.procs.koor.cores)} cores [${threads}]; kernel threads ${fmtCores(kp.others.kernel_cores)}; machine busy ${fmtCores(kp.system?.busy_cores)} of ${cores}${io}.`);
      const kio = kp.procs.koor.io;
      const okPuts = r('put', 'koor').ok_responses;
      if (kio && okPuts > 0) {
        notes.push(
          `koor PUT I/O: ${fmtInt(kio.wchar / okPuts)} bytes written (WAL + checkpoints) in ${(kio.syscw / okPuts).toFixed(1)} write calls per ${DOC_BYTES}-byte PUT; ` +
            `${fmtInt(kio.write_bytes / okPuts)} bytes/PUT reached the block device (${fmtInt(kio.write_bytes / 1e6 / r('put', 'koor').duration_s)} MB/s).`,
        );
      }
    }
    notes.push('baseline PUT keeps the body in a Map (memory, not durable): the PUT ratio is durable SQLite vs memory, not a goal.');

    opts.log('PUT with state-history retention active vs off (separate servers)');
    const retention = await retentionPut(opts, doc, durationS, warmupS, failures);
    opts.log('cost of operations: webhooks, identified agents (separate servers)');
    const operations = await operationsCost(opts, doc, durationS, warmupS, failures);
    notes.push(...operations.notes);

    const titles = Object.fromEntries(scenarios(doc).map((x) => [x.id, x.title]));
    const tables: BenchTable[] = [
      {
        title: `HTTP: koor-server vs bare uWS, ${CONNECTIONS} connections, pipelining ${PIPELINING}, ${durationS}s per run after ${warmupS}s warm-up${opts.quick ? ' (quick)' : ''}`,
        columns: ['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'koor/base', 'errors', 'non-ok', 'srv cores', 'srv us/req', 'cpu eff', 'loadgen cores', 'other cores'],
        rows: ids.flatMap((id) =>
          (['koor', 'baseline'] as const).map((n) => {
            const x = r(id, n);
            return [
              n === 'koor' ? titles[id]! : '',
              n === 'koor' ? 'koor' : 'bare uWS',
              fmtInt(okRps(x)),
              fmtMs(x.latency_ms.p50),
              fmtMs(x.latency_ms.p99),
              n === 'koor' ? fmtRatio(ratios[id]) : '',
              x.errors,
              x.unexpected,
              fmtCores(x.cpu.procs[n]?.cores),
              cpuPerReq(x, n) ?? '-',
              n === 'koor' ? fmtRatio(cpuEfficiency[id]) : '',
              fmtCores(x.cpu.loadgen.cores),
              fmtCores(x.cpu.others.cores),
            ];
          }),
        ),
      },
      {
        title: 'Goals',
        columns: ['goal', 'target', 'measured', 'met'],
        rows: [
          ['GET koor/baseline req/s', `>= ${GET_RATIO_GOAL}x`, fmtRatio(ratios.get), goals.get_ratio.met ? 'yes' : 'NO'],
          ['durable PUT/s (koor)', `>= ${fmtInt(DURABLE_PUT_GOAL)}`, fmtInt(durablePut), goals.durable_put_per_s.met ? 'yes' : 'NO'],
        ],
      },
      retention.table,
      operations.table,
    ];

    return {
      suite: 'http',
      ok: failures.length === 0,
      config: {
        connections: CONNECTIONS,
        pipelining: PIPELINING,
        duration_s: durationS,
        warmup_s: warmupS,
        doc_bytes: DOC_BYTES,
        put_keys: PUT_KEYS,
        load_generator: 'autocannon, single-threaded, in the bench process (shares the cores with the servers)',
      },
      servers: { koor: { pid: koorProc.pid, data_dir: koorProc.dataDir }, baseline: { pid: baseProc.pid } },
      ratios,
      cpu_efficiency: cpuEfficiency,
      server_cpu_us_per_req: Object.fromEntries(ids.map((id) => [id, { koor: cpuPerReq(r(id, 'koor'), 'koor'), baseline: cpuPerReq(r(id, 'baseline'), 'baseline') }])),
      goals,
      put_check: putCheck,
      retention: retention.results,
      operations: operations.results,
      scenarios: results,
      notes,
      warnings: [...failures, ...noise],
      failures,
      tables,
    };
  } catch (e) {
    opts.log(`koor-server output (tail):\n${koorProc.output().slice(-4000)}`);
    opts.log(`baseline output (tail):\n${baseProc.output().slice(-2000)}`);
    throw e;
  } finally {
    await Promise.all([koorProc.stop(), baseProc.stop()]);
  }
}
