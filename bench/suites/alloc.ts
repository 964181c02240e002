/**
 * alloc: bytes the front thread allocates per request, koor against its floors.
 *   npm run bench -- alloc [--quick]
 *
 * CPU time per request moves ±10–40 % run to run on a shared VM (bench/README.md), so a change of
 * a few per cent to a hot path cannot be seen by it there. What a request allocates can: the
 * server runs with the inspector on a loopback port, and V8's sampling heap profiler counts every
 * allocation of the main thread — the objects a scavenge frees as well — one sample per 512 bytes
 * on average, while wrk (core 1) sends one kind of request for a few seconds. Bytes per request =
 * sampled bytes ÷ requests; the same run twice agrees within ~1 %. Each row also names
 * the functions that allocate the most, as file:line of the built bundle.
 *
 * Rows: a cached GET of one 1 KB key (koor against `baseline-uws`, which keeps the value in a Map);
 * a durable PUT of 1 KB to one of 1,000 keys at 16 connections (against `baseline-uws … thread
 * features`, the floor of koor's rows); a transaction whose compare always loses, answered by the
 * front with the current value (against the same floor's transaction). Server on core 0.
 * Only the front's own heap is counted (the writer thread is another isolate); allocation is not
 * all of a request's cost, but every byte of it is work done and garbage collected.
 */
import path from 'node:path';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtRatio } from '../lib/format.js';
import { INSPECT_ENV, Inspector, inspectorUrl } from '../lib/inspector.js';
import { have, pin, spawnKoor, spawnNode, type ServerProc } from '../lib/processes.js';
import { BENCH_DIST_DIR, type BenchOptions, type BenchTable } from '../lib/suite.js';
import { wrk, wrkScript } from '../lib/wrk.js';

const TOKEN = 'bench-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const VALUE = 'x'.repeat(1024);
const TXN_KEY = 'bench/counter';
/** A compare that never holds: the front answers it with the current value, no write. */
const LOSING_TXN = JSON.stringify({ compare: [{ key: TXN_KEY, version: 999_999_999 }], success: [{ op: 'put', key: TXN_KEY, value: 1 }], failure: [{ op: 'get', key: TXN_KEY }] });
/** Mean bytes between two samples of the heap profiler. */
const SAMPLING_BYTES = 512;

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: HeapNode[];
}

interface Row {
  bytes_per_request: number;
  requests: number;
  /** The functions that allocated the most, bytes per request each. */
  top: Array<{ fn: string; bytes_per_request: number }>;
}

