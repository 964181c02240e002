/**
 * Data-plane speed against reference servers and floors, with a C load generator (wrk) so the
 * generator is not the limit: server on core 0, wrk / redis-benchmark on core 1 (taskset).
 *
 *   get        GET 1 KB state value, auth on          koor | bare uWS (same bytes) | Redis GET
 *   get_304    the same with If-None-Match            koor | bare uWS
 *   put_full   PUT 1 KB over 1000 keys, --sync full   koor | Redis SET appendfsync always
 *   put_normal the same, --sync normal               koor | Redis SET appendfsync everysec
 *   publish    POST /api/events/publish (durable)    koor | Redis LPUSH appendfsync always
 *   floors     bare uWS PUT into a Map (memory only), and bare uWS + a minimal SQLite upsert per
 *              PUT committed FULL / NORMAL per event-loop turn, in its own thread and in a
 *              writer thread (koor's shape): what no koor PUT can beat
 *   rounds     the floor goals: koor and the writer-thread floors (and, in the scale rows,
 *              koor and the read floor at 100,000 keys) running at once and measured in turn, 3
 *              rounds (5 without --quick); each round's ratio and their median
 * 50 connections everywhere. Needs `wrk`, `redis-server`, `redis-benchmark` (Debian: apt-get
 * install wrk redis-server); a missing tool skips its rows with the reason, it never fakes them.
 *
 *   npm run bench -- speed [--quick]
 *   KOOR_BENCH_BASELINE=<dir>/dist/src/main.js   the koor rows again for another build, run A B B A
 *                                                against this one in the same run (before/after)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeDoc } from '../lib/doc.js';
import { scaleRows } from '../speed/scale.js';
import { sleep } from '../lib/async.js';
import { makeTempDir } from '../lib/cleanup.js';
import { procCpu } from '../lib/cpu.js';
import { fmtInt, fmtMs, fmtRatio, median, ratio } from '../lib/format.js';
import { freePort, have, pin, spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import { BENCH_DIST_DIR, type BenchOptions, type BenchTable } from '../lib/suite.js';
import { wrkCpu as wrkCpuN, wrk as wrkN, wrkScript, type Wrk } from '../lib/wrk.js';

const CONNECTIONS = 50;
const TOKEN = 'bench-token';
const KEYS = 1000;
const wrk = (url: string, script: string, durationS: number): Wrk => wrkN(url, script, durationS, CONNECTIONS);
const wrkCpu = (pid: number, url: string, script: string, durationS: number): Wrk => wrkCpuN(pid, url, script, durationS, CONNECTIONS);
const script = (dir: string, name: string, opts: Parameters<typeof wrkScript>[2]): string => wrkScript(dir, name, { ...opts, keys: KEYS });

/** redis-server on core 0 with an append-only file fsynced `always` or `everysec`; null if absent. */
async function startRedis(dir: string, fsync: 'always' | 'everysec'): Promise<{ port: number; child: ChildProcess } | null> {
  const port = await freePort();
  const child = spawn('taskset', ['-c', '0', 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', fsync, '--dir', dir, '--daemonize', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    await sleep(50);
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore', timeout: 1000 });
      return { port, child };
    } catch {
      // not up yet
    }
  }
  child.kill('SIGKILL');
  return null;
}

/**
 * redis-benchmark on core 1: requests/s per test (`-q --csv`), and each test's p99 in ms as
 * `<test>_p99` (Redis 7's CSV: test, rps, avg, min, p50, p95, p99, max).
 */
function redisBench(port: number, tests: string, n: number, connections = CONNECTIONS): Record<string, number> {
  const out = execFileSync('taskset', ['-c', '1', 'redis-benchmark', '-p', String(port), '-c', String(connections), '-n', String(n), '-d', '1024', '-r', String(KEYS), '-t', tests, '-q', '--csv'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const res: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^"([A-Z]+)[^"]*","([\d.]+)"(?:,"[\d.]+","[\d.]+","[\d.]+","[\d.]+","([\d.]+)")?/.exec(line);
    if (!m) continue;
    res[m[1]!.toLowerCase()] = Math.round(Number(m[2]));
    if (m[3] !== undefined) res[`${m[1]!.toLowerCase()}_p99`] = Number(m[3]);
  }
  return res;
}

/** Rounds of the floor goals, each koor and both writer-thread floors once. */
const FLOOR_ROUNDS = (quick: boolean): number => (quick ? 3 : 5);
type FloorRound = { koor: Wrk; features: Wrk; plain: Wrk };

/**
 * koor (--sync full), the floor of the rows a PUT keeps and the plain writer-thread floor, all
 * started first and pinned to core 0, then measured one at a time in `rounds` rounds (the same
 * PUTs, 50 connections): each round's ratios are of runs seconds apart.
 */
