/**
 * The scale of a claim: a claim must find the best free task however many tasks ahead
 * of it are blocked and however large the backlog. One server (SQLite, `--sync full`), one run:
 *
 *   leases   10,000 live leases: 1,000 in each of the two measured projects (one per blocked
 *            task's file), the other 8,000 spread over 40 other projects (other repositories)
 *   small    project `small`: 1,000 blocked tasks of the best priority, then 100 free ones
 *   large    project `large`: the same 1,000 blocked tasks, then 100,000 free ones (10,000 quick)
 *
 * Each claim is timed alone (one at a time, from this process), then released (not timed): the
 * task goes back where it was, so every claim passes the same 1,000 blocked tasks. Goal: the large
 * backlog's p50 and p99 ≤ 2× the small one's. Also reported: a claim in a project with nothing
 * blocked, the floor a claim costs.
 *
 *   npm run bench -- claims [--quick]
 */
import type autocannon from 'autocannon';
import { fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { runLoad } from '../lib/load.js';
import { spawnKoor } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';

const CONNECTIONS = 32;
const BLOCKED = 1_000;
const OTHER_PROJECTS = 40;
const TOTAL_LEASES = 10_000;

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  return { status: r.status, json: await r.json() };
}

/** `bodies` POSTed to `path` over CONNECTIONS connections, each with the headers `headersOf` gives it; the count of 200s. */
async function fill(base: string, path: string, bodies: string[], headersOf: (k: number) => Record<string, string> = () => ({})): Promise<number> {
  let conn = 0;
  const r = await runLoad({
    url: `${base}${path}`,
    method: 'POST',
    connections: CONNECTIONS,
    durationS: 600,
    amount: bodies.length,
    timeoutS: 30,
    okStatuses: [200],
    setupClient: (client: autocannon.Client) => {
      const c = conn++ % CONNECTIONS;
      const reqs: autocannon.Request[] = [];
      for (let k = c; k < bodies.length; k += CONNECTIONS) {
        reqs.push({ method: 'POST', path, headers: { 'content-type': 'application/json', ...headersOf(k) }, body: bodies[k]! });
      }
      client.setRequests(reqs);
    },
  });
  return r.ok_responses;
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const LARGE = quick ? 10_000 : 100_000;
  const SMALL = 100;
  const CLAIMS = quick ? 100 : 400;
  // The holders only hold: not judged stale (and their leases let go) during a run of minutes.
  const server = await spawnKoor(['--liveness-timeout', '2h']);
  const base = server.url;
  const problems: string[] = [];
  try {
    const register = async (name: string, workspace: string) => (await post(`${base}/api/instances/register`, { name, workspace })).json.id as string;
    // The holders: one per project, its leases block that project's first 1,000 tasks.
    log(`${TOTAL_LEASES} live leases in ${OTHER_PROJECTS + 2} projects`);
    const holders: string[] = [];
    const leaseBodies: string[] = [];
    for (const p of ['small', 'large']) {
      holders.push(await register(`holder-${p}`, p));
      for (let i = 0; i < BLOCKED; i++) leaseBodies.push(JSON.stringify({ project: p, resources: [`src/blocked/f${i}.ts`] }));
    }
    const perOther = (TOTAL_LEASES - 2 * BLOCKED) / OTHER_PROJECTS;
    for (let p = 0; p < OTHER_PROJECTS; p++) {
      holders.push(await register(`holder-repo${p}`, `repo${p}`));
      // Other repositories hold the same paths: none of them may block a claim here.
      for (let i = 0; i < perOther; i++) leaseBodies.push(JSON.stringify({ project: `repo${p}`, resources: [`src/blocked/f${i}.ts`] }));
    }
    // Each lease by its project's holder.
    const byProject = new Map<string, string>();
    byProject.set('small', holders[0]!);
    byProject.set('large', holders[1]!);
    for (let p = 0; p < OTHER_PROJECTS; p++) byProject.set(`repo${p}`, holders[2 + p]!);
    const leaseAgents = leaseBodies.map((b) => byProject.get((JSON.parse(b) as { project: string }).project)!);
    const leased = await fill(base, '/api/leases', leaseBodies, (k) => ({ 'x-koor-instance': leaseAgents[k]! }));
    if (leased !== TOTAL_LEASES) problems.push(`leases: ${leased} of ${TOTAL_LEASES} taken`);

    const tasks = (project: string, free: number): string[] => [
      ...Array.from({ length: BLOCKED }, (_, i) => JSON.stringify({ project, title: `blocked ${i}`, priority: 10, max_attempts: 1000, paths: [`src/blocked/f${i}.ts`] })),
      ...Array.from({ length: free }, (_, i) => JSON.stringify({ project, title: `free ${i}`, priority: 1, max_attempts: 1000, paths: [`src/free/f${i}.ts`] })),
    ];
    log(`tasks: ${BLOCKED} blocked + ${SMALL} free in small, ${BLOCKED} blocked + ${LARGE} free in large, ${SMALL} free in open`);
    const t0 = Date.now();
    const made = (await fill(base, '/api/tasks', tasks('small', SMALL))) + (await fill(base, '/api/tasks', tasks('large', LARGE))) + (await fill(base, '/api/tasks', Array.from({ length: SMALL }, (_, i) => JSON.stringify({ project: 'open', title: `t${i}`, max_attempts: 1000, paths: [`src/f${i}.ts`] }))));
    const want = 2 * BLOCKED + 2 * SMALL + LARGE;
    if (made !== want) problems.push(`tasks: ${made} of ${want} created`);
    log(`  created in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const claimer = await register('claimer', 'claimers');
    const who = { 'x-koor-instance': claimer };
    /** CLAIMS claims in `project`, each timed alone and released after; every one must be a free task. */
    const measure = async (project: string): Promise<LatencySummary> => {
      const h = new LatencyHistogram();
      for (let i = 0; i < CLAIMS; i++) {
        const t = process.hrtime.bigint();
        const r = await post(`${base}/api/tasks/claim`, { project }, who);
        h.record(Number(process.hrtime.bigint() - t) / 1e6);
        if (r.status !== 200 || !String(r.json.title).startsWith(project === 'open' ? 't' : 'free')) {
          problems.push(`${project}: claim ${i} answered ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
          break;
        }
        await post(`${base}/api/tasks/${r.json.id}/release`, {}, who);
      }
      return h.summary();
    };
    // Interleaved rounds, so the machine's drift falls on both alike.
    const rounds = 4;
    const perRound: Record<string, LatencySummary[]> = { open: [], small: [], large: [] };
    for (let r = 0; r < rounds; r++) {
      for (const p of ['open', 'small', 'large'] as const) {
        log(`round ${r + 1}/${rounds}: ${CLAIMS} claims in ${p}`);
        const s = await measure(p);
        perRound[p]!.push(s);
      }
    }
    const med = (xs: Array<number | null>): number => {
      const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
      return v.length === 0 ? 0 : v[Math.floor(v.length / 2)]!;
    };
    const p50 = (p: string) => med(perRound[p]!.map((s) => s.p50));
    const p99 = (p: string) => med(perRound[p]!.map((s) => s.p99));
    const ratio50 = ratio(p50('large'), p50('small'));
    const ratio99 = ratio(p99('large'), p99('small'));
    const met = ratio50 !== null && ratio99 !== null && ratio50 <= 2 && ratio99 <= 2;
    if (!met) problems.push(`goal: large backlog p50 ${ratio50}x, p99 ${ratio99}x the small one's (want ≤ 2x)`);
    const rows: BenchTable['rows'] = [
      ['open: nothing blocked', fmtInt(SMALL), '0', fmtMs(p50('open')), fmtMs(p99('open')), '—'],
      ['small', fmtInt(SMALL), fmtInt(BLOCKED), fmtMs(p50('small')), fmtMs(p99('small')), '1.00x'],
      ['large', fmtInt(LARGE), fmtInt(BLOCKED), fmtMs(p50('large')), fmtMs(p99('large')), `${fmtRatio(ratio50)} p50, ${fmtRatio(ratio99)} p99`],
    ];
    return {
      ok: problems.length === 0,
      problems,
      goal_met: met,
      leases: leased,
      claims_per_round: CLAIMS,
      rounds,
      ms: { open: { p50: p50('open'), p99: p99('open') }, small: { p50: p50('small'), p99: p99('small') }, large: { p50: p50('large'), p99: p99('large') } },
      large_vs_small: { p50: ratio50, p99: ratio99 },
      per_round: perRound,
      tables: [
        {
          title: `A claim behind ${BLOCKED} blocked tasks, ${leased} live leases on the server (median of ${rounds} interleaved rounds of ${CLAIMS} one-at-a-time claims)`,
          columns: ['project', 'free tasks', 'blocked before them', 'p50 ms', 'p99 ms', 'vs small'],
          rows,
        },
      ],
      notes: ['Goal: the large backlog ≤ 2x the small one, p50 and p99.', ...problems],
    };
  } finally {
    await server.stop();
  }
}
