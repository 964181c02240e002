/**
 * Soak: every kind of traffic at once for a bounded time, faults injected, then every
 * invariant checked against what the clients were acknowledged and what the server holds.
 *
 *   traffic    CAS writers on shared counter keys (If-Match), publishers (Idempotency-Key) and
 *              resuming subscribers, state watchers, task creators and claimers that lease a file
 *              and complete with the claim's fence, agents messaging each other with pushed
 *              inboxes, Claude Code hook sessions editing a few shared files (bench/soak/traffic.ts)
 *   readers    one subscriber, one watcher and one inbox reader stop reading for a few seconds
 *              now and then (the server must close with 4008 or hold back; the client resumes)
 *   faults     SQLite: SIGSTOP for a few seconds (once past the writer's 5 s deadline), SIGKILL
 *              and a restart on the same data dir and port. Cluster (when Debian's postgresql is
 *              installed and this runs as root): 2 nodes (full: 3) on a throwaway PostgreSQL,
 *              kill -9 of a node and its restart, a PostgreSQL restart, a SIGSTOP of a node
 *   clients    retry on no reply, 503 and 504 with the same Idempotency-Key, never resend a CAS
 *              (bench/soak/client.ts), resume streams from their last id or revision
 *   checks     each acknowledged write exactly once (tasks by unique title, events and messages by
 *              their op key in what the streams delivered, CAS ops in the change log), no stream
 *              gap, duplicate or reorder across reconnects, no task claimed twice or lost, no two
 *              holders of a file at once (leases and hook sessions), no 5xx but 503/504, no 503
 *              for a write that committed, servers up, memory and disk flat over a fault-free
 *              window at the end (bench/soak/checks.ts)
 *
 * Prints the counts per traffic kind and per invariant; exit 1 on any violation. About 2 minutes
 * with --quick (60 s SQLite + 40 s cluster of traffic), 10 without; the schedules of faults are in
 * bench/soak/plans.ts.
 *
 *   npm run bench -- soak [--quick]
 */
import { performance } from 'node:perf_hooks';
import { sleep, withTimeout } from '../lib/async.js';
import { cpuWindow } from '../lib/cpu.js';
import { fmtInt } from '../lib/format.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { createDatabase, startPostgres, type Postgres } from '../lib/postgres.js';
import { checkCas, checkHolds, checkNodes, checkResources, checkStreams, checkTasks, Delivered, INVARIANTS } from '../soak/checks.js';
import { Conn, Phase, request, type KindStats } from '../soak/client.js';
import { KoorNode, sampler } from '../soak/nodes.js';
import { Stream } from '../soak/streams.js';
import { CAS_PREFIX, Records, SHAPE, casKeys, casWriter, claimer, hookSessions, messenger, publisher, register, taskCreator } from '../soak/traffic.js';
import { PLANS, type FaultKind, type Plan } from '../soak/plans.js';
import { Verdicts } from '../soak/verdicts.js';

/** Retries go on this long after the traffic stopped (longer than a restart or a PostgreSQL outage). */
const GRACE_MS = 25_000;
/** Streams get this long to deliver what was acknowledged before the gap check. */
const DRAIN_MS = 20_000;
/** The slow readers stop reading this long, every SLOW_EVERY_MS. */
const SLOW_PAUSE_MS = 12_000;
const SLOW_EVERY_MS = 18_000;

type PhaseName = 'sqlite' | 'cluster';

interface PhaseResult {
  name: PhaseName;
  plan: Plan;
  verdicts: Verdicts;
  traffic: Record<string, KindStats>;
  streams: Record<string, Record<string, number>>;
  faults: Array<{ kind: FaultKind; node: number | null; at_s: number; took_s: number }>;
  resources: Record<string, unknown>;
  tasks: { tasks: number; by_status: Record<string, number> };
  hooks: Records['hooks'];
  leases: Records['leases'];
  loadgen_cores: number;
  others_cores: number;
  elapsed_s: number;
}