async function floorRounds(tmp: string, put: string, durationS: number, rounds: number, procs: ServerProc[]): Promise<FloorRound[]> {
  const started: ServerProc[] = [];
  try {
    const koor = await spawnKoor(['--auth-token', TOKEN, '--sync', 'full']);
    started.push(koor);
    const features = await spawnBenchScript('floor-features', 'baselines/uws.js', ['0', path.join(tmp, 'rounds-features.db'), 'full', 'thread', 'features']);
    started.push(features);
    const plain = await spawnBenchScript('floor-plain', 'baselines/uws.js', ['0', path.join(tmp, 'rounds-plain.db'), 'full', 'thread']);
    started.push(plain);
    procs.push(...started);
    for (const p of started) pin(p.pid, 0);
    const run = (p: ServerProc) => wrkCpu(p.pid, `${p.url}/api/state/bench/put/0`, put, durationS);
    const out: FloorRound[] = [];
    for (let i = 0; i < rounds; i++) out.push({ koor: run(koor), features: run(features), plain: run(plain) });
    return out;
  } finally {
    for (const p of started) {
      await p.stop();
      if (procs.includes(p)) procs.splice(procs.indexOf(p), 1);
    }
  }
}

/** Durable PUT's tail: p99 at 1 and 4 connections, and over a long run at 50. */
const TAIL_CONNECTIONS = [1, 4] as const;
const TAIL_LONG_S = 30;

/** Subscriber processes per fan-out run (each holds count / SUB_PROCS subscriptions). */
const SUB_PROCS = 2;
const FANOUT_TOPIC = 'bench.fan';

