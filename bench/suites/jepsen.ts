/**
 * Cluster mode checked the way Jepsen checks databases: a 3-node cluster on PostgreSQL, each in a
 * network namespace of its own on one bridge (bench/jepsen/netns.ts), clients in two more (c1 on
 * n1 and n2, c2 on n3), and per run one nemesis: none, PostgreSQL cut off from a node (both ways,
 * or one way), a node cut off from the others, c2 cut off from its node, skewed node clocks
 * (ahead and behind, stepped), a paused node, a killed node, a PostgreSQL restart. Then the single
 * server on its embedded SQLite the same way: none, kill -9, SIGSTOP, clock steps. Every
 * operation's invocation and completion is recorded (timeouts and 5xx indeterminate) and each
 * history checked for linearizability (bench/jepsen/checker.ts) against the models of Koor's
 * promises: state compare-and-set, leases (one holder at a time, fenced writes refused once
 * superseded), claims (each task once).
 *
 *   npm run bench -- jepsen [--quick]
 *     quick: one run per nemesis, 20 s each; full: 3 runs per nemesis, 60 s each.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../lib/async.js';
import { fmtInt } from '../lib/format.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { BENCH_DIST_DIR } from '../lib/suite.js';
import { check, type Op } from '../jepsen/checker.js';
import { checkStreams, describeAnomaly, type Publish, type Subscriber } from '../jepsen/streams.js';
import type { ClientPlan, History } from '../jepsen/client.js';
import { AUTO_LEASE_IDLE_MS, Cluster, clusterUnavailable } from '../jepsen/cluster.js';
import { casRegister, leaseModel, queueModel } from '../jepsen/models.js';
import { Net, netnsUnavailable } from '../jepsen/netns.js';

export const timeoutMs = { quick: 15 * 60_000, full: 120 * 60_000 };
/** The checker's time per model and run, at most (then its verdict is unknown, reported). */
const CHECK_TIMEOUT_MS = 60_000;

/** A nemesis: what it does during a run (from `at` of the run's length), and what undoes it. */
interface Nemesis {
  name: string;
  /** The node it takes aim at, whose clients' view is reported apart. */
  target?: string;
  act(c: Cluster, net: Net, runMs: number): Promise<void>;
}

const during = (startFrac: number, lengthMs: number, on: () => void | Promise<void>, off: () => void | Promise<void>) => async (runMs: number) => {
  await sleep(runMs * startFrac);
  await on();
  await sleep(lengthMs);
  await off();
};

const CLUSTER_NEMESES: Nemesis[] = [
  { name: 'none', act: async () => {} },
  { name: 'node cut off from PostgreSQL', target: 'n1', act: (_c, net, ms) => during(0.25, ms * 0.4, () => net.isolate('n1', 'pg'), () => net.heal())(ms) },
  { name: "node's packets to PostgreSQL dropped (one way)", target: 'n1', act: (_c, net, ms) => during(0.25, ms * 0.4, () => net.cut('n1', 'pg'), () => net.heal())(ms) },
  { name: 'node cut off from the other nodes', target: 'n1', act: (_c, net, ms) => during(0.25, ms * 0.4, () => (net.isolate('n1', 'n2'), net.isolate('n1', 'n3')), () => net.heal())(ms) },
  { name: 'clients cut off from their node', target: 'n3', act: (_c, net, ms) => during(0.25, ms * 0.4, () => net.isolate('c2', 'n3'), () => net.heal())(ms) },
  {
    name: 'clocks skewed (+90 s, -60 s, stepped)',
    act: async (c, _net, ms) => {
      await sleep(ms * 0.2);
      c.skew('n1', '+90s');
      c.skew('n2', '-60s');
      await sleep(ms * 0.3);
      c.skew('n1', '-30s');
      c.skew('n3', '+300s');
      await sleep(ms * 0.3);
      for (const n of ['n1', 'n2', 'n3']) c.skew(n, '+0');
    },
  },
  { name: 'node paused (SIGSTOP)', target: 'n2', act: (c, _net, ms) => during(0.25, ms * 0.3, () => c.node('n2').signal('SIGSTOP'), () => c.node('n2').signal('SIGCONT'))(ms) },
  { name: 'node killed and restarted', target: 'n3', act: (c, _net, ms) => during(0.25, ms * 0.2, () => c.kill('n3'), () => c.node('n3').start())(ms) },
  { name: 'PostgreSQL restarted', act: async (c, _net, ms) => (await sleep(ms * 0.3), c.restartPostgres(2000)) },
];

