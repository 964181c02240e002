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
 *
 * Its parts are in bench/speed/: the drive, Redis, the floor rounds, fan-out, the rows past the
 * hot path (scale.ts) and the comparison with another build.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeDoc } from '../lib/doc.js';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtInt, fmtMs, fmtRatio, median, ratio } from '../lib/format.js';
import { have, pin, spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import { BENCH_DIST_DIR, type BenchOptions, type BenchTable } from '../lib/suite.js';
import { wrk as wrkN, type Wrk } from '../lib/wrk.js';
import { againstBaseline, putDoc } from '../speed/against-build.js';
import { CONNECTIONS, KEYS, script, TOKEN, wrk, wrkCpu } from '../speed/drive.js';
import { fanout, SUB_PROCS, type FanoutRun } from '../speed/fanout.js';
import { floorRounds, FLOOR_ROUNDS } from '../speed/floors.js';
import { redisBench, startRedis } from '../speed/redis.js';
import { scaleRows } from '../speed/scale.js';

/** Durable PUT's tail: p99 at 1 and 4 connections, and over a long run at 50. */
const TAIL_CONNECTIONS = [1, 4] as const;
const TAIL_LONG_S = 30;

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
          ['PUT --sync full ÷ plain writer-thread floor (req/s)', eachRound(rounds.map((r) => ratio(r.koor.rps, r.plain.rps) ?? 0)), fmtRatio(median(rounds.map((r) => r.koor.rps / r.plain.rps))), '- (decided by the disk)'],
          ['PUT --sync full p99, ms', rounds.map((r) => fmtMs(r.koor.p99_ms)).join(' '), `max ${fmtMs(Math.max(...rounds.map((r) => r.koor.p99_ms ?? Infinity)))}`, '<= 20 ms'],
          ['PUT --sync full, server CPU per PUT, µs (koor; floor with its rows)', rounds.map((r) => `${cpuOf(r.koor).toFixed(1)}; ${cpuOf(r.features).toFixed(1)}`).join('  '), `${median(rounds.map((r) => cpuOf(r.koor))).toFixed(1)}; ${median(rounds.map((r) => cpuOf(r.features))).toFixed(1)}`, '-'],
          ["PUT --sync full, server CPU per PUT ÷ the floor with koor's rows", eachRound(rounds.map((r) => ratio(cpuOf(r.koor), cpuOf(r.features)) ?? 0)), fmtRatio(median(rounds.map((r) => cpuOf(r.koor) / cpuOf(r.features)))), '<= 1.2x'],
          ['GET over 100,000 keys ÷ the floor of a read past the cache (req/s)', eachRound(getRatios), fmtRatio(median(getRatios)), '-'],
          ["GET over 100,000 keys ÷ the floor of a read of koor's rows (req/s)", eachRound(getRowsRatios), fmtRatio(median(getRowsRatios)), '>= 0.9x'],
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
