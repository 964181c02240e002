/**
 * Koor as one server for many agents: simulated agents (bench/scale/team.ts: no model, the requests
 * a Claude Code session makes — hooks around every turn, edit and command, claims with paths,
 * checkpoints, messages) against one koor-server on its defaults (then, the same again, against
 * three nodes on one PostgreSQL, the agents spread over them), over a standing population of
 * other agents' leases, a backlog of tasks and a long event log, at growing team sizes. Per step,
 * same run: the join (every agent's SessionStart at once and its first two turns, a worst case
 * of a team starting: its time and round trips, reported apart), then a measured window: round
 * trip p50/p99 by kind of request, a probe's (bench/scale/probe.ts: one more agent in a process
 * of its own, free of this process's queueing), server CPU per hook and per agent-minute with
 * the hooks a second two cores would answer from where it went, the server's RSS, the largest digest and SessionStart orientation (o200k tokens), and the dashboard
 * beside the team (bench/scale/dashboard.ts: the overview's first paint in chromium, then one tab
 * open on it, while the agents run on after the step's measured window). Before the steps,
 * claim round trips over a backlog of 100 tasks and 10 leases, then over the whole population
 * (every other one of the oldest tasks blocked by another agent's lease): the same run's ratio.
 *
 *   npm run bench -- scale [--quick]
 *     quick: 10 and 100 agents, 10,000 leases, 10,000 tasks, 20,000 events, 30 s a step
 *     full:  10, 100 and 1,000 agents, 10,000 leases, 100,000 tasks, 1,000,000 events, 60 s a step
 *
 * The server (the nodes and PostgreSQL) is pinned to core 0, this process and the browser to core
 * 1; this process's CPU is reported (`loadgen cores`): near 1.0 it, not the server, sets the pace.
 * Bounds asserted (CI runs the quick variant): a digest ≤ 200 tokens, SessionStart ≤ 400, resident
 * memory the SQLite server holds ≤ 300 MB (quick: 400, see RSS_MAX_MB; the database file it maps is
 * reported apart), every request answered 200. Without Debian's postgresql the cluster arm is
 * skipped with a warning; KOOR_BENCH_SCALE_ARMS=sqlite (or =cluster) runs one arm alone.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpuSplit, type CpuSplit } from '../lib/cpu.js';
import { fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import type { LatencySummary } from '../lib/latency.js';
import { createDatabase, pinPostgres, startPostgres } from '../lib/postgres.js';
import { pin, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { dashboardUnmeasurable, launchChromium } from '../lib/dashboard-paint.js';
import { dashboardBeside, type DashboardStep } from '../scale/dashboard.js';
import type { Browser } from 'playwright-core';
import { bucketQuantile, rssMb, serverReadings, split } from '../scale/readings.js';
import { probeBeside, type ProbeResult } from '../scale/probe.js';
import { claimRound, newSeen, populator, runAgent, WARM_TURNS, type Population, type Seen } from '../scale/team.js';

export const timeoutMs = { quick: 10 * 60_000, full: 90 * 60_000 };

const DIGEST_TOKENS_MAX = 200;
const START_TOKENS_MAX = 400;
/**
 * Memory the server may hold, MB: the goal, asserted in the full run; the quick run (CI) asserts a
 * looser net against leaks, since after its burst of population writes V8's heaps stay near their
 * high-water mark (250–300 MB here) for a while — its figures are printed all the same.
 */
const RSS_MAX_MB = { full: 300, quick: 400 };
/** A simulated agent's turn: one every this many ms (a model's turn takes seconds). */
const TURN_MS = 2000;
/** The longest a step's join may take (seconds) before its measured window begins all the same (a failure). */
const JOIN_MAX_S = 180;