const SINGLE_NEMESES: Nemesis[] = [
  { name: 'none', act: async () => {} },
  { name: 'killed (kill -9) and restarted', target: 'n1', act: (c, _net, ms) => during(0.25, ms * 0.1, () => c.kill('n1'), () => c.node('n1').start())(ms) },
  { name: 'paused (SIGSTOP)', target: 'n1', act: (c, _net, ms) => during(0.25, ms * 0.3, () => c.node('n1').signal('SIGSTOP'), () => c.node('n1').signal('SIGCONT'))(ms) },
  {
    name: 'clock stepped (+90 s, -60 s, +300 s)',
    act: async (c, _net, ms) => {
      for (const [at, offset] of [[0.2, '+90s'], [0.25, '-60s'], [0.25, '+300s'], [0.2, '+0']] as const) {
        await sleep(ms * at);
        c.skew('n1', offset);
      }
    },
  },
];

/** A server under test: how it is started, the nodes each group of clients uses, its nemeses. */
interface System {
  name: string;
  members: string[];
  start(net: Net): Promise<Cluster>;
  /** c1's nodes (per entry two register workers and one of each other kind) and c2's node (one of each kind). */
  c1: string[];
  c2: string;
  nemeses: Nemesis[];
}

const SYSTEMS: System[] = [
  { name: '3 nodes on PostgreSQL', members: ['pg', 'n1', 'n2', 'n3', 'c1', 'c2'], start: (net) => Cluster.start(net, 3), c1: ['n1', 'n2'], c2: 'n3', nemeses: CLUSTER_NEMESES },
  { name: 'one server on SQLite', members: ['n1', 'c1', 'c2'], start: (net) => Cluster.start(net, 1, { sqlite: true }), c1: ['n1', 'n1'], c2: 'n1', nemeses: SINGLE_NEMESES },
];

interface RunResult {
  system: string;
  nemesis: string;
  ops: number;
  unknown: number;
  anomalies: string[];
  unknown_verdicts: string[];
  /** Per route class: the share of operations answered (not timed out, not failed) — on every node, and on the nemesis's target. */
  availability: Record<string, { all: number; target: number | null }>;
  byModel: Record<string, { ops: number; ok: number; verdict: string }>;
}

