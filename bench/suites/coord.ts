/**
 * Leases and task claims against a plain state PUT measured on the same
 * server in the same run. koor-server runs with its defaults (`--sync full`: every claim, lease
 * and PUT is committed and fsync'd before its reply); autocannon drives it from this process.
 *
 *   put        PUT /api/state/<key> of a small JSON, 1000 keys, 50 connections   (the baseline)
 *   create     POST /api/tasks, 50 connections, for the run's duration           (fills the queue)
 *   claim      POST /api/tasks/claim, 50 claimers (one agent per connection), until every task
 *              created above is claimed; checked: each claimed exactly once, none left ready
 *   pairs      lease acquire + release of the connection's own file, 50 agents; with 0 and with
 *              10,000 active leases (9,900 files and 100 directory globs, among which the new ones
 *              land); acquire latency p50/p99 taken from the acquires alone
 *   probe      one at a time: acquire (+ release, not timed) among 10,000 active leases, against
 *              one-at-a-time PUTs: the latency without queueing behind other requests
 *
 *   npm run bench -- coord [--quick]
 */
import type autocannon from 'autocannon';
import { fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { spawnKoor } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';

const CONNECTIONS = 50;
const PUT_KEYS = 1000;
const ACTIVE_LEASES = 10_000;
const DIR_GLOB_EVERY = 100;
const DIRS = 100;
const VALUE = JSON.stringify({ agent: 'bench', status: 'in_progress', note: 'x'.repeat(40) });

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return { status: r.status, json: await r.json() };
}

interface PairRun {
  load: LoadResult;
  pairs_per_s: number;
  acquire_ms: LatencySummary;
}

/** Lease acquire + release in a loop, each connection its own agent and its own file. */
async function pairs(base: string, pids: Record<string, number>, agents: string[], dir: string, durationS: number): Promise<PairRun> {
  const acquires = new LatencyHistogram();
  let conn = 0;
  const load = await runLoad({
    url: `${base}/api/leases`,
    connections: CONNECTIONS,
    durationS,
    okStatuses: [200],
    pids,
    setupClient: (client: autocannon.Client) => {
      const c = conn++ % CONNECTIONS;
      const who = { 'x-koor-instance': agents[c]!, 'content-type': 'application/json' };
      // Responses arrive in request order on a connection (no pipelining): even = acquire.
      let n = 0;
      client.on('response', (_status: number, _bytes: number, ms: number) => {
        if (n++ % 2 === 0) acquires.record(ms);
      });
      client.setRequests([
        {
          method: 'POST',
          path: '/api/leases',
          headers: who,
          body: JSON.stringify({ resources: [`${dir}/d${c % DIRS}/agent${c}.ts`] }),
          onResponse: (status: number, body: string, context: Record<string, unknown>) => {
            context.id = status === 200 ? (JSON.parse(body) as { id: string }).id : 'none';
          },
        },
        { method: 'DELETE', path: '/api/leases/none', headers: who, setupRequest: (req: any, context: Record<string, unknown>) => ({ ...req, path: `/api/leases/${String(context.id)}` }) },
      ] as unknown as autocannon.Request[]);
    },
  });
  return { load, pairs_per_s: Math.round(load.ok_responses / 2 / load.duration_s), acquire_ms: acquires.summary() };
}