/** Seconds until every one of `agents` is past its join (or JOIN_MAX_S, or the team failed). */
async function joined(seen: Seen, agents: number, team: Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let failed = false;
  team.catch(() => (failed = true));
  while (seen.joined < agents && !failed && performance.now() - t0 < JOIN_MAX_S * 1000) await new Promise((r) => setTimeout(r, 50));
  return (performance.now() - t0) / 1000;
}

/** The small backlog claims are measured over first; then over the whole population (goal: p99 ≤ 2× this one's). */
const CLAIMS_SMALL: Population = { leases: 10, tasks: 100, events: 0 };
const CLAIMERS = 8;
/** The load generator's event-loop delay is sampled this often (ms; a sample's delay includes it, taken off). */
const LAG_RESOLUTION_MS = 1;

/** One arm of the run: a server (one node or several on one database) the same team is run against. */
interface Arm {
  name: string;
  urls: string[];
  /** Its CPU seconds so far: the nodes' main threads, their other threads (writer, pool), PostgreSQL's processes. */
  cpu: () => CpuSplit;
  /** Memory its nodes hold (PostgreSQL's apart), MB. */
  rss: () => { anon: number; file: number };
  /** The bound on `rss().anon`, if asserted. */
  rssMax: number | null;
  dash: { browser: Browser; url: string } | null;
}

interface ArmResult {
  arm: string;
  claims: { small: LatencySummary; large: LatencySummary } | null;
  steps: Array<Record<string, unknown>>;
}

interface RunShape {
  steps: number[];
  pop: Population;
  stepS: number;
  /** Seconds an overview tab stays open beside the team, after the paints (past the measured window). */
  tabS: number;
  claimCycles: number;
  log: (m: string) => void;
  failures: string[];
}

