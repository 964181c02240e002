/**
 * Data-plane speed against the references issue 11 names, with a C load generator (wrk) so the
 * generator is not the limit: server on core 0, wrk / redis-benchmark on core 1 (taskset).
 *
 *   get        GET 1 KB state value, auth on          koor | bare uWS (same bytes) | Redis GET
 *   get_304    the same with If-None-Match            koor | bare uWS
 *   put_full   PUT 1 KB over 1000 keys, --sync full   koor | Redis SET appendfsync always
 *   put_normal the same, --sync normal               koor | Redis SET appendfsync everysec
 *   publish    POST /api/events/publish (durable)    koor | Redis LPUSH appendfsync always
 * 50 connections everywhere. Needs `wrk`, `redis-server`, `redis-benchmark` (Debian: apt-get
 * install wrk redis-server); a missing tool skips its rows with the reason, it never fakes them.
 *
 *   npm run bench -- speed [--quick]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makeDoc } from './http.js';
import { BENCH_DIST_DIR, fmtInt, fmtMs, fmtRatio, have, makeTempDir, pin, ratio, sleep, spawnBenchScript, spawnKoor, wrkCpu as wrkCpuN, wrk as wrkN, wrkScript, type BenchOptions, type BenchTable, type ServerProc, type Wrk } from './lib.js';

const CONNECTIONS = 50;
const TOKEN = 'bench-token';
const KEYS = 1000;
const wrk = (url: string, script: string, durationS: number): Wrk => wrkN(url, script, durationS, CONNECTIONS);
const wrkCpu = (pid: number, url: string, script: string, durationS: number): Wrk => wrkCpuN(pid, url, script, durationS, CONNECTIONS);
const script = (dir: string, name: string, opts: Parameters<typeof wrkScript>[2]): string => wrkScript(dir, name, { ...opts, keys: KEYS });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

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

/** redis-benchmark on core 1: requests/s per test (`-q --csv`). */
function redisBench(port: number, tests: string, n: number): Record<string, number> {
  const out = execFileSync('taskset', ['-c', '1', 'redis-benchmark', '-p', String(port), '-c', String(CONNECTIONS), '-n', String(n), '-d', '1024', '-r', String(KEYS), '-t', tests, '-q', '--csv'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const res: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^"([A-Z]+)[^"]*","([\d.]+)"/.exec(line);
    if (m) res[m[1]!.toLowerCase()] = Math.round(Number(m[2]));
  }
  return res;
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
    const koorFull = await spawnKoor(['--auth-token', TOKEN, '--sync', 'full']);
    procs.push(koorFull);
    const bare = await spawnBenchScript('baseline-uws', 'baseline-uws.js');
    procs.push(bare);
    for (const p of procs) pin(p.pid, 0);
    // The documents both servers serve.
    const putDoc = async (base: string, headers: Record<string, string>) => {
      const r = await fetch(`${base}/api/state/bench/doc`, { method: 'PUT', headers: { ...headers, ...json }, body: doc });
      const etag = r.headers.get('etag') ?? '';
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`PUT doc: HTTP ${r.status}`);
      return etag;
    };
    const koorEtag = await putDoc(koorFull.url, auth);
    const bareEtag = await putDoc(bare.url, {});
    const s = {
      koorGet: script(tmp.dir, 'koor-get', { method: 'GET', headers: auth }),
      bareGet: script(tmp.dir, 'bare-get', { method: 'GET', headers: {} }),
      koor304: script(tmp.dir, 'koor-304', { method: 'GET', headers: { ...auth, 'If-None-Match': koorEtag } }),
      bare304: script(tmp.dir, 'bare-304', { method: 'GET', headers: { 'If-None-Match': bareEtag } }),
      put: script(tmp.dir, 'put', { method: 'PUT', headers: { ...auth, ...json }, body: doc, cycleKeys: '/api/state/bench/put/' }),
      publish: script(tmp.dir, 'publish', { method: 'POST', path: '/api/events/publish', headers: { ...auth, ...json }, body: JSON.stringify({ topic: 'bench.publish', data: JSON.parse(doc) }) }),
    };
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
    step('koor_publish', () => wrkCpu(koorFull.pid, koorFull.url, s.publish, durationS));
    await koorFull.stop();
    procs.splice(procs.indexOf(koorFull), 1);
    const koorNormal = await spawnKoor(['--auth-token', TOKEN, '--sync', 'normal']);
    procs.push(koorNormal);
    pin(koorNormal.pid, 0);
    step('koor_put_normal', () => wrkCpu(koorNormal.pid, `${koorNormal.url}/api/state/bench/put/0`, s.put, durationS));

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
        r.child.kill('SIGTERM');
      }
    }

    // The storage ceilings, on the server's core once the servers are gone (baseline-sqlite.ts).
    opts.log('  SQLite ceilings (bare append loop, koor writer without HTTP)…');
    let sqlite: Record<string, { rows_per_s: number; user_us: number; sys_us: number }> = {};
    try {
      const out = execFileSync('taskset', ['-c', '0', process.execPath, path.join(BENCH_DIST_DIR, 'baseline-sqlite.js'), path.join(tmp.dir, 'sqlite'), String(Math.max(2, durationS / 2))], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      sqlite = JSON.parse(out);
    } catch (e) {
      warnings.push(`SQLite ceilings not measured: ${(e as Error).message.split('\n')[0]}`);
    }

    const w = (k: string) => results[k] as Wrk;
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
          row('PUT --sync full', w('koor_put_full'), 'koor writer alone', sqlite.writer_put?.rows_per_s, 'ceiling'),
          row('publish (durable)', w('koor_publish'), 'koor writer alone', sqlite.writer_publish?.rows_per_s, 'ceiling'),
        ],
      },
      {
        title: 'Server CPU per request (µs; main = the uWS/JS thread, other = writer thread, GC helpers, pool)',
        columns: ['path', 'main µs', 'other µs', 'total µs', 'req/s'],
        rows: (['koor_get', 'koor_304', 'koor_put_full', 'koor_put_normal', 'koor_publish'] as const).map((k) => {
          const r = w(k);
          return [k.slice(5), String(r.main_us ?? '-'), String(r.other_us ?? '-'), r.main_us === undefined ? '-' : (r.main_us + (r.other_us ?? 0)).toFixed(1), fmtInt(r.rps)];
        }),
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
      tables,
      warnings,
      notes: ['Fan-out (100 subscribers) is measured by `npm run bench -- events`.'],
    };
  } finally {
    for (const r of redises) r.kill('SIGKILL');
    for (const p of procs) await p.stop();
    tmp.remove();
  }
}