/** One at a time: `n` timed calls of `timed` (each followed by `after`, untimed). */
async function sequential(n: number, timed: (i: number) => Promise<string | void>, after?: (r: string | void) => Promise<void>): Promise<LatencySummary> {
  const h = new LatencyHistogram();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await timed(i);
    h.record(Number(process.hrtime.bigint() - t0) / 1e6);
    if (after) await after(r);
  }
  return h.summary();
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const DURATION_S = quick ? 3 : 10;
  const PROBES = quick ? 500 : 3000;
  const server = await spawnKoor();
  const base = server.url;
  const pids = { server: server.pid };
  const warnings: string[] = [];
  const problems: string[] = [];
  try {
    log(`registering ${CONNECTIONS} agents`);
    const agents: string[] = [];
    for (let i = 0; i < CONNECTIONS; i++) agents.push((await post(`${base}/api/instances/register`, { name: `agent-${i}` })).json.id as string);

    const putLoad = (durationS: number) => {
      let conn = 0;
      return runLoad({
        url: `${base}/api/state/bench/put/0`,
        method: 'PUT',
        connections: CONNECTIONS,
        durationS,
        okStatuses: [200],
        pids,
        setupClient: (client) => {
          const c = conn++ % CONNECTIONS;
          const reqs: autocannon.Request[] = [];
          for (let k = c; k < PUT_KEYS; k += CONNECTIONS) reqs.push({ method: 'PUT', path: `/api/state/bench/put/${k}`, headers: { 'content-type': 'application/json' }, body: VALUE });
          client.setRequests(reqs);
        },
      });
    };
    log('warm-up (not counted)');
    await putLoad(1);
    log(`baseline: state PUT, ${CONNECTIONS} connections, ${DURATION_S} s`);
    const put = await putLoad(DURATION_S);

    log(`creating tasks for ${DURATION_S} s`);
    const create = await runLoad({
      url: `${base}/api/tasks`,
      method: 'POST',
      connections: CONNECTIONS,
      durationS: DURATION_S,
      okStatuses: [200],
      pids,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ project: 'bench', title: 'a unit of work', data: { files: ['src/a.ts'] } }),
    });
    // Requests still in flight when the run ended may have created tasks too: one more, after
    // them, tells how many exist (ids count from 1 on this fresh server).
    const tasks = (await post(`${base}/api/tasks`, { project: 'bench', title: 'the last one' })).json.id as number;

    log(`claiming all ${tasks} tasks with ${CONNECTIONS} concurrent claimers`);
    const claimedIds: number[] = [];
    let conn = 0;
    const claim = await runLoad({
      url: `${base}/api/tasks/claim`,
      method: 'POST',
      connections: CONNECTIONS,
      durationS: Math.max(60, DURATION_S * 6),
      amount: tasks,
      okStatuses: [200],
      pids,
      setupClient: (client) => {
        const who = agents[conn++ % CONNECTIONS]!;
        client.setRequests([{ method: 'POST', path: '/api/tasks/claim', headers: { 'content-type': 'application/json', 'x-koor-instance': who }, body: '{"project":"bench"}' }]);
        client.on('body', (b: Buffer) => {
          const m = /^\{"id":(\d+)/.exec(b.subarray(0, 32).toString('latin1'));
          if (m) claimedIds.push(Number(m[1]));
        });
      },
    });
    const unique = new Set(claimedIds).size;
    const left = (await (await fetch(`${base}/api/tasks?project=bench&status=ready&limit=1`)).json()) as unknown[];
    const claimCheck = { tasks, claimed: claim.ok_responses, unique_ids: unique, ready_left: left.length };
    if (claim.ok_responses !== tasks || unique !== tasks || left.length !== 0) problems.push(`claims: ${JSON.stringify(claimCheck)} (want every task claimed exactly once)`);

    log(`lease acquire + release, 0 active leases, ${DURATION_S} s`);
    const pairs0 = await pairs(base, pids, agents, 'work', DURATION_S);
    const probe0 = await sequential(
      PROBES,
      async (i) => (await post(`${base}/api/leases`, { resources: [`work/d${i % DIRS}/probe${i}.ts`] }, { 'x-koor-instance': agents[0]! })).json.id as string,
      async (id) => void (await fetch(`${base}/api/leases/${String(id)}`, { method: 'DELETE', headers: { 'x-koor-instance': agents[0]! } })).arrayBuffer(),
    );

    log(`filling ${ACTIVE_LEASES} active leases`);
    conn = 0;
    const fill = await runLoad({
      url: `${base}/api/leases`,
      method: 'POST',
      connections: CONNECTIONS,
      durationS: 120,
      amount: ACTIVE_LEASES,
      okStatuses: [200],
      setupClient: (client) => {
        const c = conn++ % CONNECTIONS;
        const reqs: autocannon.Request[] = [];
        for (let k = c; k < ACTIVE_LEASES; k += CONNECTIONS) {
          const resource = k % DIR_GLOB_EVERY === 0 ? `held/g${k}/**` : `work/d${k % DIRS}/held${k}.ts`;
          reqs.push({ method: 'POST', path: '/api/leases', headers: { 'content-type': 'application/json', 'x-koor-instance': agents[c]! }, body: JSON.stringify({ resources: [resource] }) });
        }
        client.setRequests(reqs);
      },
    });
    if (fill.ok_responses !== ACTIVE_LEASES) problems.push(`background leases: ${JSON.stringify(fill.statuses)} (want ${ACTIVE_LEASES} × 200)`);
    const active = ((await (await fetch(`${base}/api/leases?limit=10000`)).json()) as unknown[]).length;

    log(`lease acquire + release among ${active} active leases, ${DURATION_S} s`);
    const pairs10k = await pairs(base, pids, agents, 'work', DURATION_S);
    const probe10k = await sequential(
      PROBES,
      async (i) => (await post(`${base}/api/leases`, { resources: [`work/d${i % DIRS}/probe${i}.ts`] }, { 'x-koor-instance': agents[0]! })).json.id as string,
      async (id) => void (await fetch(`${base}/api/leases/${String(id)}`, { method: 'DELETE', headers: { 'x-koor-instance': agents[0]! } })).arrayBuffer(),
    );
    log(`one-at-a-time PUT baseline, ${PROBES} calls`);
    const putProbe = await sequential(PROBES, async (i) => {
      const r = await fetch(`${base}/api/state/bench/probe/${i % PUT_KEYS}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: VALUE });
      await r.arrayBuffer();
    });

    for (const [name, r] of [['put', put], ['create', create], ['claim', claim], ['pairs0', pairs0.load], ['pairs10k', pairs10k.load]] as const) {
      if (r.unexpected > 0 || r.errors > 0) problems.push(`${name}: ${r.unexpected} unexpected statuses ${JSON.stringify(r.statuses)}, ${r.errors} errors`);
      if (r.cpu.others.cores > 0.25) warnings.push(`${name}: other processes used ${r.cpu.others.cores} cores during the run (shared machine)`);
    }

    const claimsPerS = Math.round(claim.ok_responses / claim.duration_s);
    const rows: BenchTable['rows'] = [
      ['state PUT (baseline)', fmtInt(put.rps), '1.00x', fmtMs(put.latency_ms.p50), fmtMs(put.latency_ms.p99), `${CONNECTIONS} connections, ${PUT_KEYS} keys`],
      ['task create', fmtInt(create.rps), fmtRatio(ratio(create.rps, put.rps)), fmtMs(create.latency_ms.p50), fmtMs(create.latency_ms.p99), `${tasks} tasks in the queue`],
      ['task claim', fmtInt(claimsPerS), fmtRatio(ratio(claimsPerS, put.rps)), fmtMs(claim.latency_ms.p50), fmtMs(claim.latency_ms.p99), `${CONNECTIONS} claimers, ${unique}/${tasks} claimed once`],
      ['lease acquire+release (0 active)', fmtInt(pairs0.pairs_per_s), fmtRatio(ratio(pairs0.pairs_per_s, put.rps)), fmtMs(pairs0.acquire_ms.p50), fmtMs(pairs0.acquire_ms.p99), 'pairs/s; latency of the acquires'],
      [`lease acquire+release (${active} active)`, fmtInt(pairs10k.pairs_per_s), fmtRatio(ratio(pairs10k.pairs_per_s, put.rps)), fmtMs(pairs10k.acquire_ms.p50), fmtMs(pairs10k.acquire_ms.p99), 'pairs/s; latency of the acquires'],
    ];
    const probeRows: BenchTable['rows'] = [
      ['state PUT (baseline)', fmtMs(putProbe.p50), fmtMs(putProbe.p99), '1.00x'],
      ['lease acquire, 0 active', fmtMs(probe0.p50), fmtMs(probe0.p99), fmtRatio(ratio(probe0.p99 ?? 0, putProbe.p99 ?? 0))],
      [`lease acquire, ${active} active`, fmtMs(probe10k.p50), fmtMs(probe10k.p99), fmtRatio(ratio(probe10k.p99 ?? 0, putProbe.p99 ?? 0))],
    ];
    const tables: BenchTable[] = [
      { title: `Leases and claims vs state PUT, same server and run (durable: --sync full; ${DURATION_S} s runs)`, columns: ['scenario', 'ops/s', 'vs PUT', 'p50 ms', 'p99 ms', 'notes'], rows },
      { title: `One request at a time (${PROBES} each): latency without queueing`, columns: ['call', 'p50 ms', 'p99 ms', 'p99 vs PUT'], rows: probeRows },
    ];
    const strip = (r: LoadResult) => ({ rps: r.rps, ok: r.ok_responses, duration_s: r.duration_s, latency_ms: r.latency_ms, statuses: r.statuses, server_cores: r.cpu.procs.server?.cores ?? null, loadgen_cores: r.cpu.loadgen.cores, other_cores: r.cpu.others.cores });
    return {
      ok: problems.length === 0,
      problems,
      put: strip(put),
      create: strip(create),
      claim: { ...strip(claim), claims_per_s: claimsPerS, check: claimCheck, vs_put: ratio(claimsPerS, put.rps) },
      lease_pairs: {
        active_0: { ...strip(pairs0.load), pairs_per_s: pairs0.pairs_per_s, acquire_ms: pairs0.acquire_ms, vs_put: ratio(pairs0.pairs_per_s, put.rps) },
        [`active_${active}`]: { ...strip(pairs10k.load), pairs_per_s: pairs10k.pairs_per_s, acquire_ms: pairs10k.acquire_ms, vs_put: ratio(pairs10k.pairs_per_s, put.rps) },
      },
      sequential_ms: { put: putProbe, acquire_0: probe0, [`acquire_${active}`]: probe10k, acquire_p99_vs_put: ratio(probe10k.p99 ?? 0, putProbe.p99 ?? 0) },
      tables,
      notes: [
        'autocannon shares the machine with the server: compare the ratios, not the absolute figures.',
        ...problems,
      ],
      warnings,
    };
  } finally {
    await server.stop();
  }
}