/** The population, the claim rounds, then each team size in turn, against one arm. */
async function runArm(arm: Arm, o: RunShape): Promise<ArmResult> {
  const { log, failures } = o;
  const grow = populator(arm.urls[0]!, log);
  // Claims over a small backlog, then over the whole population: the same agents' round trips.
  await grow(CLAIMS_SMALL);
  const claimsSmall = await claimRound(arm.urls, CLAIMERS, o.claimCycles, 'small');
  const t0 = performance.now();
  await grow(o.pop);
  log(`${arm.name}: population in ${Math.round((performance.now() - t0) / 1000)} s; RSS ${JSON.stringify(arm.rss())} MB`);
  const claimsLarge = await claimRound(arm.urls, CLAIMERS, o.claimCycles, 'large');
  const claims = { small: claimsSmall.latency.summary(), large: claimsLarge.latency.summary() };
  for (const e of [...claimsSmall.errors, ...claimsLarge.errors]) failures.push(`${arm.name}: claims: ${e}`);
  log(`${arm.name}: claims p99: ${fmtMs(claims.small.p99)} over ${CLAIMS_SMALL.tasks} tasks, ${fmtMs(claims.large.p99)} over ${o.pop.tasks}`);
  const results: Array<Record<string, unknown>> = [];
  let offset = 0;
  for (const agents of o.steps) {
    log(`${arm.name}: ${agents} agents join at once, then ${o.stepS} s measured`);
    const seen = newSeen();
    const rss0 = arm.rss();
    // The agents run on past the measured window until the dashboard beside them is done: a browser
    // on the load generator's core would slow the team it measures.
    const stop = { at: Infinity };
    const j0 = performance.now();
    const team = Promise.all(Array.from({ length: agents }, (_, i) => runAgent(arm.urls[i % arm.urls.length]!, offset + i, agents, TURN_MS, stop, seen)));
    // The join: every SessionStart at once, then each agent's first turns (its files taken, the joins read as news).
    const joinS = await joined(seen, agents, team);
    const join = { s: Math.round(joinS * 10) / 10, complete: seen.joined >= agents, session_start: seen.join.latency.get('session start')?.summary() ?? null, hook_latency: seen.join.hooks.summary() };
    if (!join.complete) failures.push(`${arm.name}, ${agents} agents: ${agents - seen.joined} agents not past their first ${WARM_TURNS} turns after ${JOIN_MAX_S} s`);
    seen.phase = 'window';
    const readings0 = await serverReadings(arm.urls);
    // This process's own pauses: a hook's round trip includes them.
    const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    lag.enable();
    const cpu0 = arm.cpu();
    const self0 = process.cpuUsage();
    const w0 = performance.now();
    const measuredUntil = w0 + o.stepS * 1000;
    if (!arm.dash) stop.at = measuredUntil;
    // One more agent, in a process of its own, timing a hook that changes nothing (probe.ts).
    const probe = probeBeside(arm.urls[0]!, Math.max(5, o.stepS - 3), 900_000 + offset, 1);
    const measured = new Promise<{ wallS: number; cpu: CpuSplit; self: NodeJS.CpuUsage; rss: { anon: number; file: number }; readings1: Awaited<ReturnType<typeof serverReadings>> }>((resolve, reject) =>
      setTimeout(() => {
        const wallS = (performance.now() - w0) / 1000;
        const c1 = arm.cpu();
        const cpu = { main: c1.main - cpu0.main, threads: c1.threads - cpu0.threads, children: c1.children - cpu0.children };
        const self = process.cpuUsage(self0);
        const rss = arm.rss();
        seen.phase = 'done';
        lag.disable();
        serverReadings(arm.urls).then((readings1) => resolve({ wallS, cpu, self, rss, readings1 }), reject);
      }, measuredUntil - performance.now()),
    );
    const tab = arm.dash
      ? dashboardBeside(arm.dash.browser, arm.dash.url, measuredUntil, o.tabS * 1000, log).finally(() => (stop.at = 0))
      : Promise.resolve(null);
    const [dashboard, { wallS, cpu, self, rss, readings1 }, probed] = await Promise.all([
      tab.catch((e: Error) => (failures.push(`${arm.name}, ${agents} agents: dashboard: ${e.message}`), null)),
      measured,
      probe,
      team,
    ]);
    if ('failed' in probed) failures.push(`${arm.name}, ${agents} agents: probe: ${probed.failed}`);
    log(`  join: ${join.s} s from the first SessionStart to every agent past its first ${WARM_TURNS} turns; session start p50/p99 ${fmtMs(join.session_start?.p50 ?? null)} / ${fmtMs(join.session_start?.p99 ?? null)} ms, its hooks p50/p99 ${fmtMs(join.hook_latency.p50)} / ${fmtMs(join.hook_latency.p99)} ms (${Math.round((performance.now() - j0) / 1000)} s in all)`);
    offset += agents;
    const hooks = seen.window.hooks.count;
    const serverCpuS = cpu.main + cpu.threads + cpu.children;
    const perHook = (sec: number) => Math.round((sec / hooks) * 1e6);
    const r = {
      agents,
      join,
      requests: seen.window.requests,
      hooks,
      hooks_per_s: Math.round(hooks / wallS),
      server_cores: Math.round((serverCpuS / wallS) * 100) / 100,
      // Where it went: the nodes' main threads (HTTP, reads), their other threads (writer, pool), PostgreSQL's processes; and what they ran.
      server_us_per_hook_split: hooks > 0 ? { main: perHook(cpu.main), threads: perHook(cpu.threads), postgres: perHook(cpu.children) } : null,
      reads_per_hook: hooks > 0 ? Math.round(((readings1.reads - readings0.reads) / hooks) * 100) / 100 : null,
      writer_calls_per_hook: hooks > 0 ? Math.round(((readings1.writes - readings0.writes) / hooks) * 100) / 100 : null,
      writer_batches_per_hook: hooks > 0 ? Math.round(((readings1.batches - readings0.batches) / hooks) * 100) / 100 : null,
      loadgen_cores: Math.round(((self.user + self.system) / 1e6 / wallS) * 100) / 100,
      // Every request's server CPU counted against the hooks (the rest of the mix is a few per turn).
      server_us_per_hook: hooks > 0 ? perHook(serverCpuS) : null,
      server_ms_per_agent_minute: Math.round(((serverCpuS / agents) * (60 / wallS)) * 1000),
      rss_anon_mb: rss.anon,
      rss_file_mb: rss.file,
      // The V8 heaps within rss_anon_mb, at the window's end: the front's and the writer's (every node's).
      heap_mb: readings1.heapMb,
      rss_growth_kb_per_agent: Math.round(((rss.anon - rss0.anon) * 1024) / agents),
      digest_tokens_max: seen.digestTokensMax,
      digests: seen.digests,
      session_start_tokens_max: seen.startTokensMax,
      hook_latency: seen.window.hooks.summary(),
      probe_latency: 'failed' in probed ? null : probed,
      // Hooks a second two cores would answer, from where this step's CPU went: the main thread is
      // one thread (1 core ÷ its µs a hook), the rest runs beside it (2 cores ÷ all of it). One node only.
      capacity_2_cores: hooks > 0 && cpu.children === 0 ? Math.round(Math.min(hooks / cpu.main, (2 * hooks) / (cpu.main + cpu.threads))) : null,
      // The servers' own view of the same hooks (bucket bounds, ms), and this process's event-loop delay.
      server_hook_p50_ms_at_most: bucketQuantile(readings0.buckets, readings1.buckets, 0.5),
      server_hook_p99_ms_at_most: bucketQuantile(readings0.buckets, readings1.buckets, 0.99),
      loadgen_lag_p99_ms: Math.round((lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS) * 100) / 100,
      loadgen_lag_max_ms: Math.round((lag.max / 1e6 - LAG_RESOLUTION_MS) * 100) / 100,
      latency: Object.fromEntries([...seen.window.latency].map(([k, h]) => [k, h.summary()])),
      dashboard,
      errors: seen.errors,
    };
    results.push(r);
    log(`  ${hooks} hooks (${r.hooks_per_s}/s), server ${r.server_cores} cores, ${r.server_us_per_hook} µs a hook (${split(r.server_us_per_hook_split)}; ${r.reads_per_hook} reads, ${r.writer_calls_per_hook} writer calls in ${r.writer_batches_per_hook} batches), hook p50/p99 ${fmtMs(r.hook_latency.p50)} / ${fmtMs(r.hook_latency.p99)} ms (a probe's ${fmtMs(r.probe_latency?.p50 ?? null)} / ${fmtMs(r.probe_latency?.p99 ?? null)}; server-side ≤ ${r.server_hook_p50_ms_at_most} / ≤ ${r.server_hook_p99_ms_at_most}; loadgen lag p99 ${r.loadgen_lag_p99_ms} ms), RSS ${rss.anon} MB (heaps: front ${r.heap_mb.main}, writer ${r.heap_mb.writer}) + ${rss.file} MB mapped, loadgen ${r.loadgen_cores} cores${r.capacity_2_cores === null ? '' : `; 2 cores: ${r.capacity_2_cores} hooks/s`}`);
    const at = `${arm.name}, ${agents} agents`;
    if (seen.errors.length > 0) failures.push(`${at}: requests failed: ${seen.errors.join('; ')}`);
    if (seen.digestTokensMax > DIGEST_TOKENS_MAX) failures.push(`${at}: a digest of ${seen.digestTokensMax} tokens (at most ${DIGEST_TOKENS_MAX})`);
    if (seen.startTokensMax > START_TOKENS_MAX) failures.push(`${at}: a SessionStart of ${seen.startTokensMax} tokens (at most ${START_TOKENS_MAX})`);
    if (arm.rssMax !== null && rss.anon > arm.rssMax) failures.push(`${at}: RSS ${rss.anon} MB held (at most ${arm.rssMax}; the mapped database file apart)`);
  }
  return { arm: arm.name, claims, steps: results };
}

