/**
 * The rows of `npm run bench -- speed` that look past the hot path, each against a
 * baseline measured in the same run. Server on core 0, wrk and probes on core 1.
 *
 *   weight    start to the first /health 200 and idle RSS of koor-server with default settings
 *             (dashboard on, 2 pool threads), against bare uWS (bench/baselines/uws.js) started alike
 *   history   p50/p99 of `GET /api/events/history?topic=…&last=50` (one connection) with 100,000
 *             retained events against 1,000, for a filter matching nothing, a tenth, and all
 *   get       GET of 1 KB over 100,000 keys drawn at random (more than the default 64 MB read
 *             cache holds: about half the reads miss) against the same GET over 1,000 keys (every
 *             read a hit); the server CPU per request of each, and from their difference and the
 *             hit ratios, what a miss costs; and the same two runs against the floor of a read
 *             past a cache (bench/baselines/uws.js in read mode: bare uWS, a cache of the same budget, one
 *             SQLite point read per miss from a one-row-per-key table), whose own 100k/1k ratio
 *             is what any server of this shape could reach; and against the floor of a read of
 *             koor's own rows (the same, reading koor's data file with koor's statement: the
 *             state row joined to its value in the version log), which splits koor's distance
 *             from the first floor into what its front costs and what reading its rows costs
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { fetchPastIdleClose, sleep } from '../lib/async.js';
import { fmtInt, fmtMs, fmtRatio, median, ratio } from '../lib/format.js';
import { spawnBenchScript, freePort, pin, spawnNode, type ServerProc } from '../lib/processes.js';
import { BENCH_DIST_DIR, KOOR_MAIN_JS, type BenchTable } from '../lib/suite.js';
import { wrk, wrkCpu, wrkScript, type Wrk } from '../lib/wrk.js';
import { defaultConfig } from '../../src/config.js';

const CONNECTIONS = 50;

/** koor-server from dist on `dataDir` (kept between starts), listening on a free loopback port. */
function koorOn(dataDir: string, args: string[] = []): Promise<ServerProc> {
  return spawnNode('koor-server', process.env.KOOR_BENCH_SERVER || KOOR_MAIN_JS, ['--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', dataDir, ...args], { cwd: dataDir });
}