async function soakPhase(name: PhaseName, nodes: KoorNode[], plan: Plan, pg: Postgres | null, log: (m: string) => void): Promise<PhaseResult> {
  const started = performance.now();
  const verdicts = new Verdicts();
  for (const inv of INVARIANTS) verdicts.declare(inv);
  const phase = new Phase(nodes.map((n) => n.url), verdicts);
  const rec = new Records(`${name}${Date.now().toString(36)}`, SHAPE);
  const got = new Delivered();

  // Set-up retries are bounded too; the phase's clock starts with the traffic.
  phase.hardStopAt = performance.now() + 30_000;
  const claimers: string[] = [];
  for (let i = 0; i < SHAPE.claimers; i++) claimers.push(await register(phase, `soak-claimer-${i}`, '/soak/work', `${rec.tag}-reg-c${i}`));
  const inboxAgents: string[] = [];
  for (let i = 0; i < SHAPE.inboxAgents; i++) inboxAgents.push(await register(phase, `soak-inbox-${i}`, '/soak/mail', `${rec.tag}-reg-m${i}`));

  // Subscriber 0 (the slow one) takes every event, the server's own (task.*, lease.*, …) too.
  const subscribers = Array.from(
    { length: SHAPE.subscribers },
    (_, i) => new Stream(phase, { kind: 'events', name: `subscriber ${i}`, path: (since) => `/api/events/subscribe?pattern=${i === 0 ? '*' : 'soak.pub.*'}&since=${since}`, oldestHeader: 'x-koor-oldest-event', onFrame: (f) => got.event(f) }, i),
  );
  const watchers = Array.from(
    { length: SHAPE.watchers },
    (_, i) => new Stream(phase, { kind: 'watch', name: `watcher ${i}`, path: (since) => `/api/state/watch?prefix=${CAS_PREFIX}&since_revision=${since}&values=1`, oldestHeader: 'x-koor-oldest-revision', onFrame: (f) => got.change(f) }, i),
  );
  const inboxes = new Map(
    inboxAgents.map((agent, i) => [agent, new Stream(phase, { kind: 'inbox', name: `inbox ${i}`, path: (since) => `/api/inbox/subscribe?since=${since}`, headers: { 'x-koor-instance': agent }, onFrame: (f) => got.message(f) }, i)] as const),
  );
  const streams = [...subscribers, ...watchers, ...inboxes.values()];
  for (const s of streams) s.start();
  const connectBy = Date.now() + 15_000;
  while (streams.some((s) => s.connects === 0) && Date.now() < connectBy) await sleep(50);
  if (streams.some((s) => s.connects === 0)) throw new Error(`${name}: streams did not connect: ${streams.filter((s) => s.connects === 0).map((s) => s.spec.name).join(', ')}`);

  phase.t0 = performance.now();
  phase.stopAt = phase.t0 + plan.durationS * 1000;
  phase.hardStopAt = phase.stopAt + GRACE_MS;
  const cpu = cpuWindow({});
  const samples = sampler(nodes, phase.t0, () => ({ writes: phase.ackedWrites, payload: phase.ackedBytes }), async () => {
    if (name === 'sqlite') return nodes[0]!.sqliteBytes();
    for (const n of nodes) {
      if (n.pid === null) continue;
      try {
        const r = await request(n.url, 'GET', '/api/metrics');
        if (r.status === 200) return { bytes: Number((JSON.parse(r.text) as { data_file_bytes: number }).data_file_bytes), wal: 0 };
      } catch {
        // next node
      }
    }
    return null;
  });
  log(`${name}: ${plan.durationS} s of traffic on ${nodes.length} node(s), ${plan.faults.length} faults`);

  // Slow readers: the first stream of each kind stops reading now and then.
  const slow = [subscribers[0]!, watchers[0]!, [...inboxes.values()][0]!];
  const slowTimer = setInterval(() => {
    if (phase.running()) for (const s of slow) s.pauseFor(SLOW_PAUSE_MS);
  }, SLOW_EVERY_MS);

  const progress = setInterval(() => {
    const acked = [...phase.stats.values()].reduce((a, s) => a + s.acked, 0);
    log(`${name}: ${phase.now().toFixed(0)} s, ${fmtInt(acked)} acknowledged, ${fmtInt(verdicts.violations)} violation(s) so far`);
  }, 10_000);

  const loops: Array<Promise<unknown>> = [];
  for (let i = 0; i <= SHAPE.casWriters; i++) loops.push(casWriter(phase, rec, SHAPE, i));
  for (let i = 0; i < SHAPE.publishers; i++) loops.push(publisher(phase, rec, SHAPE, i));
  for (let i = 0; i < SHAPE.taskCreators; i++) loops.push(taskCreator(phase, rec, SHAPE, i));
  const claimed = claimers.map((agent, i) => claimer(phase, rec, SHAPE, i, agent));
  for (let i = 0; i < SHAPE.inboxAgents; i++) loops.push(messenger(phase, rec, SHAPE, i, inboxAgents));
  for (let i = 0; i < SHAPE.hookSessions; i++) loops.push(hookSessions(phase, rec, SHAPE, i));

  const faults: PhaseResult['faults'] = [];
  const injecting = (async () => {
    for (const f of plan.faults) {
      const wait = phase.t0 + f.at * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      const node = nodes[f.node ?? 0]!;
      const t = performance.now();
      log(`${name}: ${phase.now().toFixed(1)} s: ${f.kind}${f.kind === 'pg-restart' ? '' : ` ${node.name}`} (${f.ms} ms)`);
      if (f.kind === 'stop') await node.pause(f.ms);
      else if (f.kind === 'kill') {
        await node.kill9();
        await sleep(f.ms);
        await node.start();
      } else await pg!.restartAsync(f.ms);
      faults.push({ kind: f.kind, node: f.kind === 'pg-restart' ? null : (f.node ?? 0), at_s: Math.round(f.at), took_s: Math.round((performance.now() - t) / 100) / 10 });
    }
  })();

  // What each node retains at the start of the steady window, after a full collection (memory flat).
  const retainedAt = async () => Promise.all(nodes.map((n) => n.retained()));
  const retainedStart = (async () => {
    await injecting;
    const wait = phase.t0 + plan.steadyFromS * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    return retainedAt();
  })().catch(() => nodes.map(() => null));

  let drained = false;
  let trafficEnd = 0;
  let retained: { start: Array<{ rss: number; anon: number } | null>; end: Array<{ rss: number; anon: number } | null> } | undefined;
  try {
    const limit = plan.durationS * 1000 + GRACE_MS + 30_000;
    await withTimeout(Promise.all([injecting, ...loops]), limit, `${name}: traffic`);
    drained = (await withTimeout(Promise.all(claimed), GRACE_MS + 30_000, `${name}: claimers`)).every((x) => x);
    clearInterval(slowTimer);
    trafficEnd = phase.now();
    log(`${name}: traffic stopped at ${trafficEnd.toFixed(1)} s; streams catching up`);
    // Every stream gets the chance to deliver everything acknowledged.
    const max = (ids: Iterable<number>) => {
      let m = 0;
      for (const id of ids) if (id > m) m = id;
      return m;
    };
    const maxPublished = max(rec.published.values());
    const maxRevision = max(rec.casAcked.map((w) => w.revision));
    await Promise.all([
      ...subscribers.map((s) => s.reach(maxPublished, DRAIN_MS)),
      ...watchers.map((s) => s.reach(maxRevision, DRAIN_MS)),
      ...[...inboxes].map(([agent, s]) => s.reach(max(rec.messagesTo.get(agent) ?? []), DRAIN_MS)),
    ]);
    // ... and at its end, once the streams caught up.
    retained = { start: await retainedStart, end: await retainedAt() };
  } finally {
    clearInterval(slowTimer);
    clearInterval(progress);
    for (const s of streams) s.stop();
    samples.stop();
  }
  const usage = cpu();

  log(`${name}: checking`);
  const c = new Conn(phase, 'check', 0);
  phase.hardStopAt = performance.now() + 30_000;
  const { excused } = checkStreams(verdicts, rec, got, subscribers, watchers, inboxes);
  const { unverified } = await checkCas(verdicts, rec, got, c, casKeys(SHAPE));
  const tasks = await checkTasks(verdicts, rec, c, drained);
  checkHolds(verdicts, rec, performance.now());
  checkNodes(verdicts, nodes);
  const resources = checkResources(verdicts, samples.mem, samples.disk, plan.steadyFromS, Math.min(plan.durationS, trafficEnd), nodes.length, retained);

  const streamStats = (kind: string, ss: Stream[], valuesPruned = 0) => ({
    streams: ss.length,
    frames: ss.reduce((a, s) => a + s.frames, 0),
    connections: ss.reduce((a, s) => a + s.connects, 0),
    failed_connections: ss.reduce((a, s) => a + s.failedConnects, 0),
    closed_4008: ss.reduce((a, s) => a + (s.closes['4008'] ?? 0), 0),
    closed_self: ss.reduce((a, s) => a + s.selfCloses, 0),
    closed_other: ss.reduce((a, s) => a + Object.entries(s.closes).reduce((b, [code, n]) => b + (code === '4008' ? 0 : n), 0) - s.failedConnects - s.selfCloses, 0),
    excused: excused[kind] ?? 0,
    values_pruned: valuesPruned,
  });
  return {
    name,
    plan,
    verdicts,
    traffic: Object.fromEntries([...phase.stats].filter(([k]) => k !== 'check')),
    streams: { events: streamStats('events', subscribers), watch: streamStats('watch', watchers, unverified), inbox: streamStats('inbox', [...inboxes.values()]) },
    faults,
    resources,
    tasks,
    hooks: rec.hooks,
    leases: rec.leases,
    loadgen_cores: usage.loadgen.cores,
    others_cores: usage.others.cores,
    elapsed_s: Math.round((performance.now() - started) / 100) / 10,
  };
}