async function ctl<T>(url: string, method = 'GET', body?: unknown): Promise<T> {
  const r = await fetch(url, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}), signal: AbortSignal.timeout(30_000) });
  if (!r.ok) throw new Error(`${method} ${url}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

/** Frames received so far by every subscriber process, and their bytes. */
async function frames(subs: ServerProc[], kind: 'koor' | 'redis'): Promise<{ frames: number; bytes: number }> {
  let n = 0;
  let bytes = 0;
  for (const p of subs) {
    if (kind === 'koor') {
      const snap = await ctl<{ frames: number; bytes: number }>(`${p.url}/snap`);
      n += snap.frames;
      bytes += snap.bytes;
    } else n += (await ctl<{ messages: number }>(`${p.url}/snap`)).messages;
  }
  return { frames: n, bytes };
}

interface FanoutRun {
  subscribers: number;
  publishes_per_s: number;
  deliveries_per_s: number;
  frame_bytes: number;
  /** Server CPU (all threads) per delivered frame, µs: comparable even when the clients set the pace. */
  server_us_per_delivery: number;
}

const cpuSeconds = (pid: number): number => {
  const t = procCpu(pid).total;
  return t ? t.user + t.sys : 0;
};

/**
 * Fan-out to `count` subscribers: koor (WebSocket, durable publish over HTTP by wrk) against Redis
 * pub/sub (SUBSCRIBE, PUBLISH by redis-benchmark) with payloads of koor's frame size, and against
 * a minimal durable fan-out (baselines/uws-fanout.js --db: bare uWS writing each batch of events to
 * the sockets once a writer thread has it on disk; koor beats it, so it is a reference, not a floor). Servers on core 0; the publisher and SUB_PROCS subscriber processes
 * (minimal frame counters) on core 1.
 */
async function fanout(dir: string, count: number, durationS: number, warnings: string[]): Promise<{ koor: FanoutRun; bare_durable: FanoutRun | null; redis: FanoutRun | null }> {
  const procs: ServerProc[] = [];
  try {
    const body = JSON.stringify({ topic: FANOUT_TOPIC, data: { agent: 'bench', note: 'fan-out' } });
    const pub = script(dir, 'fanout-publish', { method: 'POST', path: '/api/events/publish', headers: { 'Content-Type': 'application/json' }, body });
    /** Subscribers on core 1, wrk publishing to the server on core 0: what was delivered, and the server's CPU per delivery. */
    const wsRun = async (server: ServerProc): Promise<FanoutRun> => {
      procs.push(server);
      pin(server.pid, 0);
      const subs: ServerProc[] = [];
      for (let i = 0; i < SUB_PROCS; i++) {
        const p = await spawnBenchScript(`subscriber-${i}`, 'fanout/subscriber.js');
        procs.push(p);
        subs.push(p);
        pin(p.pid, 1);
        const url = `${server.url.replace(/^http/, 'ws')}/api/events/subscribe?pattern=${encodeURIComponent('bench.*')}`;
        const r = await ctl<{ opened: number; errors: string[] }>(`${p.url}/open`, 'POST', { url, count: count / SUB_PROCS, client: 'raw' });
        if (r.opened !== count / SUB_PROCS) throw new Error(`${server.name} subscribers: ${r.opened} opened, ${r.errors.slice(0, 2).join('; ')}`);
      }
      wrk(server.url, pub, 1);
      const a = await frames(subs, 'koor');
      const c0 = cpuSeconds(server.pid);
      const r = wrk(server.url, pub, durationS);
      await sleep(300); // frames still in flight when wrk stopped
      const b = await frames(subs, 'koor');
      const c1 = cpuSeconds(server.pid);
      const delivered = Math.max(1, b.frames - a.frames);
      for (const p of procs.splice(0)) await p.stop();
      return { subscribers: count, publishes_per_s: r.rps, deliveries_per_s: Math.round((b.frames - a.frames) / durationS), frame_bytes: Math.round((b.bytes - a.bytes) / delivered), server_us_per_delivery: Math.round(((c1 - c0) / delivered) * 1e8) / 100 };
    };
    const koorRun = await wsRun(await spawnKoor(['--sync', 'full']));
    const frameBytes = koorRun.frame_bytes;
    let bareRun: FanoutRun | null = null;
    try {
      bareRun = await wsRun(await spawnBenchScript('bare-durable-fanout', 'baselines/uws-fanout.js', ['--db', path.join(dir, `bare-durable-fanout-${count}.db`)]));
    } catch (e) {
      warnings.push(`fan-out ${count}, bare durable fan-out: ${(e as Error).message}`);
      for (const p of procs.splice(0)) await p.stop(); // not left running beside Redis
    }

    const redisDir = path.join(dir, `redis-pubsub-${count}`);
    fs.mkdirSync(redisDir);
    const redis = await startRedis(redisDir, 'everysec');
    if (!redis) {
      warnings.push('redis-server did not start: no pub/sub reference');
      return { koor: koorRun, bare_durable: bareRun, redis: null };
    }
    try {
      const rsubs: ServerProc[] = [];
      for (let i = 0; i < SUB_PROCS; i++) {
        const p = await spawnBenchScript(`redis-subscriber-${i}`, 'fanout/redis-subscriber.js', [String(redis.port), FANOUT_TOPIC, String(count / SUB_PROCS)]);
        procs.push(p);
        rsubs.push(p);
        pin(p.pid, 1);
      }
      const payload = 'x'.repeat(Math.max(1, frameBytes));
      const n = Math.max(10_000, Math.round(koorRun.publishes_per_s * durationS));
      const x0 = await frames(rsubs, 'redis');
      const rc0 = cpuSeconds(redis.child.pid!);
      const t0 = performance.now();
      execFileSync('taskset', ['-c', '1', 'redis-benchmark', '-p', String(redis.port), '-c', String(CONNECTIONS), '-n', String(n), '-q', 'PUBLISH', FANOUT_TOPIC, payload], { stdio: 'ignore', timeout: 300_000 });
      const wall = (performance.now() - t0) / 1000;
      await sleep(300);
      const x1 = await frames(rsubs, 'redis');
      const rc1 = cpuSeconds(redis.child.pid!);
      const rDelivered = Math.max(1, x1.frames - x0.frames);
      return {
        koor: koorRun,
        bare_durable: bareRun,
        redis: { subscribers: count, publishes_per_s: Math.round(n / wall), deliveries_per_s: Math.round((x1.frames - x0.frames) / wall), frame_bytes: frameBytes, server_us_per_delivery: Math.round(((rc1 - rc0) / rDelivered) * 1e8) / 100 },
      };
    } finally {
      redis.child.kill('SIGKILL');
    }
  } finally {
    for (const p of procs) await p.stop();
  }
}

/** PUTs the document a server is to serve at /api/state/bench/doc; its ETag. */
async function putDoc(base: string, headers: Record<string, string>, doc: string): Promise<string> {
  const r = await fetch(`${base}/api/state/bench/doc`, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/json' }, body: doc });
  const etag = r.headers.get('etag') ?? '';
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`PUT doc: HTTP ${r.status}`);
  return etag;
}

/**
 * This build's hot rows against another build's (KOOR_BENCH_BASELINE): two servers started
 * together with the same flags, both on core 0, each row run A B B A so drift hits both alike:
 * the mean of each build's two runs. Retention passes are off in both (`--prune-interval 1h`):
 * the first, a minute after start, lands in whichever run is going then and cost it a quarter of
 * its publishes.
 */
async function againstBaseline(
  main: string,
  s: { koorGet: string; koor304: string; put: string; publish: string },
  doc: string,
  durationS: number,
  opts: BenchOptions,
): Promise<{ results: Record<string, { koor: Wrk[]; base: Wrk[] }>; table: BenchTable }> {
  const flags = ['--auth-token', TOKEN, '--sync', 'full', '--prune-interval', '1h'];
  const [koor, base] = await Promise.all([spawnKoor(flags), spawnKoor(flags, {}, main)]);
  try {
    pin(koor.pid, 0);
    pin(base.pid, 0);
    // Same document, same version: the same ETag, so the 304 script fits both.
    const etags = await Promise.all([koor, base].map((p) => putDoc(p.url, { Authorization: `Bearer ${TOKEN}` }, doc)));
    if (etags[0] !== etags[1]) throw new Error(`baseline: ETag ${etags[1]} against ${etags[0]}`);
    const rows: Array<[string, string, string, number]> = [
      ['GET, auth on', '/api/state/bench/doc', s.koorGet, CONNECTIONS],
      ['GET 304', '/api/state/bench/doc', s.koor304, CONNECTIONS],
      ['PUT --sync full', '/api/state/bench/put/0', s.put, CONNECTIONS],
      ['PUT --sync full', '/api/state/bench/put/0', s.put, 1],
      ['publish (durable)', '', s.publish, CONNECTIONS],
    ];
    const results: Record<string, { koor: Wrk[]; base: Wrk[] }> = {};
    const one = (p: ServerProc, pathname: string, sc: string, c: number) => wrkCpuN(p.pid, `${p.url}${pathname}`, sc, durationS, c);
    for (const [what, pathname, sc, c] of rows) {
      opts.log(`  ${what}, ${c} conn.: this build and the baseline, A B B A…`);
      const r = { koor: [] as Wrk[], base: [] as Wrk[] };
      r.koor.push(one(koor, pathname, sc, c));
      r.base.push(one(base, pathname, sc, c));
      r.base.push(one(base, pathname, sc, c));
      r.koor.push(one(koor, pathname, sc, c));
      results[`${what}, c${c}`] = r;
    }
    const mean = (xs: Wrk[], f: (w: Wrk) => number | null | undefined) => xs.reduce((a, w) => a + (f(w) ?? NaN), 0) / xs.length;
    const cpu = (w: Wrk) => (w.main_us ?? NaN) + (w.other_us ?? 0);
    return {
      results,
      table: {
        title: `This build against the baseline (${path.relative(process.cwd(), main) || main}), A B B A, ${durationS} s runs: means of two`,
        columns: ['path', 'conn.', 'req/s', 'base req/s', 'ratio', 'p99 ms', 'base p99 ms', 'CPU µs/req', 'base CPU µs/req', 'CPU ratio'],
        rows: Object.entries(results).map(([k, r]) => {
          const c = Number(/c(\d+)$/.exec(k)![1]);
          const [rps, brps] = [mean(r.koor, (w) => w.rps), mean(r.base, (w) => w.rps)];
          const [p99, bp99] = [mean(r.koor, (w) => w.p99_ms), mean(r.base, (w) => w.p99_ms)];
          const [us, bus] = [mean(r.koor, cpu), mean(r.base, cpu)];
          return [k.replace(/, c\d+$/, ''), String(c), fmtInt(rps), fmtInt(brps), fmtRatio(ratio(rps, brps)), fmtMs(p99), fmtMs(bp99), us.toFixed(1), bus.toFixed(1), fmtRatio(ratio(us, bus))];
        }),
      },
    };
  } finally {
    await Promise.all([koor.stop(), base.stop()]);
  }
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = opts.quick ? 3 : 10;
  const redisN = opts.quick ? 30_000 : 150_000;
  const warnings: string[] = [];
  const missing = ['wrk', 'redis-server', 'redis-benchmark', 'redis-cli', 'taskset'].filter((c) => !have(c));
  if (missing.includes('wrk') || missing.includes('taskset')) {
    return { ok: true, skipped: `needs ${missing.join(', ')} (apt-get install wrk redis-server util-linux)`, warnings: [`speed: skipped, missing ${missing.join(', ')}`] };
  }
  const noRedis = missing.some((c) => c.startsWith('redis'));
  if (noRedis) warnings.push(`Redis rows skipped: missing ${missing.join(', ')} (apt-get install redis-server)`);
  const tmp = makeTempDir('koor-bench-speed-');
  const doc = makeDoc();
  const auth = { Authorization: `Bearer ${TOKEN}` };
  const json = { 'Content-Type': 'application/json' };
  const procs: ServerProc[] = [];
  const redises: ChildProcess[] = [];
  try {
    // Past the hot path: weight and start-up, history with a filter at 100k events,
    // GET past the read cache. KOOR_BENCH_SPEED=scale runs these rows alone.
    const only = process.env.KOOR_BENCH_SPEED;
    const scale = only === 'baseline' ? { results: {}, tables: [] } : await scaleRows(tmp.dir, opts, doc, warnings);
    if (process.env.KOOR_BENCH_SPEED === 'scale') return { ok: warnings.every((x) => !x.includes('non-2xx')), ...scale.results, tables: scale.tables, warnings };
    const koorFull = await spawnKoor(['--auth-token', TOKEN, '--sync', 'full']);
    procs.push(koorFull);
    const bare = await spawnBenchScript('baseline-uws', 'baselines/uws.js');
    procs.push(bare);
    for (const p of procs) pin(p.pid, 0);
    // The documents both servers serve.
    const koorEtag = await putDoc(koorFull.url, auth, doc);
    const bareEtag = await putDoc(bare.url, {}, doc);
    const s = {
      koorGet: script(tmp.dir, 'koor-get', { method: 'GET', headers: auth }),
      bareGet: script(tmp.dir, 'bare-get', { method: 'GET', headers: {} }),
      koor304: script(tmp.dir, 'koor-304', { method: 'GET', headers: { ...auth, 'If-None-Match': koorEtag } }),
      bare304: script(tmp.dir, 'bare-304', { method: 'GET', headers: { 'If-None-Match': bareEtag } }),
      put: script(tmp.dir, 'put', { method: 'PUT', headers: { ...auth, ...json }, body: doc, cycleKeys: '/api/state/bench/put/' }),
      publish: script(tmp.dir, 'publish', { method: 'POST', path: '/api/events/publish', headers: { ...auth, ...json }, body: JSON.stringify({ topic: 'bench.publish', data: JSON.parse(doc) }) }),
    };
    if (only === 'baseline') {
      // KOOR_BENCH_SPEED=baseline: only this build against KOOR_BENCH_BASELINE.
      if (!process.env.KOOR_BENCH_BASELINE) throw new Error('KOOR_BENCH_SPEED=baseline needs KOOR_BENCH_BASELINE=<dir>/dist/src/main.js');
      for (const p of procs.splice(0)) await p.stop(); // nothing else on core 0
      const v = await againstBaseline(path.resolve(process.env.KOOR_BENCH_BASELINE), s, doc, durationS, opts);
      return { ok: true, duration_s: durationS, baseline: v.results, tables: [v.table], warnings };
    }
    const results: Record<string, Wrk | number | null> = {};
    const step = (name: string, f: () => Wrk | number | null) => {
      opts.log(`  ${name}…`);
      results[name] = f();
    };
    step('koor_get', () => wrkCpu(koorFull.pid, `${koorFull.url}/api/state/bench/doc`, s.koorGet, durationS));
    step('bare_get', () => wrk(`${bare.url}/api/state/bench/doc`, s.bareGet, durationS));
    step('koor_304', () => wrkCpu(koorFull.pid, `${koorFull.url}/api/state/bench/doc`, s.koor304, durationS));
    step('bare_304', () => wrk(`${bare.url}/api/state/bench/doc`, s.bare304, durationS));
    step('koor_put_full', () => wrkCpu(koorFull.pid, `${koorFull.url}/api/state/bench/put/0`, s.put, durationS));
    for (const c of TAIL_CONNECTIONS) step(`koor_put_full_c${c}`, () => wrkN(`${koorFull.url}/api/state/bench/put/0`, s.put, durationS, c));
    step('koor_put_full_long', () => wrkCpu(koorFull.pid, `${koorFull.url}/api/state/bench/put/0`, s.put, TAIL_LONG_S));
    step('bare_put_memory', () => wrkCpu(bare.pid, `${bare.url}/api/state/bench/put/0`, s.put, durationS));
    step('koor_publish', () => wrkCpu(koorFull.pid, koorFull.url, s.publish, durationS));
    await koorFull.stop();
    const versus = process.env.KOOR_BENCH_BASELINE ? await againstBaseline(path.resolve(process.env.KOOR_BENCH_BASELINE), s, doc, durationS, opts) : null;
    procs.splice(procs.indexOf(koorFull), 1);
    const koorNormal = await spawnKoor(['--auth-token', TOKEN, '--sync', 'normal']);
    procs.push(koorNormal);
    pin(koorNormal.pid, 0);
    step('koor_put_normal', () => wrkCpu(koorNormal.pid, `${koorNormal.url}/api/state/bench/put/0`, s.put, durationS));
    await koorNormal.stop();
    procs.splice(procs.indexOf(koorNormal), 1);
    // The durable floors: bare uWS answering each PUT after a minimal SQLite upsert commits, in
    // its own thread, then in a writer thread (koor's shape).
    // With FULL, also the floor of what a koor PUT stores (version log, change log, audit,
    // retention) in that shape, and both writer-thread floors' tails at 1 and 4 connections.
    for (const sync of ['full', 'normal'] as const) {
      for (const where of sync === 'full' ? (['', 'thread', 'thread_features'] as const) : (['', 'thread'] as const)) {
        const name = `bare_put_sqlite_${sync}${where ? `_${where}` : ''}`;
        const floor = await spawnBenchScript(name.replace(/_/g, '-'), 'baselines/uws.js', ['0', path.join(tmp.dir, `${name}.db`), sync, ...where.split('_').filter(Boolean)]);
        procs.push(floor);
        pin(floor.pid, 0);
        step(name, () => wrkCpu(floor.pid, `${floor.url}/api/state/bench/put/0`, s.put, durationS));
        if (sync === 'full' && where !== '') for (const c of TAIL_CONNECTIONS) step(`${name}_c${c}`, () => wrkN(`${floor.url}/api/state/bench/put/0`, s.put, durationS, c));
        await floor.stop();
        procs.splice(procs.indexOf(floor), 1);
      }
    }

    // The floor goals, koor and both writer-thread floors running at once and measured in
    // turn, round after round: the runs above are minutes apart, and the machine's speed drifts
    // over minutes (PUT ÷ the floor of its rows read 0.68 in one run and 0.97 in the next).
    opts.log(`  PUT --sync full and its writer-thread floors, in turn (${FLOOR_ROUNDS(opts.quick)} rounds)…`);
    const rounds = await floorRounds(tmp.dir, s.put, durationS, FLOOR_ROUNDS(opts.quick), procs);

    let redisAlways: Record<string, number> = {};
    let redisEverysec: Record<string, number> = {};
    if (!noRedis) {
      for (const [fsync, into] of [['always', (r: Record<string, number>) => (redisAlways = r)], ['everysec', (r: Record<string, number>) => (redisEverysec = r)]] as const) {
        const dir = path.join(tmp.dir, `redis-${fsync}`);
        fs.mkdirSync(dir);
        const r = await startRedis(dir, fsync);
        if (!r) {
          warnings.push(`redis-server (${fsync}) did not start`);
          continue;
        }
        redises.push(r.child);
        opts.log(`  redis ${fsync}…`);
        into(redisBench(r.port, fsync === 'always' ? 'get,set,lpush' : 'set', redisN));
        if (fsync === 'always') {
          // Latency at low concurrency: enough requests for a p99 of ~3 s of one connection.
          for (const c of TAIL_CONNECTIONS) redisAlways[`set_c${c}_p99`] = redisBench(r.port, 'set', opts.quick ? 3000 * c : 10_000 * c, c).set_p99 ?? NaN;
        }
        r.child.kill('SIGTERM');
      }
    }

    const fan: Array<{ koor: FanoutRun; bare_durable: FanoutRun | null; redis: FanoutRun | null }> = [];
    if (!noRedis) {
      for (const count of opts.quick ? [100] : [100, 1000]) {
        opts.log(`  fan-out to ${count} subscribers: koor, bare durable fan-out, then Redis pub/sub…`);
        try {
          fan.push(await fanout(tmp.dir, count, durationS, warnings));
        } catch (e) {
          warnings.push(`fan-out ${count}: ${(e as Error).message}`);
        }
      }
    }

    // The storage ceilings, on the server's core once the servers are gone (bench/baselines/sqlite.ts).
    opts.log('  SQLite ceilings (bare append loop, koor writer without HTTP)…');
    let sqlite: Record<string, { rows_per_s: number; user_us: number; sys_us: number }> = {};
    try {
      const out = execFileSync('taskset', ['-c', '0', process.execPath, path.join(BENCH_DIST_DIR, 'baselines', 'sqlite.js'), path.join(tmp.dir, 'sqlite'), String(Math.max(2, durationS / 2))], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      sqlite = JSON.parse(out);
    } catch (e) {
      warnings.push(`SQLite ceilings not measured: ${(e as Error).message.split('\n')[0]}`);
    }

    const w = (k: string) => results[k] as Wrk;
    const cpuOf = (r: Wrk) => (r.main_us ?? 0) + (r.other_us ?? 0);
    for (const k of Object.keys(results)) if ((results[k] as Wrk).non2xx > 0) warnings.push(`${k}: ${(results[k] as Wrk).non2xx} non-2xx/3xx responses`);
    const row = (what: string, koor: Wrk, refName: string, ref: number | undefined, goal: string) => [
      what,
      fmtInt(koor.rps),
      fmtMs(koor.p50_ms),
      fmtMs(koor.p99_ms),
      refName,
      ref === undefined ? '-' : fmtInt(ref),
      ref === undefined ? '-' : fmtRatio(ratio(koor.rps, ref)),
      goal,
    ];
    const connections = (c: number) => `${c} connection${c > 1 ? 's' : ''}`;
    /** A run at `c` connections against Redis always's p99 at as many. */
    const tailRow = (what: string, key: string, c: number, goal: string) => {
      const k = w(key);
      const ref = redisAlways[`set_c${c}_p99`];
      return [what, fmtInt(k.rps), fmtMs(k.p50_ms), fmtMs(k.p99_ms), ref === undefined ? '-' : fmtMs(ref), ref && k.p99_ms !== null ? fmtRatio(ratio(k.p99_ms, ref)) : '-', goal];
    };
    const getRatios = (scale.results as { get_keys_floor_ratios?: number[] }).get_keys_floor_ratios ?? [];
    const getRowsRatios = (scale.results as { get_keys_rows_ratios?: number[] }).get_keys_rows_ratios ?? [];
    const eachRound = (xs: number[]) => xs.map((x) => fmtRatio(x)).join(' ');
    const tables: BenchTable[] = [
      {
        title: `Data plane vs references (1 KB, ${CONNECTIONS} connections, server core 0, generator core 1, ${durationS} s wrk runs)`,
        columns: ['path', 'koor req/s', 'p50 ms', 'p99 ms', 'reference', 'ref req/s', 'ratio', 'goal'],
        rows: [
          row('GET, auth on', w('koor_get'), 'bare uWS', w('bare_get').rps, '>= 0.8x'),
          row('GET, auth on', w('koor_get'), 'Redis GET', redisAlways.get, '>= 1.0x'),
          row('GET 304', w('koor_304'), 'bare uWS 304', w('bare_304').rps, '>= 0.8x'),
          row('PUT --sync full', w('koor_put_full'), 'Redis SET always', redisAlways.set, '>= 1.0x'),
          row('PUT --sync normal', w('koor_put_normal'), 'Redis SET everysec', redisEverysec.set, '>= 0.5x'),
          row('publish (durable)', w('koor_publish'), 'Redis LPUSH always', redisAlways.lpush, '>= 1.0x'),
          row('PUT --sync full', w('koor_put_full'), 'bare SQLite 64/tx', sqlite.bare_append?.rows_per_s, '>= 0.5x'),
          row('PUT --sync full', w('koor_put_full'), 'floor: uWS+SQLite FULL', w('bare_put_sqlite_full').rps, 'floor'),
          row('PUT --sync normal', w('koor_put_normal'), 'floor: uWS+SQLite NORMAL', w('bare_put_sqlite_normal').rps, 'floor'),
          row('floor: uWS PUT, memory only', w('bare_put_memory'), 'Redis SET always', redisAlways.set, 'reachable?'),
          row('floor: uWS+SQLite FULL', w('bare_put_sqlite_full'), 'Redis SET always', redisAlways.set, 'reachable?'),
          row('floor: uWS+SQLite NORMAL', w('bare_put_sqlite_normal'), 'Redis SET everysec', redisEverysec.set, 'reachable?'),
          row('PUT --sync full', w('koor_put_full'), 'floor: FULL, writer thread', w('bare_put_sqlite_full_thread').rps, 'floor'),
          row('PUT --sync normal', w('koor_put_normal'), 'floor: NORMAL, writer thread', w('bare_put_sqlite_normal_thread').rps, 'floor'),
          row('PUT --sync full', w('koor_put_full'), "floor: FULL, writer thread, koor's rows", w('bare_put_sqlite_full_thread_features').rps, 'floor'),
          row("floor: FULL, writer thread, koor's rows", w('bare_put_sqlite_full_thread_features'), 'floor: FULL, writer thread', w('bare_put_sqlite_full_thread').rps, 'vs 0.8x goal'),
          row('floor: FULL, writer thread', w('bare_put_sqlite_full_thread'), 'Redis SET always', redisAlways.set, 'reachable?'),
          row('floor: NORMAL, writer thread', w('bare_put_sqlite_normal_thread'), 'Redis SET everysec', redisEverysec.set, 'reachable?'),
          row('PUT --sync full', w('koor_put_full'), 'koor writer alone', sqlite.writer_put?.rows_per_s, 'ceiling'),
          row('publish (durable)', w('koor_publish'), 'koor writer alone', sqlite.writer_publish?.rows_per_s, 'ceiling'),
        ],
      },
      {
        title: `Durable PUT tail latency (1 KB over ${KEYS} keys, --sync full; wrk --latency, redis-benchmark p99)`,
        columns: ['run', 'koor req/s', 'koor p50 ms', 'koor p99 ms', 'Redis always p99 ms', 'p99 ratio', 'goal'],
        rows: [
          ...TAIL_CONNECTIONS.map((c) => tailRow(`${connections(c)}, ${durationS} s`, `koor_put_full_c${c}`, c, '<= 3.0x')),
          ...(['thread', 'thread_features'] as const).flatMap((f) =>
            TAIL_CONNECTIONS.map((c) => tailRow(`floor: FULL, writer thread${f === 'thread' ? '' : ", koor's rows"}, ${connections(c)}`, `bare_put_sqlite_full_${f}_c${c}`, c, 'floor')),
          ),
          [`${CONNECTIONS} connections, ${TAIL_LONG_S} s`, fmtInt(w('koor_put_full_long').rps), fmtMs(w('koor_put_full_long').p50_ms), fmtMs(w('koor_put_full_long').p99_ms), '-', '-', 'p99 <= 20 ms'],
        ],
      },
      {
        title: `Fan-out: koor WebSocket subscribers vs Redis pub/sub and a bare durable fan-out (servers core 0; publisher + ${SUB_PROCS} subscriber processes core 1)`,
        columns: ['subscribers', 'frame B', 'koor publishes/s', 'koor deliveries/s', 'Redis publishes/s', 'Redis deliveries/s', 'ratio', 'goal', 'srv µs/dlv koor', 'Redis', 'cpu ratio', 'bare durable deliveries/s', 'bare durable/Redis', 'koor/bare durable'],
        rows: fan.map((f) => [
          String(f.koor.subscribers),
          String(f.koor.frame_bytes),
          fmtInt(f.koor.publishes_per_s),
          fmtInt(f.koor.deliveries_per_s),
          f.redis ? fmtInt(f.redis.publishes_per_s) : '-',
          f.redis ? fmtInt(f.redis.deliveries_per_s) : '-',
          f.redis ? fmtRatio(ratio(f.koor.deliveries_per_s, f.redis.deliveries_per_s)) : '-',
          '>= 1.0x',
          String(f.koor.server_us_per_delivery),
          f.redis ? String(f.redis.server_us_per_delivery) : '-',
          f.redis ? fmtRatio(ratio(f.redis.server_us_per_delivery, f.koor.server_us_per_delivery)) : '-',
          f.bare_durable ? fmtInt(f.bare_durable.deliveries_per_s) : '-',
          f.bare_durable && f.redis ? fmtRatio(ratio(f.bare_durable.deliveries_per_s, f.redis.deliveries_per_s)) : '-',
          f.bare_durable ? fmtRatio(ratio(f.koor.deliveries_per_s, f.bare_durable.deliveries_per_s)) : '-',
        ]),
      },
      {
        title: 'Server CPU per request (µs; main = the uWS/JS thread, other = writer thread, GC helpers, pool)',
        columns: ['path', 'main µs', 'other µs', 'total µs', 'req/s'],
        rows: (['koor_get', 'koor_304', 'koor_put_full', 'koor_put_full_long', 'koor_put_normal', 'koor_publish', 'bare_put_memory', 'bare_put_sqlite_full', 'bare_put_sqlite_normal', 'bare_put_sqlite_full_thread', 'bare_put_sqlite_full_thread_features', 'bare_put_sqlite_normal_thread'] as const).map((k) => {
          const r = w(k);
          return [k.startsWith('koor_') ? k.slice(5) : k, String(r.main_us ?? '-'), String(r.other_us ?? '-'), r.main_us === undefined ? '-' : (r.main_us + (r.other_us ?? 0)).toFixed(1), fmtInt(r.rps)];
        }).concat([
          ['put_full ÷ floor: FULL, writer thread (goal <= 1.3x)', '', '', fmtRatio(ratio(cpuOf(w('koor_put_full')), cpuOf(w('bare_put_sqlite_full_thread')))), ''],
          ["floor with koor's rows ÷ floor: FULL, writer thread", '', '', fmtRatio(ratio(cpuOf(w('bare_put_sqlite_full_thread_features')), cpuOf(w('bare_put_sqlite_full_thread')))), ''],
          ["put_full ÷ floor with koor's rows", '', '', fmtRatio(ratio(cpuOf(w('koor_put_full')), cpuOf(w('bare_put_sqlite_full_thread_features')))), ''],
        ]),
      },
      {
        title: `Floor goals, koor and each floor measured in turn (${rounds.length} rounds of ${durationS} s, ${CONNECTIONS} connections; GET: 100,000 keys, ${getRatios.length} rounds)`,
        columns: ['measure', 'each round', 'median', 'goal'],
        rows: [
          ["PUT --sync full ÷ floor with koor's rows (req/s)", eachRound(rounds.map((r) => ratio(r.koor.rps, r.features.rps) ?? 0)), fmtRatio(median(rounds.map((r) => r.koor.rps / r.features.rps))), '>= 0.9x'],
          ['PUT --sync full ÷ plain writer-thread floor (req/s)', eachRound(rounds.map((r) => ratio(r.koor.rps, r.plain.rps) ?? 0)), fmtRatio(median(rounds.map((r) => r.koor.rps / r.plain.rps))), '>= 0.5x'],
          ['PUT --sync full p99, ms', rounds.map((r) => fmtMs(r.koor.p99_ms)).join(' '), `max ${fmtMs(Math.max(...rounds.map((r) => r.koor.p99_ms ?? Infinity)))}`, '<= 20 ms'],
          ['PUT --sync full, server CPU per PUT, µs (koor; floor with its rows)', rounds.map((r) => `${cpuOf(r.koor).toFixed(1)}; ${cpuOf(r.features).toFixed(1)}`).join('  '), `${median(rounds.map((r) => cpuOf(r.koor))).toFixed(1)}; ${median(rounds.map((r) => cpuOf(r.features))).toFixed(1)}`, '<= 60 µs (koor)'],
          ['GET over 100,000 keys ÷ the floor of a read past the cache (req/s)', eachRound(getRatios), fmtRatio(median(getRatios)), '>= 0.9x'],
          ["GET over 100,000 keys ÷ the floor of a read of koor's rows (req/s)", eachRound(getRowsRatios), fmtRatio(median(getRowsRatios)), '-'],
        ],
      },
      {
        title: 'Storage ceilings on core 0 (no HTTP, no thread hop; batches as 50 connections make them)',
        columns: ['loop', 'rows/s', 'user µs/row', 'sys µs/row'],
        rows: Object.entries(sqlite).map(([k, v]) => [k, fmtInt(v.rows_per_s), String(v.user_us), String(v.sys_us)]),
      },
    ];
    return {
      ok: warnings.every((x) => !x.includes('non-2xx')),
      duration_s: durationS,
      koor: results,
      redis: { always: redisAlways, everysec: redisEverysec },
      sqlite,
      fanout: fan,
      floor_rounds: rounds,
      ...scale.results,
      ...(versus ? { baseline: versus.results } : {}),
      tables: [...tables, ...(versus ? [versus.table] : []), ...scale.tables],
      warnings,
      notes: [
        'Fan-out: koor publishes are durable (SQLite, the WAL synced at each commit) before they fan out; Redis pub/sub keeps nothing. Deliveries/s counts frames received by the subscribers; when core 1 (publisher + subscribers) is saturated it sets the pace for both, and the server CPU per delivery (cpu ratio = Redis µs / koor µs) is the comparison that stays meaningful.',
        'Floors: bare uWS PUT into a Map (memory only) is the HTTP floor of any PUT on this stack; uWS+SQLite FULL/NORMAL upserts the PUTs of one event-loop turn in one transaction in the same thread (no auth, no history, no thread hop) and answers after COMMIT: no koor PUT can beat its floor, so a floor below its Redis reference means that goal is out of reach of uWS+SQLite on one core. The writer-thread floors do the same upserts in a worker thread (the batch gathered while the previous one commits, one message each way): the least the shape koor is built to (uWS front, one SQLite writer thread) costs.',
        'Fan-out against bare uWS app.publish at 10/100/1000 subscribers and the stalled-subscriber cost are measured by `npm run bench -- events`.',
      ],
    };
  } finally {
    for (const r of redises) r.kill('SIGKILL');
    for (const p of procs) await p.stop();
    tmp.remove();
  }
}
