/**
 * What each kind of hook costs the server, per call: CPU of every thread (/proc), writes (the
 * writer's calls, koor_writer_calls_total) and round trip, with 8 sessions of one repository
 * posting the input Claude Code sends (test/fixtures/claude-code) — against a cached state GET
 * and a durable state PUT, measured the same way, in the same run.
 * koor-server with its defaults pinned to core 0 (every thread); this process on core 1.
 *
 *   edit held      PreToolUse Write of a file the session already leases (auto-lease)
 *   edit report    PostToolUse of that edit, nothing new
 *   shell          PreToolUse + PostToolUse of a Bash command that ends at once (per hook)
 *   turn           UserPromptSubmit with no news
 *   stop           Stop with no news
 *   edit free      PreToolUse Write of a file nobody leases: takes an auto-lease (a write)
 *   edit free 10k  the same once 10,000 other leases stand (taken by another agent first, not
 *                  counted): the lease table and its indexes past the writer's page cache
 *
 * and, the same way, `read` (a cached state GET: what a hook that changes nothing should cost) and
 * `write` (a durable state PUT of a new key: the floor of a hook that takes a lease).
 *
 *   npm run bench -- hook-cost [--quick]
 *   KOOR_BENCH_BASELINE=<dir>/dist/src/main.js   the same for another build, alternated A B B A,
 *                                                the figures the median of each build's two passes
 *   KOOR_BENCH_SESSIONS=<n>                      sessions posting at once (default 8)
 *   KOOR_BENCH_HOOK_BACKEND=postgres             one cluster node on a fresh PostgreSQL (both on
 *                                                core 0), PostgreSQL's CPU counted with the node's
 */
import { pooled } from '../lib/async.js';
import { threadCpuPerRequest } from '../lib/cpu.js';
import { fmtInt, fmtMs, fmtRatio, median, ratio } from '../lib/format.js';
import { LatencyHistogram } from '../lib/latency.js';
import { have, pin, spawnKoor } from '../lib/processes.js';
import { createDatabase, pinPostgres, postgresCpu, startPostgres } from '../lib/postgres.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { hook, hookInput, json, ownFile, request, sessionId, hookHeaders, shellInput } from '../hooks/sessions.js';

const SESSIONS = Number(process.env.KOOR_BENCH_SESSIONS ?? 8);
const KINDS = ['read', 'write', 'edit held', 'edit report', 'shell', 'turn', 'stop', 'edit free', 'edit free 10k'] as const;
/** The other leases standing before `edit free 10k`. */
const STANDING_LEASES = 10_000;
type Kind = (typeof KINDS)[number];
/** The hook inputs of a call of each kind (two for a shell command), for session k's i-th call. */
type Calls = (k: number, i: number) => Array<Record<string, unknown>>;

const bash = (event: string, sid: string): Record<string, unknown> => shellInput(event, sid, 'ls', 'list', 'a\n');
const CALLS: Record<Exclude<Kind, 'read' | 'write'>, Calls> = {
  'edit held': (k) => [hookInput('PreToolUse', sessionId(k), ownFile(k))],
  'edit report': (k) => [hookInput('PostToolUse', sessionId(k), ownFile(k))],
  shell: (k) => [bash('PreToolUse', sessionId(k)), bash('PostToolUse', sessionId(k))],
  turn: (k) => [hookInput('UserPromptSubmit', sessionId(k))],
  stop: (k) => [hookInput('Stop', sessionId(k))],
  'edit free': (k, i) => [hookInput('PreToolUse', sessionId(k), `src/free-${k}/${i}.ts`)],
  'edit free 10k': (k, i) => [hookInput('PreToolUse', sessionId(k), `src/big-${k}/${i}.ts`)],
};