async function sqlitePhase(plan: Plan, log: (m: string) => void): Promise<PhaseResult> {
  const node = await KoorNode.create('koor-sqlite', []);
  await node.start();
  try {
    return await soakPhase('sqlite', [node], plan, null, log);
  } finally {
    await node.stop();
  }
}

/** Cluster mode on a throwaway PostgreSQL; a string (why) when it cannot run here. */
async function clusterPhase(plan: Plan, log: (m: string) => void): Promise<PhaseResult | string> {
  // A fast shutdown flushes everything and a node's kill -9 does not touch PostgreSQL's files: the
  // fsyncs only an OS crash needs are off, as in the cluster tests (test/helpers/postgres.ts).
  const pg = await startPostgres({ fsync: 'off', full_page_writes: 'off' });
  if ('skipped' in pg) return pg.skipped;
  const nodes: KoorNode[] = [];
  try {
    const url = await createDatabase(pg, 'koor_soak');
    log(`cluster: ${pg.version} on port ${pg.port}`);
    for (let i = 0; i < plan.nodes; i++) nodes.push(await KoorNode.create(`koor-node-${i}`, ['--database', url]));
    for (const n of nodes) await n.start();
    return await soakPhase('cluster', nodes, plan, pg, log);
  } finally {
    for (const n of nodes) await n.stop();
    pg.stop();
  }
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const mode = quick ? 'quick' : 'full';
  const results: PhaseResult[] = [];
  const notes: string[] = [];
  results.push(await sqlitePhase(PLANS.sqlite[mode], log));
  const cluster = await clusterPhase(PLANS.cluster[mode], log);
  if (typeof cluster === 'string') notes.push(`cluster phase skipped: ${cluster}`);
  else results.push(cluster);

  const tables: BenchTable[] = [];
  const failures: string[] = [];
  for (const r of results) {
    const kinds = [...Object.entries(r.traffic)];
    tables.push({
      title: `Soak, ${r.name} (${r.plan.nodes} node${r.plan.nodes > 1 ? 's' : ''}, ${r.plan.durationS} s of traffic): operations per kind`,
      columns: ['kind', 'loops', 'ops', 'acked', 'refused', 'replayed', 'retries', 'conn refused', 'no reply', '503', '504', 'other 5xx', 'unknown'],
      rows: kinds.map(([k, s]) => [k, s.loops, fmtInt(s.ops), fmtInt(s.acked), fmtInt(s.refused), fmtInt(s.replayed), fmtInt(s.retries), fmtInt(s.conn_refused), fmtInt(s.no_reply), fmtInt(s.s503), fmtInt(s.s504), fmtInt(s.s5xx_other), fmtInt(s.unknown)]),
    });
    tables.push({
      title: `Soak, ${r.name}: streams (resumed from their last id after every close)`,
      columns: ['stream', 'streams', 'frames', 'connections', 'failed connects', '4008 closes', 'paused anew', 'other closes', 'excused ids', 'values pruned'],
      rows: Object.entries(r.streams).map(([k, s]) => [k, s.streams!, fmtInt(s.frames), fmtInt(s.connections), fmtInt(s.failed_connections), fmtInt(s.closed_4008), fmtInt(s.closed_self), fmtInt(s.closed_other), fmtInt(s.excused), k === 'watch' ? fmtInt(s.values_pruned) : '-']),
    });
    tables.push({
      title: `Soak, ${r.name}: invariants`,
      columns: ['invariant', 'checked', 'violations', 'figure / first violation'],
      rows: [...r.verdicts.all].map(([inv, v]) => [inv, fmtInt(v.checked), fmtInt(v.violations), (v.violations > 0 ? (v.samples[0] ?? '') : (v.figure ?? '')).slice(0, 160)]),
    });
    tables.push({
      title: `Soak, ${r.name}: faults injected`,
      columns: ['fault', 'node', 'at s', 'took s'],
      rows: r.faults.map((f) => [f.kind, f.node === null ? 'postgres' : String(f.node), f.at_s, f.took_s]),
    });
    for (const [inv, v] of r.verdicts.all) if (v.violations > 0) failures.push(`${r.name}: ${inv}: ${v.violations} violation(s)${v.samples.map((s) => `\n        - ${s}`).join('')}`);
    notes.push(
      `${r.name}: tasks ${JSON.stringify(r.tasks.by_status)}; leases ${r.leases.acquired} acquired, ${r.leases.conflicts} conflicts; hook sessions ${r.hooks.sessions} (edits allowed ${r.hooks.allowed}, denied ${r.hooks.denied}, ended ${r.hooks.ended}); load generator ${r.loadgen_cores.toFixed(2)} cores, other processes ${r.others_cores.toFixed(2)} cores; ${r.elapsed_s} s`,
    );
  }
  const violations = results.reduce((a, r) => a + r.verdicts.violations, 0);
  notes.push(
    'Memory and disk are judged over the fault-free window at the end of each phase (short with --quick: a coarse check). ' +
      'Every invariant has held on main since writes report an unknown outcome (504); a violation is a defect.',
  );
  return {
    ok: violations === 0,
    violations,
    failures,
    phases: results.map((r) => ({
      name: r.name,
      plan: r.plan,
      elapsed_s: r.elapsed_s,
      traffic: r.traffic,
      streams: r.streams,
      faults: r.faults,
      invariants: Object.fromEntries(r.verdicts.all),
      resources: r.resources,
      tasks: r.tasks,
      hooks: r.hooks,
      leases: r.leases,
      loadgen_cores: r.loadgen_cores,
      others_cores: r.others_cores,
    })),
    tables,
    notes,
  };
}
