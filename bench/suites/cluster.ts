/**
 * Cluster mode: one node on SQLite against one node on PostgreSQL against three nodes on
 * one PostgreSQL, same machine, same run. The 1-node SQLite row is the baseline of every ratio.
 *
 *   get        GET /api/state/<key>, 1 KB values over 300 keys, auth off
 *   put        PUT /api/state/<key>, 1 KB over 1000 keys (durable: SQLite --sync full, PostgreSQL
 *              fsync + synchronous_commit on)
 *   publish    POST /api/events/publish, 1 KB data (durable)
 *   delivery   a `ws` subscriber on node B, publishes on node A at a fixed rate (100/s, then
 *              500/s; open loop), latency = frame received − publish sent, p50/p99 (1 node: the
 *              same node; 3 nodes: also a subscriber on A itself); every event must arrive
 *   claim      48 agents (one connection each, spread over the nodes) claim every task of one
 *              pre-filled project: claims/s, and each task claimed exactly once
 *
 * get/put/publish are driven by `wrk` (one process per node, all at once, 48 connections in all,
 * latency distributions merged), delivery and claims by this process (ws, node:http). Every koor
 * node and PostgreSQL on core 0, wrk and this process on core 1 (taskset). Beside each figure: CPU
 * of the nodes, PostgreSQL, the generators and unrelated processes (a disturbed step is measured
 * again); per operation, PostgreSQL statements (pg_stat_statements), writer commits and fsyncs
 * (koor's writer metrics, pg_stat_wal with track_wal_io_timing). Needs `wrk` and Debian's
 * `postgresql` (without it, only the SQLite rows). The measurements, their CPU and write path are in
 * bench/cluster/.
 *
 *   npm run bench -- cluster [--quick]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { openPg } from '../../src/shared/pg.js';
import { makeDoc } from '../lib/doc.js';
import { pooled } from '../lib/async.js';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram } from '../lib/latency.js';
import { have, pin, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { createDatabase, pinPostgres, startPostgres, type Postgres } from '../lib/postgres.js';
import { CLAIMERS, CONFIGS, CONNECTIONS, DELIVERY_MAX_IN_FLIGHT, DELIVERY_RATES, GEN_CORE, GET_KEYS, PUT_KEYS, SERVER_CORE, type Config, type ConfigName } from '../cluster/configs.js';
import { cleanest, DISTURBED_CORES, type CpuFigures } from '../cluster/cpu.js';
import { must } from '../cluster/http.js';
import { claims, delivery, loadRun, type ClaimRun, type DeliveryRun, type LoadRow } from '../cluster/measure.js';
import { wrkLua } from '../cluster/wrk.js';
import type { Cluster, Sql, WritePath } from '../cluster/write-path.js';

/** Sequential 8 KB appends + fdatasync in `dir` for `seconds` (bounded count): the disk's flush rate. */
function fsyncProbe(dir: string, seconds: number): { fsyncs_per_s: number; p50_ms: number | null; p99_ms: number | null } {
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(8192, 1);
  const h = new LatencyHistogram();
  try {
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000 && h.count < 100_000) {
      const s = performance.now();
      fs.writeSync(fd, buf);
      fs.fdatasyncSync(fd);
      h.record(performance.now() - s);
    }
    const sum = h.summary();
    return { fsyncs_per_s: Math.round(h.count / ((performance.now() - t0) / 1000)), p50_ms: sum.p50, p99_ms: sum.p99 };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

interface ConfigResult {
  config: ConfigName;
  nodes: number;
  get: LoadRow & { attempts: number };
  put: LoadRow & { attempts: number };
  publish: LoadRow & { attempts: number };
  delivery: Array<DeliveryRun & { attempts: number }>;
  claim: ClaimRun & { attempts: number };
}

interface Durations {
  durationS: number;
  deliveryS: number;
  tasks: number;
  attempts: number;
}

async function runConfig(cfg: Config, pg: Postgres | null, dir: string, o: Durations, log: (m: string) => void): Promise<ConfigResult> {
  const nodes: ServerProc[] = [];
  let sql: Sql | null = null;
  // Idle sockets dropped after 2 s: the server closes idle keep-alive connections on its own (a
  // request sent on one as it closes would fail with "socket hang up"); between runs this agent idles.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 2000 });
  try {
    let database = '';
    if (cfg.postgres) {
      if (!pg) throw new Error('no PostgreSQL');
      database = await createDatabase(pg, `koor_bench_${cfg.key}`);
    }
    // One after another: the first applies the migrations.
    for (let i = 0; i < cfg.nodes; i++) {
      const n = await spawnKoor(cfg.postgres ? ['--database', database] : ['--sync', 'full']);
      nodes.push(n);
      pin(n.pid, SERVER_CORE);
    }
    if (pg) pinPostgres(pg.pid, SERVER_CORE);
    if (cfg.postgres) sql = openPg(database, { max: 1, name: 'koor-bench-counters' });
    let statements = false;
    if (sql) {
      try {
        await sql.unsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
        statements = true;
      } catch {
        // not preloaded: no statement counts
      }
    }
    const c: Cluster = { config: cfg, nodes, sql, agent, statements };

    const doc = makeDoc();
    const json = { 'Content-Type': 'application/json' };
    await pooled(
      Array.from({ length: GET_KEYS }, (_, i) => i),
      16,
      async (i) => void (await must(agent, `${nodes[i % nodes.length]!.url}/api/state/bench/get/${i}`, 'PUT', doc)),
    );
    const getScripts = nodes.map((_, i) => wrkLua(dir, `${cfg.key}-get-${i}`, { method: 'GET', prefix: '/api/state/bench/get/', keys: GET_KEYS, headers: {} }));
    const putKeys = Math.floor(PUT_KEYS / nodes.length);
    const putScripts = nodes.map((_, i) => wrkLua(dir, `${cfg.key}-put-${i}`, { method: 'PUT', prefix: `/api/state/bench/put/n${i}-`, keys: putKeys, headers: json, body: doc }));
    const pubScripts = nodes.map((_, i) => wrkLua(dir, `${cfg.key}-pub-${i}`, { method: 'POST', path: '/api/events/publish', headers: json, body: JSON.stringify({ topic: 'bench.publish', data: JSON.parse(doc), source: `node${i}` }) }));

    const step = async (what: string, scripts: string[], urlPath: string) => {
      log(`  ${cfg.name}: ${what}, ${CONNECTIONS} connections over ${nodes.length} node(s), 1 s warm-up + ${o.durationS} s`);
      await loadRun(c, pg, scripts, urlPath, 1);
      const r = await cleanest(what, o.attempts, log, () => loadRun(c, pg, scripts, urlPath, o.durationS));
      log(`    ${fmtInt(r.rps)} req/s (per node ${r.per_node_rps.map(fmtInt).join(' / ')}), p99 ${fmtMs(r.p99_ms)} ms; cores: nodes ${fmtCores(r.cpu.nodes_cores)}, PG ${fmtCores(r.cpu.postgres_cores)}, wrk ${fmtCores(r.cpu.wrk_cores)}, others ${fmtCores(r.cpu.others_cores)}`);
      return r;
    };
    const get = await step('state GET 1 KB', getScripts, '/api/state/bench/get/0');
    const put = await step('durable PUT 1 KB', putScripts, '/api/state/bench/put/0');
    const publish = await step('publish (durable)', pubScripts, '/api/events/publish');

    const del: ConfigResult['delivery'] = [];
    for (const rate of DELIVERY_RATES) {
      log(`  ${cfg.name}: delivery latency, ${rate} publishes/s for ${o.deliveryS} s on node A, subscriber(s) on ${nodes.length > 1 ? 'A and B' : 'A'}`);
      const d = await cleanest('delivery', o.attempts, log, (k) => delivery(c, pg, rate, o.deliveryS, k));
      for (const p of d.paths) log(`    ${p.path}: ${p.received}/${d.sent} received, p50 ${fmtMs(p.latency_ms.p50)} ms, p99 ${fmtMs(p.latency_ms.p99)} ms; nodes ${d.node_us} µs/event`);
      if (d.publish_failures.length > 0) log(`    publish failures: ${d.publish_failures.join('; ')}`);
      del.push(d);
    }

    log(`  ${cfg.name}: claim race: ${CLAIMERS} agents on ${nodes.length} node(s) claim ${o.tasks} pre-filled tasks`);
    const agents: Array<{ id: string; node: ServerProc }> = [];
    for (let i = 0; i < CLAIMERS; i++) {
      const node = nodes[i % nodes.length]!;
      agents.push({ id: (await must(agent, `${node.url}/api/instances/register`, 'POST', JSON.stringify({ name: `claimer-${i}` }))).id as string, node });
    }
    const claim = await cleanest('claim race', o.attempts, log, (k) => claims(c, pg, agents, o.tasks, k));
    log(`    ${fmtInt(claim.claims_per_s)} claims/s, ${claim.unique_ids}/${claim.tasks} distinct, ${claim.ready_left} left ready`);
    return { config: cfg.name, nodes: nodes.length, get, put, publish, delivery: del, claim };
  } finally {
    agent.destroy();
    if (sql) await sql.end({ timeout: 1 });
    for (const n of nodes) await n.stop();
  }
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const o: Durations = { durationS: opts.quick ? 2 : 8, deliveryS: opts.quick ? 2 : 5, tasks: opts.quick ? 1000 : 4000, attempts: opts.quick ? 2 : 3 };
  const missing = ['wrk', 'taskset'].filter((c) => !have(c));
  if (missing.length > 0) return { ok: true, skipped: `needs ${missing.join(', ')} (apt-get install wrk util-linux)`, warnings: [`cluster: skipped, missing ${missing.join(', ')}`] };
  const cores = os.availableParallelism();
  if (cores < 2) return { ok: true, skipped: 'needs 2 cores (servers on one, the generators on the other)', warnings: ['cluster: skipped, fewer than 2 cores'] };
  const warnings: string[] = [];
  const problems: string[] = [];
  const tmp = makeTempDir('koor-bench-cluster-');
  const results: ConfigResult[] = [];
  let pg: Postgres | null = null;
  let disk: ReturnType<typeof fsyncProbe> | null = null;
  try {
    disk = fsyncProbe(tmp.dir, 1);
    opts.log(`disk under ${tmp.dir}: ${fmtInt(disk.fsyncs_per_s)} fdatasync/s one after another (8 KB appends), p50 ${fmtMs(disk.p50_ms)} ms`);
    // track_wal_io_timing: pg_stat_wal's time per WAL flush.
    // track_wal_io_timing: pg_stat_wal's time per WAL flush; pg_stat_statements: statements (round trips) per operation.
    let started = await startPostgres({ track_wal_io_timing: 'on', shared_preload_libraries: 'pg_stat_statements' });
    if ('skipped' in started) started = await startPostgres({ track_wal_io_timing: 'on' });
    if ('skipped' in started) warnings.push(`PostgreSQL rows skipped: ${started.skipped}`);
    else pg = started;
    if (pg) {
      pinPostgres(pg.pid, SERVER_CORE);
      opts.log(`${pg.version}: fsync and synchronous_commit on, data under ${os.tmpdir()}`);
    }
    pin(process.pid, GEN_CORE);
    opts.log(`koor nodes${pg ? ' and PostgreSQL' : ''} on core ${SERVER_CORE}; wrk and this process (subscribers, publisher, claimers) on core ${GEN_CORE}`);
    for (const cfg of CONFIGS) {
      if (cfg.postgres && !pg) continue;
      opts.log(cfg.name);
      results.push(await runConfig(cfg, pg, tmp.dir, o, opts.log));
    }
  } finally {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', `0-${cores - 1}`, String(process.pid)], { stdio: 'ignore' });
    } catch {
      // no taskset
    }
    pg?.stop();
    tmp.remove();
  }

  // Checks: every reply as expected, every event delivered, every task claimed exactly once.
  for (const r of results) {
    for (const [k, l] of [['get', r.get], ['put', r.put], ['publish', r.publish], ...r.delivery.map((d) => [`delivery ${d.rate}/s`, d] as const), ['claim', r.claim]] as const) {
      if (l.cpu.others_cores > DISTURBED_CORES) warnings.push(`${r.config} ${k}: other processes used ${l.cpu.others_cores.toFixed(2)} cores in the cleanest of ${l.attempts} runs (${l.cpu.others_top.join(', ')}): shared machine`);
    }
    for (const [k, l] of [['get', r.get], ['put', r.put], ['publish', r.publish]] as const) {
      if (l.status_errors > 0 || l.socket_errors > 0) problems.push(`${r.config} ${k}: ${l.status_errors} non-2xx replies, ${l.socket_errors} socket errors`);
    }
    for (const d of r.delivery) {
      for (const p of d.paths) if (p.received !== d.sent) problems.push(`${r.config} delivery ${d.rate}/s (${p.path}): ${p.received} of ${d.sent} events received`);
      if (d.publish_failures.length > 0) problems.push(`${r.config} delivery ${d.rate}/s: publishes failed: ${d.publish_failures.join('; ')}`);
      if (d.late_not_sent > 0) warnings.push(`${r.config} delivery: ${d.late_not_sent} publishes not sent (${DELIVERY_MAX_IN_FLIGHT} in flight already): the node fell behind ${d.rate}/s`);
    }
    const cl = r.claim;
    if (cl.claimed !== cl.tasks || cl.unique_ids !== cl.tasks || cl.ready_left !== 0 || Object.keys(cl.unexpected).length > 0) {
      problems.push(`${r.config} claims: ${cl.claimed} claimed, ${cl.unique_ids} distinct of ${cl.tasks}, ${cl.ready_left} left ready, unexpected statuses ${JSON.stringify(cl.unexpected)} (want each task claimed exactly once)`);
    }
  }

  const base = results.find((r) => r.config === '1 node, SQLite');
  const isPg = (r: ConfigResult) => r.config.includes('PostgreSQL');
  const num = (x: number | null, f: (x: number) => string = String) => (x === null ? '-' : f(x));
  type Row = { what: string; pick: (r: ConfigResult) => { rps: number; p50: number | null; p99: number | null; cpu: CpuFigures; node_us: number; postgres_us: number; write: WritePath; stmts: number | null } };
  const scenarios: Row[] = [
    { what: 'state GET 1 KB', pick: (r) => ({ rps: r.get.rps, p50: r.get.p50_ms, p99: r.get.p99_ms, cpu: r.get.cpu, node_us: r.get.node_us, postgres_us: r.get.postgres_us, write: r.get.write, stmts: r.get.statements_per_op }) },
    { what: 'durable PUT 1 KB', pick: (r) => ({ rps: r.put.rps, p50: r.put.p50_ms, p99: r.put.p99_ms, cpu: r.put.cpu, node_us: r.put.node_us, postgres_us: r.put.postgres_us, write: r.put.write, stmts: r.put.statements_per_op }) },
    { what: 'publish (durable)', pick: (r) => ({ rps: r.publish.rps, p50: r.publish.p50_ms, p99: r.publish.p99_ms, cpu: r.publish.cpu, node_us: r.publish.node_us, postgres_us: r.publish.postgres_us, write: r.publish.write, stmts: r.publish.statements_per_op }) },
    { what: 'task claim race', pick: (r) => ({ rps: r.claim.claims_per_s, p50: r.claim.latency_ms.p50, p99: r.claim.latency_ms.p99, cpu: r.claim.cpu, node_us: r.claim.node_us, postgres_us: r.claim.postgres_us, write: r.claim.write, stmts: r.claim.statements_per_op }) },
  ];
  const baseDelivery = (rate: number) => base?.delivery.find((d) => d.rate === rate)?.paths[0]?.latency_ms ?? null;
  const tables: BenchTable[] = [
    {
      title: `Cluster mode vs one SQLite node, same run (${CONNECTIONS} connections in all, split over the nodes, ${o.durationS} s wrk runs; claims: ${CLAIMERS} agents; nodes + PostgreSQL on core ${SERVER_CORE}, generators on core ${GEN_CORE})`,
      columns: ['scenario', 'config', 'ops/s', 'vs SQLite', 'p50 ms', 'p99 ms', 'nodes cores', 'PG cores', `core${SERVER_CORE} busy`, 'gen cores', `core${GEN_CORE} busy`, 'others'],
      rows: scenarios.flatMap((s) =>
        results.map((r) => {
          const x = s.pick(r);
          return [s.what, r.config, fmtInt(x.rps), base ? fmtRatio(ratio(x.rps, s.pick(base).rps)) : '-', fmtMs(x.p50), fmtMs(x.p99), fmtCores(x.cpu.nodes_cores), isPg(r) ? fmtCores(x.cpu.postgres_cores) : '-', fmtCores(x.cpu.core_busy[SERVER_CORE]), fmtCores(x.cpu.wrk_cores + x.cpu.bench_cores), fmtCores(x.cpu.core_busy[GEN_CORE]), fmtCores(x.cpu.others_cores)];
        }),
      ),
    },
    {
      title: 'What each operation costs: CPU per operation (all nodes; PostgreSQL postmaster + backends) and the write path (writer batches of all nodes; PostgreSQL WAL flushes)',
      columns: ['scenario', 'config', 'node µs/op', 'PG µs/op', 'PG stmts/op', 'commits/s', 'ops/commit', 'commit ms', 'fsyncs/s', 'fsync ms'],
      rows: scenarios.flatMap((s) =>
        results.map((r) => {
          const x = s.pick(r);
          const w = x.write;
          const writes = s.what !== 'state GET 1 KB';
          return [s.what, r.config, String(x.node_us), isPg(r) ? String(x.postgres_us) : '-', num(x.stmts), writes ? num(w.commits_per_s, fmtInt) : '-', writes ? num(w.rows_per_commit) : '-', writes ? num(w.commit_ms) : '-', writes ? num(w.fsyncs_per_s, fmtInt) : '-', writes && isPg(r) ? num(w.fsync_ms) : '-'];
        }),
      ),
    },
    {
      title: `Event delivery latency: publishes on node A at a fixed rate for ${o.deliveryS} s (open loop), a ws subscriber on A (same node) and on B (cross node); latency = frame received − publish sent; CPU per event published`,
      columns: ['config', 'rate/s', 'path', 'received', 'p50 ms', 'p99 ms', 'max ms', 'p50 vs SQLite', 'p99 vs SQLite', 'ack p50 ms', 'ack p99 ms', 'ops/commit', 'node µs/event', 'PG µs/event', 'core0 busy', 'others'],
      rows: DELIVERY_RATES.flatMap((rate) =>
        results.flatMap((r) => {
          const run = r.delivery.find((d) => d.rate === rate);
          const b = baseDelivery(rate);
          return (run?.paths ?? []).map((d) => [
            r.config,
            String(rate),
            d.path,
            `${d.received}/${run!.sent}`,
            fmtMs(d.latency_ms.p50),
            fmtMs(d.latency_ms.p99),
            fmtMs(d.latency_ms.max),
            b ? fmtRatio(ratio(d.latency_ms.p50 ?? 0, b.p50 ?? 0)) : '-',
            b ? fmtRatio(ratio(d.latency_ms.p99 ?? 0, b.p99 ?? 0)) : '-',
            fmtMs(run!.ack_ms.p50),
            fmtMs(run!.ack_ms.p99),
            num(run!.write.rows_per_commit),
            String(run!.node_us),
            isPg(r) ? String(run!.postgres_us) : '-',
            fmtCores(run!.cpu.core_busy[SERVER_CORE]),
            fmtCores(run!.cpu.others_cores),
          ]);
        }),
      ),
    },
  ];
  return {
    ok: problems.length === 0,
    problems,
    postgres: pg?.version ?? null,
    disk,
    layout: { server_core: SERVER_CORE, generator_core: GEN_CORE, connections: CONNECTIONS, claimers: CLAIMERS, cores },
    durations: o,
    results,
    tables,
    notes: [
      `Layout: every koor node and PostgreSQL (postmaster and all backends) pinned to core ${SERVER_CORE}; the wrk processes (one per node, run at once, connections split evenly) and this process (ws subscribers, publisher, claimers) pinned to core ${GEN_CORE}. ${cores > 2 ? `This machine has ${cores} cores; two are used.` : 'This machine has 2 cores.'}`,
      `core${SERVER_CORE} busy near 1.00: the servers' one core is the limit, and 3 nodes share it with PostgreSQL, so they cannot beat 1 node here; gen cores (wrk + this process) well below 1.00: the generators were not the limit. others: CPU of unrelated processes during the run (above ${DISTURBED_CORES}: measured again, the cleanest kept).`,
      `Disk: ${disk ? `${fmtInt(disk.fsyncs_per_s)} fdatasync/s one after another (8 KB appends), p50 ${fmtMs(disk.p50_ms)} ms` : 'not probed'}. fsyncs/s: SQLite one per commit (--sync full); PostgreSQL pg_stat_wal.wal_sync (one WAL flush can cover several commits), fsync ms from track_wal_io_timing. commit ms: koor's writer, one batch run and committed (PostgreSQL: the cluster-wide write lock taken, the flush waited for).`,
      `Claims: ${CLAIMERS} agents (one connection each, spread over the nodes) claim one pre-filled project until it is empty; ops/s = tasks / time to the last successful claim. Each task claimed exactly once: ${results.map((r) => `${r.config} ${r.claim.unique_ids}/${r.claim.tasks}`).join(', ')}.`,
      'PostgreSQL nodes keep no state values across requests (every GET reads PostgreSQL), and every write batch of every node holds the one cluster-wide write lock until its commit is flushed: writes serialise across nodes, as behind SQLite\'s single writer.',
      ...problems,
    ],
    warnings,
  };
}