/** Three nodes on a fresh PostgreSQL, all on core 0; null (and why) without PostgreSQL. */
async function clusterArm(): Promise<{ arm: Arm; stop: () => Promise<void> } | { skipped: string }> {
  const pg = await startPostgres();
  if ('skipped' in pg) return pg;
  const nodes: ServerProc[] = [];
  const stop = async () => {
    for (const n of nodes) await n.stop();
    pg.stop();
  };
  try {
    const database = await createDatabase(pg, 'koor_bench_scale');
    // One after another: the first applies the migrations.
    for (let i = 0; i < 3; i++) {
      const n = await spawnKoor(['--database', database]);
      nodes.push(n);
      pin(n.pid, 0);
    }
    pinPostgres(pg.pid, 0);
    const pids = nodes.map((n) => n.pid);
    return { arm: { name: '3 nodes, PostgreSQL', urls: nodes.map((n) => n.url), cpu: () => cpuSplit(pids, [pg.pid]), rss: () => rssMb(pids), rssMax: null, dash: null }, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** KOOR_BENCH_SCALE_STEPS=1000 (or 10,100): the team sizes to run instead of the default ones. */
function stepsOf(v: string | undefined): number[] | null {
  if (v === undefined || v === '') return null;
  const steps = v.split(',').map(Number);
  if (!steps.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`KOOR_BENCH_SCALE_STEPS: team sizes like 10,100,1000, not ${v}`);
  return steps;
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const shape: RunShape = {
    steps: stepsOf(process.env.KOOR_BENCH_SCALE_STEPS) ?? (quick ? [10, 100] : [10, 100, 1000]),
    pop: quick ? { leases: 10_000, tasks: 10_000, events: 20_000 } : { leases: 10_000, tasks: 100_000, events: 1_000_000 },
    stepS: quick ? 30 : 60,
    tabS: quick ? 15 : 30,
    claimCycles: quick ? 400 : 1000,
    log,
    failures: [],
  };
  const warnings: string[] = [];
  pin(process.pid, 1);
  const arms: ArmResult[] = [];
  const only = process.env.KOOR_BENCH_SCALE_ARMS;
  if (only !== undefined && only !== 'sqlite' && only !== 'cluster') throw new Error(`KOOR_BENCH_SCALE_ARMS: sqlite or cluster, not ${only}`);
  if (only !== 'cluster') arms.push(await sqliteArm(quick, shape, warnings));
  const cluster = only === 'sqlite' ? null : await clusterArm();
  if (cluster === null) warnings.push('the cluster arm not run (KOOR_BENCH_SCALE_ARMS=sqlite)');
  else if ('skipped' in cluster) warnings.push(`the cluster arm not run: ${cluster.skipped}`);
  else {
    try {
      arms.push(await runArm(cluster.arm, shape));
    } finally {
      await cluster.stop();
    }
  }
  return { ok: shape.failures.length === 0, population: shape.pop, arms, tables: tablesOf(arms, shape), failures: shape.failures, warnings, notes: ['µs/hook: all of the server\'s CPU in the step (every node\'s, and PostgreSQL\'s with its backends) over its hooks (claims, checkpoints and messages included: a few per turn)'] };
}

/** One server on SQLite, the dashboard (when chromium is here) beside the team. */
async function sqliteArm(quick: boolean, shape: RunShape, warnings: string[]): Promise<ArmResult> {
  const server = await spawnKoor(['--dashboard-bind', '127.0.0.1:0']);
  let browser: Browser | null = null;
  try {
    pin(server.pid, 0);
    const dashPort = Number(/"dashboard":"127\.0\.0\.1:(\d+)"/.exec(server.output())?.[1]);
    const unmeasurable = dashPort ? dashboardUnmeasurable() : `no dashboard port in the server's log`;
    if (unmeasurable) warnings.push(`${unmeasurable}: the dashboard not measured`);
    // Launched from this process: it shares its core.
    else browser = await launchChromium();
    const sqlite: Arm = {
      name: '1 node, SQLite',
      urls: [server.url],
      cpu: () => cpuSplit([server.pid]),
      rss: () => rssMb([server.pid]),
      rssMax: quick ? RSS_MAX_MB.quick : RSS_MAX_MB.full,
      dash: browser ? { browser, url: `http://127.0.0.1:${dashPort}/` } : null,
    };
    return await runArm(sqlite, shape);
  } finally {
    await browser?.close();
    await server.stop();
  }
}

type Step = Record<string, unknown> & { agents: number; join: { s: number; session_start: LatencySummary | null; hook_latency: LatencySummary }; latency: Record<string, LatencySummary>; hook_latency: LatencySummary; probe_latency: ProbeResult | null; dashboard: DashboardStep | null };

function tablesOf(arms: ArmResult[], o: RunShape): BenchTable[] {
  const tables: BenchTable[] = [];
  const lat = (s: LatencySummary | undefined) => `${fmtMs(s?.p50 ?? null)} / ${fmtMs(s?.p99 ?? null)}`;
  for (const a of arms) {
    const steps = a.steps as Step[];
    const first = steps[0]!;
    tables.push({
      title: `${a.arm}: growing teams over ${fmtInt(o.pop.leases)} leases, ${fmtInt(o.pop.tasks)} tasks, ${fmtInt(o.pop.events)} events (a turn per agent every ${TURN_MS / 1000} s; server on core 0)`,
      columns: ['agents', 'hooks/s', 'server cores', 'µs/hook', 'x first', '2 cores hooks/s', 'hook p50 / p99 ms', 'p99 x first', 'probe p50 / p99 ms', 'probe p99 x first (goal ≤ 2)', 'server-side p50 / p99 ≤ ms', 'loadgen lag p99 / max ms', 'ms CPU/agent-min', 'RSS MB held', 'MB mapped', 'KB/agent', 'digest tok max', 'start tok max', 'loadgen cores'],
      rows: steps.map((r) => [String(r.agents), fmtInt(r.hooks_per_s as number), String(r.server_cores), fmtInt(r.server_us_per_hook as number), fmtRatio(ratio(r.server_us_per_hook as number, first.server_us_per_hook as number)), r.capacity_2_cores === null ? '-' : fmtInt(r.capacity_2_cores as number), lat(r.hook_latency), fmtRatio(ratio(r.hook_latency.p99 ?? 0, first.hook_latency.p99 ?? 0)), lat(r.probe_latency ?? undefined), fmtRatio(ratio(r.probe_latency?.p99 ?? 0, first.probe_latency?.p99 ?? 0)), `${fmtMs(r.server_hook_p50_ms_at_most as number | null)} / ${fmtMs(r.server_hook_p99_ms_at_most as number | null)}`, `${r.loadgen_lag_p99_ms} / ${r.loadgen_lag_max_ms}`, fmtInt(r.server_ms_per_agent_minute as number), String(r.rss_anon_mb), String(r.rss_file_mb), fmtInt(r.rss_growth_kb_per_agent as number), String(r.digest_tokens_max), String(r.session_start_tokens_max), String(r.loadgen_cores)]),
    });
    tables.push({
      title: `${a.arm}: the joins (every agent's SessionStart at once, then its first ${WARM_TURNS} turns: its files taken, the others' joins read as news), before each measured window`,
      columns: ['agents', 'join s', 'session start p50 / p99 ms', 'its hooks p50 / p99 ms'],
      rows: steps.map((r) => [String(r.agents), String(r.join.s), lat(r.join.session_start ?? undefined), lat(r.join.hook_latency)]),
    });
    const kinds = [...new Set(steps.flatMap((r) => Object.keys(r.latency)))];
    tables.push({ title: `${a.arm}: round trip by kind, p50 / p99 (ms)`, columns: ['kind', ...steps.map((r) => `${r.agents} agents`)], rows: kinds.map((k) => [k, ...steps.map((r) => lat(r.latency[k]))]) });
    const dash = steps.filter((r) => r.dashboard !== null);
    if (dash.length > 0) {
      const base = dash[0]!.dashboard!.paint_cold_ms;
      tables.push({
        title: `${a.arm}: the dashboard beside the team (after the measured window, the agents running on): the overview's first paint (median of 3 loads), then one tab open ${o.tabS} s`,
        columns: ['agents', 'paint cold ms', `x ${dash[0]!.agents} agents (goal ≤ 2)`, 'paint warm ms', 'cold KB', 'tab req/s', 'tab HTTP KB/s', 'tab WS frames/s', 'tab WS KB/s'],
        rows: dash.map((r) => {
          const d = r.dashboard!;
          return [String(r.agents), fmtMs(d.paint_cold_ms), fmtRatio(ratio(d.paint_cold_ms, base)), fmtMs(d.paint_warm_ms), fmtInt(Math.round(d.cold_bytes / 1024)), String(d.tab_req_per_s), String(d.tab_http_kb_per_s), String(d.tab_ws_frames_per_s), String(d.tab_ws_kb_per_s)];
        }),
      });
    }
    if (a.claims) {
      const c = a.claims;
      tables.push({
        title: `${a.arm}: claims by ${CLAIMERS} agents (claim, complete, a task added in its place; every other one of the oldest tasks blocked by a lease), ${o.claimCycles} per backlog`,
        columns: ['backlog', 'claim p50', 'claim p99', 'p99 x small (goal ≤ 2)'],
        rows: [
          [`${fmtInt(CLAIMS_SMALL.tasks)} tasks, ${fmtInt(CLAIMS_SMALL.leases)} leases`, fmtMs(c.small.p50), fmtMs(c.small.p99), '1.00'],
          [`${fmtInt(o.pop.tasks)} tasks, ${fmtInt(o.pop.leases)} leases`, fmtMs(c.large.p50), fmtMs(c.large.p99), fmtRatio(ratio(c.large.p99 ?? 0, c.small.p99 ?? 0))],
        ],
      });
    }
  }
  if (arms.length === 2) {
    const [s, c] = arms as [ArmResult, ArmResult];
    const pairs = (s.steps as Step[]).map((a, i) => [a, (c.steps as Step[])[i]] as const).filter((p): p is readonly [Step, Step] => p[1] !== undefined);
    tables.push({
      title: `${c.arm} against ${s.arm}, same team, same population (goal ≤ 1.5)`,
      columns: ['agents', 'µs/hook', 'x', 'hook p50 ms', 'x', 'hook p99 ms', 'x', 'claim p99 over the population ms', 'x'],
      rows: [
        ...pairs.map(([a, b]) => [String(a.agents), `${fmtInt(a.server_us_per_hook as number)} → ${fmtInt(b.server_us_per_hook as number)}`, fmtRatio(ratio(b.server_us_per_hook as number, a.server_us_per_hook as number)), `${fmtMs(a.hook_latency.p50)} → ${fmtMs(b.hook_latency.p50)}`, fmtRatio(ratio(b.hook_latency.p50 ?? 0, a.hook_latency.p50 ?? 0)), `${fmtMs(a.hook_latency.p99)} → ${fmtMs(b.hook_latency.p99)}`, fmtRatio(ratio(b.hook_latency.p99 ?? 0, a.hook_latency.p99 ?? 0)), '', '']),
        ['claims', '', '', '', '', '', '', `${fmtMs(s.claims?.large.p99)} → ${fmtMs(c.claims?.large.p99)}`, fmtRatio(ratio(c.claims?.large.p99 ?? 0, s.claims?.large.p99 ?? 0))],
      ],
    });
  }
  return tables;
}