/** Bytes per request while `load` runs (it returns the request count), and who allocated them. */
async function measure(insp: Inspector, load: () => number): Promise<Row> {
  await insp.call('HeapProfiler.startSampling', { samplingInterval: SAMPLING_BYTES, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const requests = load();
  const { profile } = await insp.call<{ profile: { head: HeapNode } }>('HeapProfiler.stopSampling');
  const by = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode): void => {
    if (n.selfSize > 0) {
      const f = n.callFrame;
      const name = `${f.functionName || '(anonymous)'} ${path.basename(f.url) || '(native)'}:${f.lineNumber + 1}`;
      by.set(name, (by.get(name) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children ?? []) walk(c);
  };
  walk(profile.head);
  const per = (b: number) => (requests > 0 ? Math.round(b / requests) : 0);
  const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([fn, b]) => ({ fn, bytes_per_request: per(b) }));
  return { bytes_per_request: per(total), requests, top };
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  if (!have('wrk') || !have('taskset')) return { ok: true, skipped: 'wrk and taskset are needed (apt-get install wrk util-linux)' };
  const secs = opts.quick ? 2 : 5;
  const tmp = makeTempDir('koor-bench-alloc-');
  const lua = {
    get: wrkScript(tmp.dir, 'get', { method: 'GET', path: '/api/state/bench/doc', headers: AUTH }),
    put: wrkScript(tmp.dir, 'put', { method: 'PUT', headers: { ...AUTH, 'Content-Type': 'application/octet-stream' }, body: VALUE, cycleKeys: '/api/state/bench/put/', keys: 1000 }),
    txn: wrkScript(tmp.dir, 'txn', { method: 'POST', path: '/api/txn', headers: { ...AUTH, 'Content-Type': 'application/json' }, body: LOSING_TXN }),
  };
  const rows: Record<string, { koor: Row; floor: Row }> = {};
  const failures: string[] = [];
  /** Both servers' rows for one kind of request: warmed up first (the code optimised), then sampled. */
  const pair = async (name: string, script: string, connections: number, koor: ServerProc, floor: ServerProc) => {
    const out = {} as { koor: Row; floor: Row };
    for (const [who, proc] of [['koor', koor], ['floor', floor]] as const) {
      wrk(proc.url, script, 1, connections);
      const url = inspectors.get(proc);
      if (!url) throw new Error(`${proc.name}: no inspector address in its output`);
      const insp = await Inspector.connect(url);
      try {
        out[who] = await measure(insp, () => {
          const r = wrk(proc.url, script, secs, connections);
          // Bytes per request of error replies would be another row's figure.
          if (r.non2xx > 0) failures.push(`${name}: ${who} answered ${r.non2xx} of ${r.requests} requests with an error`);
          return r.requests;
        });
      } finally {
        insp.close();
      }
      opts.log(`${name}: ${who} ${out[who].bytes_per_request} B/request over ${out[who].requests} requests`);
    }
    rows[name] = out;
  };
  /** The GET's key, and the transaction's counter (which its compare never matches). */
  const seed = async (url: string) => {
    for (const [key, body, type] of [['bench/doc', VALUE, 'application/octet-stream'], [TXN_KEY, '0', 'application/json']] as const) {
      const r = await fetch(`${url}/api/state/${key}`, { method: 'PUT', headers: { ...AUTH, 'Content-Type': type }, body });
      if (!r.ok) throw new Error(`seeding ${url}: PUT ${key}: ${r.status}`);
    }
  };
  const started: ServerProc[] = [];
  /** Each server's inspector, read as it starts (the output kept is a tail). */
  const inspectors = new Map<ServerProc, string | null>();
  const onCore0 = <P extends ServerProc>(p: P): P => {
    started.push(p);
    inspectors.set(p, inspectorUrl(p));
    pin(p.pid, 0);
    return p;
  };
  const floorAt = async (name: string, args: string[]) => onCore0(await spawnNode(name, path.join(BENCH_DIST_DIR, 'baselines', 'uws.js'), args, { env: INSPECT_ENV }));
  try {
    const koor = onCore0(await spawnKoor(['--auth-token', TOKEN, '--sync', 'full', '--rate-limit', '0'], INSPECT_ENV));
    await seed(koor.url);
    const memory = await floorAt('floor-memory', []);
    await seed(memory.url);
    await pair('cached GET', lua.get, 50, koor, memory);
    const features = await floorAt('floor-features', ['0', path.join(tmp.dir, 'features.db'), 'full', 'thread', 'features']);
    await seed(features.url);
    await pair('durable PUT ×16', lua.put, 16, koor, features);
    await pair('losing txn ×16', lua.txn, 16, koor, features);
  } finally {
    for (const p of started) await p.stop();
    tmp.remove();
  }
  const table: BenchTable = {
    title: `Bytes the front thread allocates per request (V8's sampling heap profiler, one sample per ${SAMPLING_BYTES} B, freed objects counted; ${secs}-s wrk runs)`,
    columns: ['request', 'koor B/req', 'floor B/req', 'koor ÷ floor', "koor's largest allocators (B/req)"],
    rows: Object.entries(rows).map(([name, r]) => [
      name,
      r.koor.bytes_per_request,
      r.floor.bytes_per_request,
      fmtRatio(r.floor.bytes_per_request > 0 ? r.koor.bytes_per_request / r.floor.bytes_per_request : null),
      r.koor.top
        .slice(0, 3)
        .map((t) => `${t.fn} ${t.bytes_per_request}`)
        .join('; '),
    ]),
  };
  return {
    ok: failures.length === 0,
    failures,
    sampling_bytes: SAMPLING_BYTES,
    duration_s: secs,
    rows,
    tables: [table],
    notes: ['floors: cached GET against baseline-uws (a Map); PUT and the losing transaction against baseline-uws … thread features (the floor of koor\'s rows). The writer thread\'s allocations are not counted.'],
  };
}