/** The clients of a run, in their namespaces; their merged history. */
async function clients(net: Net, c: Cluster, sys: System, run: string, runMs: number): Promise<History> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-jepsen-clients-'));
  const base = (n: string) => c.node(n).url;
  const plans: Array<[string, ClientPlan]> = [
    ['c1', { workers: [...sys.c1.flatMap((n) => [{ node: base(n), kind: 'register' as const }, { node: base(n), kind: 'register' as const }, { node: base(n), kind: 'lease' as const }, { node: base(n), kind: 'queue' as const }, { node: base(n), kind: 'publish' as const }, { node: base(n), kind: 'subscribe' as const }, { node: base(n), kind: 'watch' as const }, { node: base(n), kind: 'hook' as const }])], durationMs: runMs, timeoutMs: 3000, leaseTtlMs: 5000, autoLeaseIdleMs: AUTO_LEASE_IDLE_MS, tag: 'a', run, out: path.join(dir, 'a.json') }],
    ['c2', { workers: [{ node: base(sys.c2), kind: 'register' }, { node: base(sys.c2), kind: 'lease' }, { node: base(sys.c2), kind: 'queue' }, { node: base(sys.c2), kind: 'publish' }, { node: base(sys.c2), kind: 'subscribe' }, { node: base(sys.c2), kind: 'watch' }, { node: base(sys.c2), kind: 'hook' }], durationMs: runMs, timeoutMs: 3000, leaseTtlMs: 5000, autoLeaseIdleMs: AUTO_LEASE_IDLE_MS, tag: 'b', run, out: path.join(dir, 'b.json') }],
  ];
  try {
    await Promise.all(
      plans.map(
        ([ns, plan]) =>
          new Promise<void>((resolve, reject) => {
            const p = net.spawn(ns, process.execPath, [path.join(BENCH_DIST_DIR, 'jepsen', 'client.js'), JSON.stringify(plan)], { stdio: ['ignore', 'ignore', 'pipe'] });
            let err = '';
            p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
            const timer = setTimeout(() => p.kill('SIGKILL'), runMs + 60_000);
            p.once('exit', (code) => (clearTimeout(timer), code === 0 ? resolve() : reject(new Error(`clients ${ns} exited ${code}: ${err.slice(-1000)}`))));
          }),
      ),
    );
    const all: History = { register: [], lease: [], queue: [], publishes: [], subscribers: [], watchers: [], counts: {}, why: {} };
    for (const [, plan] of plans) {
      const h = JSON.parse(fs.readFileSync(plan.out, 'utf8'), (_k, v: unknown) => (v === 'Infinity' ? Infinity : v)) as History;
      // A loop, not push(...xs): a single server's run records 150,000 operations and more, past the call stack's room for arguments.
      for (const k of ['register', 'lease', 'queue', 'publishes', 'subscribers', 'watchers'] as const) for (const x of h[k]) (all[k] as unknown[]).push(x);
      for (const [k, n] of Object.entries(h.why)) all.why[k] = (all.why[k] ?? 0) + n;
      for (const [k, v] of Object.entries(h.counts)) {
        const t = (all.counts[k] ??= { ok: 0, unknown: 0, failed: 0 });
        t.ok += v.ok;
        t.unknown += v.unknown;
        t.failed += v.failed;
      }
    }
    return all;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const CLASSES = { register: 'state', lease: 'leases', queue: 'claims', stream: 'events', guard: 'hooks' } as const;

/** The share of operations answered per route class, over every node and over `target`'s. */
function availability(h: History, target: string | null): RunResult['availability'] {
  const out: RunResult['availability'] = {};
  for (const [kind, label] of Object.entries(CLASSES)) {
    const sum = (node: string | null) => {
      let ok = 0;
      let all = 0;
      for (const [k, c] of Object.entries(h.counts)) {
        if (!k.startsWith(`${kind}@`) || (node !== null && k !== `${kind}@${node}`)) continue;
        ok += c.ok;
        all += c.ok + c.unknown + c.failed;
      }
      return all === 0 ? null : ok / all;
    };
    out[label] = { all: sum(null) ?? 0, target: target === null ? null : sum(target) };
  }
  return out;
}

const describe = (op: Op<unknown, unknown>) => `${String(op.client)} ${JSON.stringify(op.input)} → ${op.output === undefined ? '?' : JSON.stringify(op.output)} [${op.call.toFixed(1)}, ${op.ret === Infinity ? '∞' : op.ret.toFixed(1)}]`;

/** The run's state writes as a watch sees them: a revision each when acknowledged, none when indeterminate (refusals wrote nothing). */
function stateWrites(h: History): Publish[] {
  const out: Publish[] = [];
  for (const o of [...h.register, ...h.lease]) {
    if (o.input.f !== 'write' && o.input.f !== 'cas' && o.input.f !== 'fenced-write') continue;
    const r = o.output as { revision?: number } | undefined;
    if (o.ret === Infinity || r === undefined) out.push({ client: o.client, call: o.call, ret: Infinity });
    else if (r.revision !== undefined) out.push({ client: o.client, call: o.call, ret: o.ret, id: r.revision });
  }
  return out;
}

/** Each model's verdict over the run's history; a failing partition's history is kept in `dumpDir` for reading. */
function verdicts(h: History, dumpDir: string, run: string, log: (m: string) => void): Pick<RunResult, 'anomalies' | 'byModel' | 'unknown_verdicts'> {
  const anomalies: string[] = [];
  const unknown: string[] = [];
  const byModel: RunResult['byModel'] = {};
  const judge = <S, I, O>(name: string, model: Parameters<typeof check<S, I, O>>[0], ops: Op<I, O>[]) => {
    const t0 = performance.now();
    const r = check(model, ops, { timeoutMs: CHECK_TIMEOUT_MS });
    log(`  ${name}: ${fmtInt(ops.length)} operations checked in ${Math.round(performance.now() - t0)} ms`);
    byModel[name] = { ops: ops.length, ok: ops.filter((o) => o.ret !== Infinity).length, verdict: r.ok === true ? 'linearizable' : r.ok === false ? 'NOT linearizable' : 'unknown (timeout)' };
    if (r.ok === true) return;
    const file = path.join(dumpDir, `${run}-${name.replace(/\W+/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify(r.ok === false ? ops.filter((o) => !model.key || model.key(o.input) === r.key) : ops, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v)));
    if (r.ok === 'unknown') return void unknown.push(`${name}: the checker gave up after ${CHECK_TIMEOUT_MS / 1000} s (the history: ${file})`);
    anomalies.push(`${name}, key ${r.key}: no order places ${describe(r.op as Op<unknown, unknown>)}; before it: ${r.longest.slice(-4).map((o) => describe(o as Op<unknown, unknown>)).join('; ')} (the key's history: ${file})`);
  };
  judge('state compare-and-set', casRegister(), h.register);
  judge('leases', leaseModel(), h.lease);
  judge('claims', queueModel(), h.queue);
  // Events and watches: every subscriber gets each acknowledged event (each state change) once, in id (revision) order, across its resumes.
  const streams = (name: string, publishes: Publish[], subscribers: Subscriber[], what: string) => {
    const delivered = subscribers.reduce((n, s) => n + s.sessions.reduce((m, x) => m + x.received.length, 0), 0);
    const found = checkStreams(publishes, subscribers);
    log(`  ${name}: ${fmtInt(publishes.length)} ${what}, ${fmtInt(delivered)} deliveries over ${subscribers.reduce((n, s) => n + s.sessions.length, 0)} sessions checked`);
    byModel[name] = { ops: publishes.length, ok: publishes.filter((p) => p.id !== undefined).length, verdict: found.length === 0 ? 'no gap, duplicate or reorder' : `${found.length} anomalies` };
    if (found.length === 0) return;
    const file = path.join(dumpDir, `${run}-${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ publishes, subscribers }, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v)));
    anomalies.push(`${name}: ${found.slice(0, 5).map(describeAnomaly).join('; ')}${found.length > 5 ? ` and ${found.length - 5} more` : ''} (the history: ${file})`);
  };
  streams('events', h.publishes, h.subscribers, 'publishes');
  streams('watches', stateWrites(h), h.watchers, 'state writes');
  return { anomalies, byModel, unknown_verdicts: unknown };
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const why = netnsUnavailable() ?? clusterUnavailable();
  // Skipped, said loudly: a machine without namespaces or PostgreSQL cannot judge the cluster.
  if (why) return { ok: true, skipped: why, warnings: [`jepsen: SKIPPED, cannot run here: ${why}`] };
  const runMs = quick ? 20_000 : 60_000;
  const rounds = quick ? 1 : 3;
  const results: RunResult[] = [];
  // KOOR_BENCH_JEPSEN: only the nemeses whose "server: nemesis" name contains it (or one of its |-separated parts).
  const only = process.env.KOOR_BENCH_JEPSEN ?? '';
  const dumpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-jepsen-histories-'));
  for (const sys of SYSTEMS) {
    const nemeses = sys.nemeses.filter((n) => only.split('|').some((o) => `${sys.name}: ${n.name}`.includes(o)));
    if (nemeses.length === 0) continue;
    const net = Net.make(sys.members);
    let cluster: Cluster | null = null;
    try {
      cluster = await sys.start(net);
      for (let round = 0; round < rounds; round++) {
        for (const [i, nemesis] of nemeses.entries()) {
          const runName = `j${SYSTEMS.indexOf(sys)}r${round}x${i}`;
          log(`${sys.name}: ${nemesis.name}: ${runMs / 1000} s`);
          const [h] = await Promise.all([clients(net, cluster, sys, runName, runMs), nemesis.act(cluster, net, runMs)]);
          net.heal();
          const v = verdicts(h, dumpDir, runName, log);
          const ops = h.register.length + h.lease.length + h.queue.length + h.publishes.length;
          const unknown = Object.values(h.counts).reduce((n, c) => n + c.unknown, 0);
          results.push({ system: sys.name, nemesis: nemesis.name, ops, unknown, ...v, availability: availability(h, nemesis.target ? cluster.node(nemesis.target).url : null) });
          if (Object.keys(h.why).length > 0) log(`  not answered: ${JSON.stringify(h.why)}`);
          log(`  ${fmtInt(ops)} operations, ${unknown} indeterminate; ${v.anomalies.length === 0 ? 'no anomaly' : v.anomalies.join('\n  ')}`);
          // The next run starts on a whole server, its clocks right.
          for (const n of cluster.nodes) {
            cluster.skew(n.name, '+0');
            if (n.child === null) await n.start();
          }
          await sleep(1000);
        }
      }
    } finally {
      await cluster?.stop();
      net.remove();
    }
  }
  const failures = results.flatMap((r) => r.anomalies.map((a) => `${r.system}: ${r.nemesis}: ${a}`));
  const warnings = results.flatMap((r) => r.unknown_verdicts.map((a) => `${r.system}: ${r.nemesis}: ${a}`));
  if (failures.length === 0 && warnings.length === 0) fs.rmSync(dumpDir, { recursive: true, force: true });
  const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(x < 1 && x > 0.995 ? 1 : 0)}%`);
  const tables: BenchTable[] = [
    {
      title: `Jepsen-style runs: each node (and PostgreSQL) in its own network namespace, ${runMs / 1000} s a run`,
      columns: ['server', 'nemesis', 'operations checked', 'indeterminate', 'anomalies', 'answered: state / leases / claims / events / hooks', 'on its target node'],
      rows: results.map((r) => [
        r.system,
        r.nemesis,
        fmtInt(r.ops),
        fmtInt(r.unknown),
        `${r.anomalies.length}${r.unknown_verdicts.length > 0 ? ` (${r.unknown_verdicts.length} unchecked)` : ''}`,
        Object.values(r.availability).map((a) => pct(a.all)).join(' / '),
        Object.values(r.availability).some((a) => a.target !== null) ? Object.values(r.availability).map((a) => pct(a.target)).join(' / ') : '–',
      ]),
    },
  ];
  return { ok: failures.length === 0, runs: results, tables, failures, warnings, notes: ['answered: operations that got an answer that says what happened (not a timeout, not a 504; a 503 says nothing was written and counts as not answered); indeterminate ones are checked as maybe-happened'] };
}
