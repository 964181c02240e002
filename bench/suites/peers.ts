/**
 * Koor against the stores its users would pick instead — etcd (JSON gateway), Redis
 * (`appendfsync always`), NATS JetStream KV — on the same machine, in the same run. Each server
 * alone, pinned to core 0; every load generator on core 1 (wrk, redis-benchmark, or
 * bench/peers/client.ts where no C generator speaks the protocol); every row twice (two passes over
 * all servers, so drift hits every server alike). 1 KB values.
 *
 *   write c1/c4/c50  durable writes to 1000 keys, closed loop at 1, 4, 50 connections: ops/s,
 *                    p50/p99, and (at 50) the server's CPU per write (whole process, all threads,
 *                    user+sys from /proc/<pid>/stat ÷ writes); checked: the store's change counter
 *                    moved by at least every acknowledged write
 *   read             50 connections reading one 1 KB key
 *   cas              16 clients adding 1 to one counter by compare-and-set (koor POST /api/txn,
 *                    etcd txn on mod_revision, Redis EVALSHA of a compare-and-set script, NATS
 *                    expected-last-subject-sequence): successes/s; checked: final = successes.
 *                    The clients run in C (bench/peers/cas.c, built with the system's compiler;
 *                    without one, in Node: client.ts)
 *   watch            100 watchers of a prefix while 4 writers put keys under it (not Redis: no
 *                    watch); checked: every watcher saw every acknowledged write once, in order
 *   pubsub           100 subscribers, 4 publishers (not etcd: no pub/sub); koor's publishes are
 *                    durable, Redis's and NATS core's are not; checked: every message at every
 *                    subscriber, one order
 *
 *   duels            the goals a single pass decides by luck on this VM (one agent's write at 1
 *                    connection against etcd, writes at 4 against etcd, contended CAS against
 *                    Redis): koor and the peer running at once, measured in turn over 6 rounds (2
 *                    with --quick), the order alternating; each round and each side's median
 *
 *   cas floor        bench/baselines/uws.ts in its thread + features mode, koor's shape with none of
 *                    its routing, auth, validation or envelopes: the cas row only, so koor's CAS
 *                    can be read against what its architecture allows on this machine
 *
 *   KOOR_BENCH_PEERS=koor,etcd      only these servers (koor, floor, etcd, redis, nats)
 *   KOOR_BENCH_PEERS_ROWS=write,cas  only these rows (write, read, cas, watch, pubsub)
 *   KOOR_BENCH_PEERS_ROUNDS=3        the duels' rounds (0: no duels)
 *   KOOR_BENCH_BASELINE=<dir>/dist/src/main.js   also "koor (base)", another build, in the same passes
 *
 *   npm run bench -- peers [--quick]
 *
 * The rows are measured by bench/peers/rows.ts, the duels run by duels.ts and the goals judged by
 * goals.ts there; the servers are started by servers.ts, the Node clients are client.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { have, pin } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { wrkScript } from '../lib/wrk.js';
import { DUELS, duel, duelRounds } from '../peers/duels.js';
import { issueGoals } from '../peers/goals.js';
import { natsSetup, type PeerKind } from '../peers/ops.js';
import { b64 } from '../peers/proto-http.js';
import { buildCasGenerator, client, clientRows, etcdPutScript, KEYS, only, readRow, VALUE, writeRows, type Ctx, type Row } from '../peers/rows.js';
import { DURABILITY, ensureInstalled, startCasFloor, startEtcd, startKoor, startNats, startRedis, type Peer } from '../peers/servers.js';

export const timeoutMs = { quick: 300_000, full: 1_500_000 };

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = opts.quick ? 1 : 5;
  const warnings: string[] = [];
  const notes: string[] = [];
  const missing = ['wrk', 'taskset', 'redis-benchmark'].filter((c) => !have(c));
  if (missing.includes('wrk') || missing.includes('taskset')) return { ok: true, skipped: `needs ${missing.join(', ')} (apt-get install wrk util-linux)`, warnings: [`peers: skipped, missing ${missing.join(', ')}`] };
  pin(process.pid, 1); // this process only waits on its generators; keep it off the server's core
  const wanted = (process.env.KOOR_BENCH_PEERS || 'koor,floor,etcd,redis,nats').split(',').map((s) => s.trim());
  const base = process.env.KOOR_BENCH_BASELINE;
  const skipped: Record<string, string> = {};
  /** `rows`: the only rows a server runs (the floor: cas). */
  const starters: Array<{ label: string; kind: PeerKind; start: () => Promise<Peer>; rows?: string[] }> = [];
  if (wanted.includes('koor')) starters.push({ label: 'koor', kind: 'koor', start: () => startKoor('koor') });
  if (base) starters.push({ label: 'koor (base)', kind: 'koor', start: () => startKoor('koor (base)', path.resolve(base)) });
  if (wanted.includes('floor') && only('cas')) starters.push({ label: 'cas floor', kind: 'koor', start: startCasFloor, rows: ['cas'] });
  for (const [kind, start] of [['etcd', startEtcd], ['redis', startRedis], ['nats', startNats]] as const) {
    if (!wanted.includes(kind)) continue;
    const why = ensureInstalled(kind, opts.log);
    if (why) {
      skipped[kind] = why;
      warnings.push(`${kind} skipped: ${why}`);
    } else starters.push({ label: kind, kind, start });
  }
  if (missing.includes('redis-benchmark') && starters.some((s) => s.kind === 'redis')) {
    skipped.redis = 'redis-benchmark missing';
    starters.splice(starters.findIndex((s) => s.kind === 'redis'), 1);
  }
  const tmp = makeTempDir('koor-bench-peers-');
  const etcdGet = path.join(tmp.dir, 'etcd-get.lua');
  fs.writeFileSync(etcdGet, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '${JSON.stringify({ key: b64('bench/doc') })}'\n`);
  const ctx: Ctx = {
    opts,
    dir: tmp.dir,
    durationS,
    warmS: opts.quick ? 1 : 2,
    writes: opts.quick ? 100 : 500,
    messages: opts.quick ? 200 : 1000,
    scripts: {
      koorPut: wrkScript(tmp.dir, 'koor-put', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: VALUE, cycleKeys: '/api/state/bench/put/', keys: KEYS }),
      koorGet: wrkScript(tmp.dir, 'koor-get', { method: 'GET', headers: {} }),
      etcdPut: etcdPutScript(tmp.dir),
      etcdGet,
    },
    casBin: undefined,
  };
  if (only('cas')) {
    const g = buildCasGenerator(tmp.dir);
    ctx.casBin = g.bin;
    if (g.why) warnings.push(`cas row: clients in Node, not C: ${g.why}`);
  }
  const rows: Row[] = [];
  /** The duels' rows, `pass` = the round. */
  const duelRows: Row[] = [];
  const servers: Record<string, { version: string; durability: string }> = {};
  const load: number[][] = [];
  try {
    for (const pass of [1, 2]) {
      for (const s of starters) {
        opts.log(`pass ${pass}: ${s.label}`);
        load.push(os.loadavg());
        let p: Peer;
        try {
          p = await s.start();
        } catch (e) {
          warnings.push(`${s.label} (pass ${pass}) did not start: ${(e as Error).message.split('\n')[0]}`);
          continue;
        }
        servers[s.label] = { version: p.version, durability: p.durability };
        try {
          const runs = (row: string) => only(row) && (s.rows === undefined || s.rows.includes(row));
          if (p.kind === 'nats') client({ peer: 'nats', port: p.port, scenario: 'setup' }, 30);
          if (runs('write')) rows.push(...(await writeRows(ctx, p, pass)));
          if (runs('read')) rows.push(await readRow(ctx, p, pass));
          rows.push(...(await clientRows(ctx, p, pass, runs)));
        } catch (e) {
          warnings.push(`${s.label} (pass ${pass}): ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
        } finally {
          await p.stop();
        }
      }
    }
    // The goals one pass decides by luck, decided again over the rounds of a duel.
    const rounds = duelRounds(opts.quick);
    for (const d of DUELS) {
      const starter = starters.find((s) => s.kind === d.peer);
      const what = d.rows.filter((r) => only(r === 'cas' ? 'cas' : 'write'));
      if (rounds === 0 || !wanted.includes('koor') || !starter || what.length === 0) continue;
      opts.log(`duel: koor and ${starter.label}, ${rounds} rounds of ${what.join(', ')}`);
      try {
        duelRows.push(...(await duel(ctx, rounds, starter.start, what)));
      } catch (e) {
        warnings.push(`duel with ${starter.label}: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
      }
    }
  } finally {
    tmp.remove();
  }
  void natsSetup;

  // Tables: every row and pass, then koor ÷ each peer in the same pass.
  const get = (row: string, peer: string, pass: number) => rows.find((r) => r.row === row && r.peer === peer && r.pass === pass);
  const rowNames = [...new Set(rows.map((r) => r.row))];
  const labels = [...new Set(rows.map((r) => r.peer))];
  const both = (f: (pass: number) => string) => `${f(1)} / ${f(2)}`;
  const detail: BenchTable = {
    title: `Each server alone on core 0, load on core 1, 1 KB values, ${durationS} s runs; every cell "pass 1 / pass 2"`,
    columns: ['row', 'server', 'ops/s (deliveries/s)', 'p50 ms', 'p99 ms', 'server µs/op', 'core0 others', 'check'],
    rows: rowNames.flatMap((rn) =>
      labels
        .filter((l) => get(rn, l, 1) || get(rn, l, 2))
        .map((l) => [
          rn,
          l,
          both((ps) => fmtInt(get(rn, l, ps)?.ops_per_s)),
          both((ps) => fmtMs(get(rn, l, ps)?.p50_ms)),
          both((ps) => fmtMs(get(rn, l, ps)?.p99_ms)),
          both((ps) => String(get(rn, l, ps)?.server_us_per_op ?? '-')),
          both((ps) => String(get(rn, l, ps)?.core0_other ?? '-')),
          [1, 2].map((ps) => get(rn, l, ps)).every((r) => r?.ok) ? (get(rn, l, 1)?.check ?? '') : `FAILED: ${[1, 2].map((ps) => get(rn, l, ps)?.check ?? 'not run').join(' | ')}`,
        ]),
    ),
  };
  const ratioCell = (rn: string, peer: string, f: (r: Row) => number | null, invert: boolean) =>
    both((ps) => {
      const k = get(rn, 'koor', ps);
      const o = get(rn, peer, ps);
      const a = k ? f(k) : null;
      const b = o ? f(o) : null;
      if (a === null || b === null) return '-';
      return fmtRatio(invert ? ratio(b, a) : ratio(a, b));
    });
  const peersOnly = labels.filter((l) => l !== 'koor');
  const summary: BenchTable = {
    title: 'koor ÷ each server, same pass ("pass 1 / pass 2"; > 1 means koor is ahead: ops/s koor÷peer, latency and CPU peer÷koor)',
    columns: ['row', 'measure', ...peersOnly],
    rows: rowNames.flatMap((rn) => {
      const lines: Array<Array<string>> = [[rn, 'ops/s', ...peersOnly.map((l) => ratioCell(rn, l, (r) => r.ops_per_s, false))]];
      if (rn === 'write c1' || rn === 'write c4') {
        lines.push([rn, 'p50 (peer÷koor)', ...peersOnly.map((l) => ratioCell(rn, l, (r) => r.p50_ms, true))]);
        lines.push([rn, 'p99 (peer÷koor)', ...peersOnly.map((l) => ratioCell(rn, l, (r) => r.p99_ms, true))]);
      }
      if (rn === 'write c50') lines.push([rn, 'CPU/op (peer÷koor)', ...peersOnly.map((l) => ratioCell(rn, l, (r) => r.server_us_per_op, true))]);
      return lines;
    }),
  };
  const goals = issueGoals(get, [1, 2]);
  const goalTable: BenchTable = {
    title: "Speed goals, judged in each pass (koor and the peer in the same pass)",
    columns: ['goal', 'pass 1', 'pass 2', 'met'],
    rows: goals.map((g) => [g.goal, ...[1, 2].map((ps) => g.passes.find((x) => x.pass === ps)?.shown ?? '-'), `${g.passes.filter((x) => x.met).length} of ${g.passes.length}`]),
  };
  // The duels: every round's figures, then the goals over the rounds.
  const roundsRun = [...new Set(duelRows.map((r) => r.pass))].sort((a, b) => a - b);
  const getDuel = (row: string, peer: string, round: number) => duelRows.find((r) => r.row === row && r.peer === peer && r.pass === round);
  const duelGoals = issueGoals(getDuel, roundsRun);
  const tables = [summary, detail, goalTable];
  if (duelGoals.length > 0) {
    tables.push({
      title: `Speed goals a pass decides by luck, over ${roundsRun.length} rounds of a duel (koor and the peer running at once, measured in turn, the order alternating): each round, and each side's median`,
      columns: ['goal', 'each round', 'medians', 'met'],
      rows: duelGoals.map((g) => [g.goal, g.passes.map((x) => x.shown).join(' / '), g.median.shown, `${g.passes.filter((x) => x.met).length} of ${g.passes.length} rounds; medians ${g.median.met ? 'meet it' : 'do not'}`]),
    });
  }
  const failures = [...rows, ...duelRows].filter((r) => !r.ok).map((r) => `${r.row} ${r.peer} ${rows.includes(r) ? 'pass' : 'round'} ${r.pass}: ${r.check}`);
  notes.push(
    `durability: ${Object.entries(servers).map(([l, s]) => `${l} ${s.version}: ${s.durability}`).join('; ')}`,
    'NATS rows: a JetStream KV put is acknowledged before any fsync (2.9); its write rows are not durable writes in the sense of the others. Redis and NATS pub/sub keep nothing; koor publishes are durable (stored, fsync\'d) before they fan out.',
    'etcd through its JSON gateway: every request is also decoded from JSON and passed on to etcd\'s gRPC server over an in-process loopback connection, so etcd\'s CPU per operation is an upper bound of what a gRPC client costs it (no gRPC client here: the npm `etcd3` package would bring @grpc/grpc-js and protobufjs for one suite).',
    `Generators: wrk (koor, etcd), redis-benchmark (Redis), ${ctx.casBin ? 'bench/peers/cas.c (C: every CAS row) ' : ''}and bench/peers/client.ts (Node: NATS write/read, ${ctx.casBin ? '' : 'every CAS, '}every watch and pub/sub row) on core 1. A Node generator may be the limit on NATS\'s fast rows: see gen_cores in the JSON.`,
    '"server µs/op": CPU of the whole server process (all threads, user+sys) ÷ operations (deliveries for watch/pubsub); "core0 others": cores used on core 0 by other processes during the row (a shared machine).',
  );
  if (Object.keys(skipped).length > 0) notes.push(`skipped: ${Object.entries(skipped).map(([k, v]) => `${k} (${v})`).join('; ')}`);
  return {
    ok: failures.length === 0 && warnings.every((w) => !w.includes('did not start')),
    duration_s: durationS,
    servers,
    durability: DURABILITY,
    skipped,
    loadavg: load,
    rows,
    goals,
    duels: { rounds: roundsRun.length, rows: duelRows, goals: duelGoals },
    tables,
    notes,
    warnings,
    failures,
  };
}
