/**
 * The cluster suite's measurements of one configuration: get/put/publish driven by wrk on every
 * node at once, event delivery latency at a fixed publish rate, and a race of agents claiming
 * every task of a project; each with its CPU and write path.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { pooled, sleep, withTimeout } from '../lib/async.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import type { Postgres } from '../lib/postgres.js';
import type { ServerProc } from '../lib/processes.js';
import { CONNECTIONS, DELIVERY_MAX_IN_FLIGHT } from './configs.js';
import { cpuSpan, type CpuFigures } from './cpu.js';
import { must, request } from './http.js';
import { mergedPercentile, wrkAsync } from './wrk.js';
import { counters, perOp, writePath, type Cluster, type WritePath } from './write-path.js';

export interface LoadRow {
  rps: number;
  requests: number;
  p50_ms: number | null;
  p99_ms: number | null;
  status_errors: number;
  socket_errors: number;
  per_node_rps: number[];
  cpu: CpuFigures;
  /** CPU per request, µs: all nodes, PostgreSQL. */
  node_us: number;
  postgres_us: number;
  write: WritePath;
  /** PostgreSQL statements per operation (each a round trip from a node). */
  statements_per_op: number | null;
}

/** get/put/publish: one wrk per node, all at once, CONNECTIONS split evenly. */
export async function loadRun(c: Cluster, pg: Postgres | null, scripts: string[], urlPath: string, durationS: number): Promise<LoadRow> {
  const per = c.nodes.map((_, i) => Math.floor(CONNECTIONS / c.nodes.length) + (i < CONNECTIONS % c.nodes.length ? 1 : 0));
  const k0 = await counters(c);
  const span = cpuSpan(
    c.nodes.map((n) => n.pid),
    pg?.pid ?? null,
  );
  const runs = await Promise.all(c.nodes.map((n, i) => wrkAsync(`${n.url}${urlPath}`, scripts[i]!, durationS, per[i]!)));
  const cpu = span(
    runs.reduce((a, r) => a + r.cpu_s, 0),
    Math.max(...runs.map((r) => r.duration_s)),
  );
  const k1 = await counters(c);
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const rps = runs.reduce((a, r) => a + r.requests / r.duration_s, 0);
  const perReq = (cpuS: number) => (requests > 0 ? Math.round((cpuS / requests) * 1e7) / 10 : 0);
  return {
    rps: Math.round(rps),
    requests,
    p50_ms: mergedPercentile(runs, 50),
    p99_ms: mergedPercentile(runs, 99),
    status_errors: runs.reduce((a, r) => a + r.status_errors, 0),
    socket_errors: runs.reduce((a, r) => a + r.socket_errors, 0),
    per_node_rps: runs.map((r) => Math.round(r.requests / r.duration_s)),
    cpu,
    node_us: perReq(cpu.nodes_cpu_s),
    postgres_us: perReq(cpu.postgres_cpu_s),
    write: writePath(k0, k1, cpu.active_s),
    statements_per_op: perOp(k0, k1, requests),
  };
}

interface DeliveryPath {
  path: 'same node' | 'cross node';
  received: number;
  latency_ms: LatencySummary;
}

export interface DeliveryRun {
  rate: number;
  sent: number;
  /** Publishes not sent because DELIVERY_MAX_IN_FLIGHT were in flight: the node fell behind. */
  late_not_sent: number;
  publish_failures: string[];
  ack_ms: LatencySummary;
  paths: DeliveryPath[];
  cpu: CpuFigures;
  /** CPU per event published, µs: all nodes (publishing, following the shared log, sending frames), PostgreSQL. */
  node_us: number;
  postgres_us: number;
  write: WritePath;
}