/** STANDING_LEASES leases of another agent, one file each, in the sessions' project (the repository's folder). */
async function standingLeases(base: string): Promise<void> {
  const other = await json<{ id: string }>(base, 'POST', '/api/instances/register', { name: 'bench-standing' });
  const ids = Array.from({ length: STANDING_LEASES }, (_, i) => i);
  await pooled(ids, 32, async (i) => {
    await json(base, 'POST', '/api/leases', { project: 'shop', resources: [`lib/standing-${i % 97}/${i}.ts`], exclusive: true, reason: 'standing' }, { 'x-koor-instance': other.id });
  });
}

interface Figures {
  cpu_us: number;
  main_us: number;
  /** PostgreSQL's CPU per hook (its backends'), on that backend. */
  pg_us: number;
  writes: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

async function writerCalls(base: string): Promise<number> {
  const text = (await request(base, 'GET', '/metrics')).text;
  return Number(/^koor_writer_calls_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** One build: a fresh server, its sessions set up, every kind measured in turn. */
async function measure(main: string | undefined, calls: number, pg: { url: string; pid: number } | null, log: (m: string) => void): Promise<Record<Kind, Figures>> {
  const server = await spawnKoor(pg ? ['--database', await createDatabase(pg, 'koor_bench_hook_cost')] : [], {}, main);
  pin(server.pid, 0);
  if (pg) pinPostgres(pg.pid, 0);
  const base = server.url;
  const ks = Array.from({ length: SESSIONS }, (_, i) => i + 1);
  await json(base, 'PUT', '/api/state/bench/hook-cost', { mode: 'fast', n: 1 });
  await pooled(ks, SESSIONS, async (k) => {
    await hook(base, k, hookInput('UserPromptSubmit', sessionId(k)));
    await hook(base, k, hookInput('PreToolUse', sessionId(k), ownFile(k)));
    await hook(base, k, hookInput('PostToolUse', sessionId(k), ownFile(k)));
    for (let p = 0; Object.keys(await hook(base, k, hookInput('UserPromptSubmit', sessionId(k)))).length > 0; p++) if (p === 200) throw new Error('setup: still news after 200 digests');
  });
  const out = {} as Record<Kind, Figures>;
  for (const kind of KINDS) {
    if (kind === 'edit free 10k') {
      log(`  ${STANDING_LEASES} other leases`);
      await standingLeases(base);
    }
    const one = async (k: number, i: number): Promise<number> => {
      if (kind === 'read' || kind === 'write') {
        const r = kind === 'read' ? await request(base, 'GET', '/api/state/bench/hook-cost') : await request(base, 'PUT', `/api/state/bench/hook-cost-${k}-${i}`, '{"n":1}', { 'content-type': 'application/json' });
        if (r.status !== 200) throw new Error(`${kind}: ${r.status}`);
        return 1;
      }
      const inputs = CALLS[kind](k, i);
      for (const input of inputs) {
        const r = await request(base, 'POST', '/api/hooks/claude-code', JSON.stringify(input), hookHeaders(k));
        if (r.status !== 200 || r.text.trim() !== '{}') throw new Error(`${kind}: ${r.status} ${r.text.slice(0, 200)}`);
      }
      return inputs.length;
    };
    // A warm-up not counted (the JIT, the caches), then the measured calls.
    await pooled(ks, SESSIONS, async (k) => {
      for (let i = 0; i < 50; i++) await one(k, 1_000_000 + i);
    });
    const hist = new LatencyHistogram();
    const w0 = await writerCalls(base);
    const per = threadCpuPerRequest(server.pid);
    const pg0 = pg ? postgresCpu(pg.pid) : 0;
    let n = 0;
    await pooled(ks, SESSIONS, async (k) => {
      for (let i = 0; i < calls / SESSIONS; i++) {
        const t0 = performance.now();
        const hooks = await one(k, i);
        hist.record((performance.now() - t0) / hooks);
        n += hooks;
      }
    });
    const cpu = per(n);
    const pgUs = pg ? Math.round(((postgresCpu(pg.pid) - pg0) / n) * 1e6) : 0;
    const w1 = await writerCalls(base);
    const lat = hist.summary();
    out[kind] = { cpu_us: Math.round(cpu.main_us + cpu.other_us) + pgUs, main_us: cpu.main_us, pg_us: pgUs, writes: Math.round(((w1 - w0) / n) * 100) / 100, p50_ms: lat.p50, p99_ms: lat.p99 };
    log(`  ${kind}: ${out[kind].cpu_us} µs, ${out[kind].writes} writes per hook`);
  }
  await server.stop();
  return out;
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  if (!have('taskset')) return { ok: true, skipped: 'needs taskset (apt-get install util-linux)', warnings: ['hook-cost: skipped, no taskset'] };
  pin(process.pid, 1);
  const calls = quick ? 1600 : 4800;
  const baseline = process.env.KOOR_BENCH_BASELINE;
  const backend = process.env.KOOR_BENCH_HOOK_BACKEND ?? 'sqlite';
  if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`KOOR_BENCH_HOOK_BACKEND: sqlite or postgres, not ${backend}`);
  const started = backend === 'postgres' ? await startPostgres() : null;
  if (started && 'skipped' in started) return { ok: true, skipped: started.skipped, warnings: [`hook-cost: skipped, ${started.skipped}`] };
  const pg = started;
  const builds: Array<{ name: string; main?: string }> = baseline ? [{ name: 'baseline', main: baseline }, { name: 'koor' }, { name: 'koor' }, { name: 'baseline', main: baseline }] : [{ name: 'koor' }];
  const runs: Record<string, Array<Record<Kind, Figures>>> = {};
  try {
    for (const b of builds) {
      log(`${b.name}: ${calls} calls of each kind, ${SESSIONS} sessions`);
      (runs[b.name] ??= []).push(await measure(b.main, calls, pg, log));
    }
  } finally {
    pg?.stop();
  }
  const med = (name: string, kind: Kind, f: keyof Figures): number | null => {
    const xs = (runs[name] ?? []).map((r) => r[kind][f]).filter((x): x is number => x !== null);
    return xs.length > 0 ? median(xs) : null;
  };
  const us = (x: number | null) => (x === null ? '-' : fmtInt(x));
  const table: BenchTable = {
    title: `Server cost per hook (${SESSIONS} sessions, ${pg ? 'one cluster node and PostgreSQL' : 'server'} on core 0${pg ? ", PostgreSQL's CPU counted" : ''}; read = cached state GET, write = durable state PUT)${baseline ? ', baseline build against this one, A B B A medians' : ''}`,
    columns: baseline ? ['kind', 'base µs CPU', 'koor µs CPU', 'ratio', 'base writes', 'koor writes', 'base p50', 'koor p50', 'koor p99'] : ['kind', 'µs CPU', 'main µs', 'PostgreSQL µs', 'writes', 'p50', 'p99', 'x read', 'x write'],
    rows: KINDS.map((k) =>
      baseline
        ? [k, us(med('baseline', k, 'cpu_us')), us(med('koor', k, 'cpu_us')), fmtRatio(ratio(med('koor', k, 'cpu_us') ?? 0, med('baseline', k, 'cpu_us') ?? 0)), String(med('baseline', k, 'writes')), String(med('koor', k, 'writes')), fmtMs(med('baseline', k, 'p50_ms')), fmtMs(med('koor', k, 'p50_ms')), fmtMs(med('koor', k, 'p99_ms'))]
        : [k, us(med('koor', k, 'cpu_us')), us(med('koor', k, 'main_us')), us(med('koor', k, 'pg_us')), String(med('koor', k, 'writes')), fmtMs(med('koor', k, 'p50_ms')), fmtMs(med('koor', k, 'p99_ms')), fmtRatio(ratio(med('koor', k, 'cpu_us') ?? 0, med('koor', 'read', 'cpu_us') ?? 0)), fmtRatio(ratio(med('koor', k, 'cpu_us') ?? 0, med('koor', 'write', 'cpu_us') ?? 0))],
    ),
  };
  return { ok: true, runs, tables: [table], notes: ['CPU from /proc (10 ms ticks: ±1 tick over the run); writes = writer calls per hook (a progress heartbeat is at most one per session per touch interval)'] };
}