/** The RSS of a process, MB. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

const threadCount = (pid: number): number => fs.readdirSync(`/proc/${pid}/task`).length;

/** Spawns `script args` and polls `probePath` until it answers (any status but a refused connection): ms to that answer. */
async function startToAnswer(script: string, args: string[], port: number, probePath: string, okStatus: (s: number) => boolean, cwd: string): Promise<{ ms: number; proc: ServerProc }> {
  const t0 = performance.now();
  const proc = spawnNode('start', script, args, { cwd });
  for (let i = 0; i < 4000; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}${probePath}`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (okStatus(r.status)) return { ms: Math.round(performance.now() - t0), proc: await proc };
    } catch {
      // not listening yet
    }
    await sleep(2);
  }
  (await proc).stop();
  throw new Error(`${script} did not answer ${probePath}`);
}

interface WeightRun {
  koor_start_ms: number;
  koor_rss_mb: number;
  koor_threads: number;
  bare_start_ms: number;
  bare_rss_mb: number;
}

async function weight(tmp: string, runs: number): Promise<WeightRun[]> {
  const out: WeightRun[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = fs.mkdtempSync(path.join(tmp, 'weight-'));
    const port = await freePort();
    const dash = await freePort();
    // Default settings: only the addresses and the data directory are given.
    const k = await startToAnswer(process.env.KOOR_BENCH_SERVER || KOOR_MAIN_JS, ['--bind', `127.0.0.1:${port}`, '--dashboard-bind', `127.0.0.1:${dash}`, '--data-dir', dir], port, '/health', (s) => s === 200, dir);
    await sleep(2000); // idle: start-up garbage collected, timers settled
    const run = { koor_start_ms: k.ms, koor_rss_mb: rssMb(k.proc.pid), koor_threads: threadCount(k.proc.pid), bare_start_ms: 0, bare_rss_mb: 0 };
    await k.proc.stop();
    const bport = await freePort();
    const b = await startToAnswer(path.join(BENCH_DIST_DIR, 'baselines', 'uws.js'), [String(bport)], bport, '/api/state/x', () => true, dir);
    await sleep(2000);
    run.bare_start_ms = b.ms;
    run.bare_rss_mb = rssMb(b.proc.pid);
    await b.proc.stop();
    out.push(run);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** Appends events up to `total` straight into the log of a stopped server (ids and topics `bench.<i % 10>`). */
function fillEvents(dataDir: string, total: number): void {
  const db = new Database(path.join(dataDir, 'data.db'));
  try {
    const have = (db.prepare('SELECT count(*) FROM events').pluck().get() as number) ?? 0;
    const ins = db.prepare("INSERT INTO events (topic, data, source, created_at) VALUES (?, ?, '', '2026-01-01 00:00:00')");
    db.transaction(() => {
      for (let i = have; i < total; i++) ins.run(`bench.${i % 10}`, `{"i":${i},"note":"${'x'.repeat(100)}"}`);
    })();
  } finally {
    db.close();
  }
}

const HISTORY_FILTERS = [
  ['nothing', 'rare.*'],
  ['a tenth', '*.7'],
  ['all', 'bench.*'],
] as const;

async function history(tmp: string, durationS: number, warnings: string[]): Promise<Record<string, Record<string, Wrk>>> {
  const dataDir = fs.mkdtempSync(path.join(tmp, 'history-'));
  const res: Record<string, Record<string, Wrk>> = {};
  // Created by a first start, filled while stopped (retention off), then measured.
  let server = await koorOn(dataDir, ['--event-retention', '0']);
  await server.stop();
  for (const size of [1000, 100_000]) {
    fillEvents(dataDir, size);
    server = await koorOn(dataDir, ['--event-retention', '0']);
    pin(server.pid, 0);
    res[size] = {};
    for (const [name, topic] of HISTORY_FILTERS) {
      const s = wrkScript(tmp, `history-${name.replace(/ /g, '-')}`, { method: 'GET', path: `/api/events/history?topic=${encodeURIComponent(topic)}&last=50`, headers: {} });
      const r = wrkCpu(server.pid, server.url, s, durationS, 1);
      if (r.non2xx > 0) warnings.push(`history ${topic} at ${size}: ${r.non2xx} non-2xx replies`);
      res[size]![name] = r;
    }
    await server.stop();
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  return res;
}

const metric = async (url: string, name: string): Promise<number> => {
  const text = await (await fetchPastIdleClose(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
};

/** Fills a running koor with `keys` keys of `doc`, by wrk and then one by one for any it missed. */
async function fillKeys(tmp: string, server: ServerProc, doc: string, keys: number): Promise<void> {
  // Filled by wrk (PUT of keys start, start+1, … in order; a run's completed requests tell how
  // far it got, less the connections' last requests, which may not have completed).
  for (let start = 0, round = 0; start < keys; round++) {
    if (round === 30) throw new Error(`filling ${keys} keys: only ${start} after 30 rounds`);
    const file = path.join(tmp, `fill-${round}.lua`);
    fs.writeFileSync(
      file,
      [
        'wrk.method = "PUT"',
        'wrk.headers["Content-Type"] = "application/json"',
        `wrk.body = ${JSON.stringify(doc)}`,
        `local n = ${start}`,
        `request = function() local k = n; if n < ${keys - 1} then n = n + 1 end; return wrk.format(nil, "/api/state/bench/k/" .. k) end`,
      ].join('\n') + '\n',
    );
    const r = wrk(server.url, file, 3, CONNECTIONS);
    if (r.non2xx > 0) throw new Error(`filling keys: ${r.non2xx} non-2xx replies`);
    start += Math.max(0, r.requests - CONNECTIONS);
  }
  // A request wrk gave up on (timeout) may have left a hole: the listing says which keys exist.
  const present = new Set<string>();
  for (let after = '', pages = 0; pages < 100; pages++) {
    const page = (await (await fetch(`${server.url}/api/state?limit=5000${after ? `&after=${encodeURIComponent(after)}` : ''}`)).json()) as Array<{ key: string }>;
    for (const r of page) present.add(r.key);
    if (page.length < 5000) break;
    after = page[page.length - 1]!.key;
  }
  for (let k = 0; k < keys; k++) {
    if (present.has(`bench/k/${k}`)) continue;
    const r = await fetch(`${server.url}/api/state/bench/k/${k}`, { method: 'PUT', body: doc, headers: { 'content-type': 'application/json' } });
    await r.arrayBuffer();
  }
}

/**
 * The floor of a read past the cache: bench/baselines/uws.js in read mode over a file of `keys` rows of
 * `doc` (kv: one row per key, as a plain store would keep it). stop() removes the file.
 */
async function readFloor(tmp: string, doc: string, keys: number): Promise<ServerProc> {
  const file = path.join(tmp, 'read-floor.db');
  const db = new Database(file);
  try {
    db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, hash TEXT NOT NULL, version INTEGER NOT NULL)');
    const value = Buffer.from(doc);
    const hash = createHash('sha256').update(value).digest('hex');
    const ins = db.prepare('INSERT INTO kv VALUES (?, ?, ?, 1)');
    db.transaction(() => {
      for (let k = 0; k < keys; k++) ins.run(`bench/k/${k}`, value, hash);
    })();
  } finally {
    db.close();
  }
  const floor = await spawnBenchScript('read-floor', 'baselines/uws.js', ['0', file, 'read']);
  return {
    ...floor,
    stop: async () => {
      await floor.stop();
      fs.rmSync(file, { force: true });
    },
  };
}

/**
 * The floor of a read of what koor reads: bench/baselines/uws.js in read mode over koor's own data file
 * (`rows`: koor's statement for a key's current value — the state row joined to its value's row
 * in the version log — with the same cache budget), opened beside the running koor.
 */
function rowsFloor(dataDir: string): Promise<ServerProc> {
  return spawnBenchScript('read-floor-rows', 'baselines/uws.js', ['0', path.join(dataDir, 'data.db'), 'read', String(defaultConfig().cacheBytes), 'rows']);
}

type GetRun = { keys: number; wrk: Wrk; hit_ratio: number };

/**
 * GET over 1,000 and 100,000 keys: koor (filled through its API), the floor of a read past the
 * cache (a plain key-value table) and the floor of a read of koor's own rows, all running,
 * measured in turn: 1,000 keys twice each, a run over 100,000 keys each to warm the caches, then
 * 100,000 keys `rounds` times each, koor then the floors in every round. Runs minutes apart gave
 * koor ÷ floor anywhere from 0.81 to 0.93 (the machine's speed drifts); each round's runs are
 * measured within seconds.
 */
async function manyKeys(tmp: string, doc: string, durationS: number, rounds: number, warnings: string[]): Promise<{ koor: GetRun[]; floor: GetRun[]; rows: GetRun[] }> {
  const KEYS = 100_000;
  const dataDir = fs.mkdtempSync(path.join(tmp, 'keys-'));
  const server = await koorOn(dataDir, ['--sync', 'normal']);
  const floors: ServerProc[] = [];
  try {
    pin(server.pid, 0);
    await fillKeys(tmp, server, doc, KEYS);
    const f = await readFloor(tmp, doc, KEYS);
    floors.push(f);
    const r = await rowsFloor(dataDir);
    floors.push(r);
    for (const x of floors) pin(x.pid, 0);
    const koorCounts = async () => ({ hits: await metric(server.url, 'koor_state_cache_hits_total'), misses: await metric(server.url, 'koor_state_cache_misses_total') });
    const statsOf = (x: ServerProc) => async () => (await (await fetchPastIdleClose(`${x.url}/stats`)).json()) as { hits: number; misses: number };
    const out = { koor: [] as GetRun[], floor: [] as GetRun[], rows: [] as GetRun[] };
    /** One run over `n` keys on each, koor then the floors. */
    const turn = async (n: number) =>
      [await getRun(tmp, server, n, durationS, warnings, koorCounts), await getRun(tmp, f, n, durationS, warnings, statsOf(f)), await getRun(tmp, r, n, durationS, warnings, statsOf(r))] as const;
    const keep = ([k, fl, rw]: readonly [GetRun, GetRun, GetRun]) => (out.koor.push(k), out.floor.push(fl), out.rows.push(rw));
    for (let i = 0; i < 2; i++) keep(await turn(1000));
    // Before the rounds, one run over 100,000 keys each, not kept: a floor's cache fills only
    // as it reads (koor's filled as it was written), and its first run read past the cache a
    // fifth more often (hit ratio 0.44 against 0.54).
    await turn(KEYS);
    for (let i = 0; i < rounds; i++) keep(await turn(KEYS));
    return out;
  } finally {
    for (const x of floors) await x.stop();
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** One GET run over `keys` keys, with the server's cache hits and misses in it. */
async function getRun(tmp: string, server: ServerProc, keys: number, durationS: number, warnings: string[], counts: () => Promise<{ hits: number; misses: number }>): Promise<GetRun> {
  // Keys drawn at random: over 100,000 about half the reads find their key in the cache
  // (which holds ~54,000 of these), the rest read SQLite. Seeded per run: wrk's unseeded
  // draws are the same in every run, so a later run would ask first for what an earlier one left cached.
  const s = path.join(tmp, `get-${keys}.lua`);
  fs.writeFileSync(s, `wrk.method = "GET"\nmath.randomseed(os.time())\nrequest = function() return wrk.format(nil, "/api/state/bench/k/" .. math.random(0, ${keys - 1})) end\n`);
  const c0 = await counts();
  const r = wrkCpu(server.pid, `${server.url}/api/state/bench/k/0`, s, durationS, CONNECTIONS);
  const c1 = await counts();
  const hits = c1.hits - c0.hits;
  const misses = c1.misses - c0.misses;
  if (r.non2xx > 0) warnings.push(`GET over ${keys} keys (${server.name}): ${r.non2xx} non-2xx replies`);
  return { keys, wrk: r, hit_ratio: hits + misses > 0 ? Math.round((hits / (hits + misses)) * 1000) / 1000 : 0 };
}

/** The scale and weight rows: results for the JSON and their tables. */
export async function scaleRows(tmp: string, opts: { quick: boolean; log: (m: string) => void }, doc: string, warnings: string[]): Promise<{ results: Record<string, unknown>; tables: BenchTable[] }> {
  const durationS = opts.quick ? 3 : 10;
  opts.log('  weight: start to first /health 200 and idle RSS, koor (defaults) vs bare uWS…');
  const w = await weight(tmp, opts.quick ? 2 : 3);
  opts.log('  history with a topic filter at 1,000 and 100,000 retained events…');
  const h = await history(tmp, Math.max(2, durationS / 2), warnings);
  opts.log("  GET over 1,000 and 100,000 keys (default cache), koor, the floor of a read past the cache and the floor of a read of koor's rows in turn…");
  const rounds = opts.quick ? 3 : 5;
  const { koor: g, floor: f, rows: rw } = await manyKeys(tmp, doc, durationS, rounds, warnings);
  /** Each round's a ÷ b at 100,000 keys (req/s). */
  const perRound = (a: GetRun[], b: GetRun[]) => a.flatMap((r, i) => (r.keys === 100_000 ? [ratio(r.wrk.rps, b[i]!.wrk.rps) ?? 0] : []));
  /** koor ÷ the floor, each round, and their median: the goal's figure. */
  const bigPairs = perRound(g, f);
  /** koor ÷ the floor of its rows (what its front costs), and that floor ÷ the plain one (what reading koor's rows costs). */
  const rowsPairs = perRound(g, rw);
  const layoutPairs = perRound(rw, f);

  const range = (xs: number[]) => (Math.min(...xs) === Math.max(...xs) ? String(xs[0]) : `${Math.min(...xs)}–${Math.max(...xs)}`);
  const best = (runs: GetRun[], keys: number) => runs.filter((r) => r.keys === keys).reduce((a, b) => (b.wrk.rps > a.wrk.rps ? b : a));
  const small = best(g, 1000);
  const big = best(g, 100_000);
  const fSmall = best(f, 1000);
  const fBig = best(f, 100_000);
  const rSmall = best(rw, 1000);
  const rBig = best(rw, 100_000);
  const us = (r: Wrk) => (r.main_us ?? 0) + (r.other_us ?? 0);
  const missUs = (a: GetRun, b: GetRun) => (b.hit_ratio < a.hit_ratio ? ((us(b.wrk) - us(a.wrk)) / (a.hit_ratio - b.hit_ratio)).toFixed(1) : '-');
  /** One GET run's row; its ratio is against the same server's run over 1,000 keys. */
  const getRow = (server: string, r: GetRun, base: GetRun, goal: string) => [server, fmtInt(r.keys), fmtInt(r.wrk.rps), fmtMs(r.wrk.p50_ms), fmtMs(r.wrk.p99_ms), String(r.hit_ratio), us(r.wrk).toFixed(1), fmtRatio(ratio(r.wrk.rps, base.wrk.rps)), goal];
  const tables: BenchTable[] = [
    {
      title: `Weight: koor-server with default settings vs bare uWS (${w.length} starts each; ranges)`,
      columns: ['what', 'koor', 'bare uWS', 'ratio', 'goal'],
      rows: [
        ['start to first 200, ms', range(w.map((r) => r.koor_start_ms)), range(w.map((r) => r.bare_start_ms)), fmtRatio(ratio(Math.min(...w.map((r) => r.koor_start_ms)), Math.min(...w.map((r) => r.bare_start_ms)))), '<= 500 ms'],
        ['idle RSS, MB', range(w.map((r) => r.koor_rss_mb)), range(w.map((r) => r.bare_rss_mb)), fmtRatio(ratio(Math.min(...w.map((r) => r.koor_rss_mb)), Math.min(...w.map((r) => r.bare_rss_mb)))), '<= 100 MB'],
        ['threads (idle)', range(w.map((r) => r.koor_threads)), '-', '-', '-'],
      ],
    },
    {
      title: 'Event history with a topic filter, last=50, 1 connection: 100,000 retained events vs 1,000',
      columns: ['filter matches', 'p50 ms 1k', 'p99 ms 1k', 'p50 ms 100k', 'p99 ms 100k', 'p99 ratio', 'srv µs/req 1k', '100k', 'cpu ratio', 'goal'],
      rows: HISTORY_FILTERS.map(([name, topic]) => {
        const a = h[1000]![name]!;
        const b = h[100_000]![name]!;
        return [`${name} (${topic})`, fmtMs(a.p50_ms), fmtMs(a.p99_ms), fmtMs(b.p50_ms), fmtMs(b.p99_ms), a.p99_ms && b.p99_ms ? fmtRatio(b.p99_ms / a.p99_ms) : '-', us(a).toFixed(0), us(b).toFixed(0), fmtRatio(us(b) / us(a)), 'p99 <= 5 ms'];
      }),
    },
    {
      title: `GET 1 KB past the cache (default 64 MB): 100,000 keys vs 1,000, ${CONNECTIONS} connections, koor, the floor of a read past a cache of that budget and the same floor reading koor's rows, measured in turn (1,000 keys twice, 100,000 keys ${rounds} times; the best kept)`,
      columns: ['server', 'keys', 'req/s', 'p50 ms', 'p99 ms', 'cache hits', 'srv µs/req', 'ratio', 'goal'],
      rows: [
        getRow('koor', small, small, '-'),
        getRow('koor', big, small, '>= 0.7x'),
        ['koor: a miss costs (Δ µs / Δ miss ratio)', '-', '-', '-', '-', '-', missUs(small, big), '-', '-'],
        getRow('floor of a read past the cache', fSmall, fSmall, '-'),
        getRow('floor of a read past the cache', fBig, fSmall, '-'),
        ['floor: a miss costs', '-', '-', '-', '-', '-', missUs(fSmall, fBig), '-', '-'],
        getRow("floor of a read of koor's rows", rSmall, rSmall, '-'),
        getRow("floor of a read of koor's rows", rBig, rSmall, '-'),
        ["floor of koor's rows: a miss costs", '-', '-', '-', '-', '-', missUs(rSmall, rBig), '-', '-'],
        ['koor at 100,000 / floor at 100,000, each round', '-', bigPairs.map((x) => fmtRatio(x)).join(' '), '-', '-', '-', '-', `median ${fmtRatio(median(bigPairs))}`, '>= 0.9x'],
        ["koor / floor of koor's rows at 100,000, each round", '-', rowsPairs.map((x) => fmtRatio(x)).join(' '), '-', '-', '-', '-', `median ${fmtRatio(median(rowsPairs))}`, '-'],
        ["floor of koor's rows / floor at 100,000, each round", '-', layoutPairs.map((x) => fmtRatio(x)).join(' '), '-', '-', '-', '-', `median ${fmtRatio(median(layoutPairs))}`, '-'],
      ],
    },
  ];
  return { results: { weight: w, history: h, get_keys: g, get_keys_floor: f, get_keys_floor_rows: rw, get_keys_floor_ratios: bigPairs, get_keys_rows_ratios: rowsPairs, get_keys_layout_ratios: layoutPairs }, tables };
}