/** A `ws` subscriber on `pattern`, calling back (seq, receive time) per frame. */
function subscriber(node: ServerProc, pattern: string, onFrame: (seq: number, at: number) => void): Promise<WebSocket> {
  const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}/api/events/subscribe?pattern=${encodeURIComponent(pattern)}`);
  ws.on('message', (m) => {
    const at = performance.now();
    const e = JSON.parse(m.toString()) as { data?: { seq?: number } };
    if (typeof e.data?.seq === 'number') onFrame(e.data.seq, at);
  });
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) => reject(new Error(`subscribe on ${node.url}: HTTP ${res.statusCode}`)));
    }),
    10_000,
    `subscribe on ${node.url}`,
  );
}

/**
 * Publishes on node A at `rate` for `seconds`, open loop (each send at its scheduled time,
 * not after the previous reply); subscribers on A, and on B when there are several nodes.
 */
export async function delivery(c: Cluster, pg: Postgres | null, rate: number, seconds: number, attempt: number): Promise<DeliveryRun> {
  const total = Math.round(rate * seconds);
  const topic = `bench.lat${rate}x${attempt}`;
  const sentAt = new Float64Array(total).fill(NaN);
  const subs: Array<{ path: DeliveryPath['path']; node: ServerProc; hist: LatencyHistogram; got: Uint8Array; received: number }> = [];
  subs.push({ path: 'same node', node: c.nodes[0]!, hist: new LatencyHistogram(), got: new Uint8Array(total), received: 0 });
  if (c.nodes.length > 1) subs.push({ path: 'cross node', node: c.nodes[1]!, hist: new LatencyHistogram(), got: new Uint8Array(total), received: 0 });
  const sockets: WebSocket[] = [];
  const pubAgent = new http.Agent({ keepAlive: true, maxSockets: DELIVERY_MAX_IN_FLIGHT });
  try {
    for (const s of subs) {
      sockets.push(
        await subscriber(s.node, `${topic}.*`, (seq, at) => {
          if (seq < 0 || seq >= total || s.got[seq] || Number.isNaN(sentAt[seq]!)) return;
          s.got[seq] = 1;
          s.received++;
          s.hist.record(at - sentAt[seq]!);
        }),
      );
    }
    await sleep(200);
    const ack = new LatencyHistogram();
    const url = `${c.nodes[0]!.url}/api/events/publish`;
    let sent = 0;
    let late = 0;
    const failures: string[] = [];
    const pending = new Set<Promise<void>>();
    const k0 = await counters(c);
    const span = cpuSpan(
      c.nodes.map((n) => n.pid),
      pg?.pid ?? null,
    );
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000 + 5000;
    while (sent + late < total && performance.now() < deadline) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      while (sent + late < due) {
        const seq = sent + late;
        if (pending.size >= DELIVERY_MAX_IN_FLIGHT) {
          late++;
          continue;
        }
        const body = JSON.stringify({ topic: `${topic}.x`, data: { seq }, source: 'bench' });
        sentAt[seq] = performance.now();
        const pr: Promise<void> = request(pubAgent, url, 'POST', body)
          .then(
            (r) => {
              ack.record(performance.now() - sentAt[seq]!);
              if (r.status !== 200 && failures.length < 5) failures.push(`HTTP ${r.status} ${r.body.slice(0, 100)}`);
            },
            (e: Error) => {
              if (failures.length < 5) failures.push(e.message);
            },
          )
          .finally(() => pending.delete(pr));
        pending.add(pr);
        sent++;
      }
      await sleep(2);
    }
    await withTimeout(Promise.all(pending), 30_000, 'delivery publishes');
    // Frames still on their way (bounded wait).
    const until = performance.now() + 10_000;
    while (subs.some((s) => s.received < sent) && performance.now() < until) await sleep(20);
    const cpu = span();
    const k1 = await counters(c);
    const perEvent = (cpuS: number) => (sent > 0 ? Math.round((cpuS / sent) * 1e7) / 10 : 0);
    return {
      rate,
      sent,
      late_not_sent: late,
      publish_failures: failures,
      ack_ms: ack.summary(),
      paths: subs.map((s) => ({ path: s.path, received: s.received, latency_ms: s.hist.summary() })),
      cpu,
      node_us: perEvent(cpu.nodes_cpu_s),
      postgres_us: perEvent(cpu.postgres_cpu_s),
      write: writePath(k0, k1, cpu.active_s),
    };
  } finally {
    pubAgent.destroy();
    for (const s of sockets) s.terminate();
  }
}

export interface ClaimRun {
  tasks: number;
  claimed: number;
  unique_ids: number;
  ready_left: number;
  unexpected: Record<string, number>;
  claims_per_s: number;
  latency_ms: LatencySummary;
  cpu: CpuFigures;
  node_us: number;
  postgres_us: number;
  write: WritePath;
  statements_per_op: number | null;
}

/** Fills project `bench-claims-<attempt>` with `tasks` tasks (not timed), then every agent claims until none is left. */
export async function claims(c: Cluster, pg: Postgres | null, agents: Array<{ id: string; node: ServerProc }>, tasks: number, attempt: number): Promise<ClaimRun> {
  const project = `bench-claims-${attempt}`;
  await withTimeout(
    pooled(
      Array.from({ length: tasks }, (_, i) => i),
      32,
      async (i) => void (await must(c.agent, `${c.nodes[i % c.nodes.length]!.url}/api/tasks`, 'POST', JSON.stringify({ project, title: `task ${i}` }))),
    ),
    180_000,
    'creating tasks',
  );
  const ids: number[] = [];
  const unexpected: Record<string, number> = {};
  const hist = new LatencyHistogram();
  let lastOk = 0;
  let attempts = 0;
  const maxAttempts = tasks * 3 + agents.length * 10;
  const claimAgent = new http.Agent({ keepAlive: true, maxSockets: agents.length });
  const body = JSON.stringify({ project });
  try {
    const k0 = await counters(c);
    const span = cpuSpan(
      c.nodes.map((n) => n.pid),
      pg?.pid ?? null,
    );
    const t0 = performance.now();
    const deadline = t0 + 120_000;
    await Promise.all(
      agents.map(async (a) => {
        while (attempts < maxAttempts && performance.now() < deadline) {
          attempts++;
          const s = performance.now();
          const r = await request(claimAgent, `${a.node.url}/api/tasks/claim`, 'POST', body, { 'x-koor-instance': a.id });
          const end = performance.now();
          if (r.status === 200) {
            hist.record(end - s);
            ids.push((JSON.parse(r.body) as { id: number }).id);
            lastOk = end;
          } else {
            if (r.status !== 404) unexpected[r.status] = (unexpected[r.status] ?? 0) + 1;
            return; // 404: none ready any more
          }
        }
      }),
    );
    const cpu = span();
    const k1 = await counters(c);
    const wall = Math.max(0.001, (lastOk - t0) / 1000);
    const left = (await must(c.agent, `${c.nodes[0]!.url}/api/tasks?project=${project}&status=ready&limit=10`, 'GET')) as unknown[];
    const perClaim = (cpuS: number) => (ids.length > 0 ? Math.round((cpuS / ids.length) * 1e7) / 10 : 0);
    return {
      tasks,
      claimed: ids.length,
      unique_ids: new Set(ids).size,
      ready_left: left.length,
      unexpected,
      claims_per_s: Math.round(ids.length / wall),
      latency_ms: hist.summary(),
      cpu,
      node_us: perClaim(cpu.nodes_cpu_s),
      postgres_us: perClaim(cpu.postgres_cpu_s),
      write: writePath(k0, k1, cpu.active_s),
      statements_per_op: perOp(k0, k1, ids.length),
    };
  } finally {
    claimAgent.destroy();
  }
}
