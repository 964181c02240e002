/**
 * The agent inbox against the event bus on the same server in the same run. koor-server
 * with its defaults (`--sync full`: each message and each event committed and fsync'd before the
 * reply), pinned to core 0 (every thread: HTTP, writer); wrk, the subscriber processes and this
 * process on core 1.
 *
 *   send       messages/s, POST /api/messages, 50 connections, each request from one of 50
 *              registered agents (X-Koor-Instance, in turn) to the next agent — against
 *              publish    POST /api/events/publish, the same 50 connections and identities, a
 *                         payload of the same size (the baseline; both driven by wrk)
 *   push       send-to-push latency: 100 agents each with an open /api/inbox/subscribe socket;
 *              a 101st sends a message to `*` (100 recipients); latency from just before the POST
 *              to each recipient's frame — against
 *   fanout     100 /api/events/subscribe sockets (pattern bench.*) and a publish: from just
 *              before the POST to each subscriber's frame (the baseline)
 *              The two alternate, one send every PUSH_INTERVAL_MS (open loop), so both see the
 *              same machine; the sockets live in 2 processes (bench/fanout/latency-subscriber.ts)
 *              and stamp arrivals with the monotonic clock this process stamps its sends with.
 *
 *   npm run bench -- inbox [--quick]      (about 35 s quick, 90 s full: not among CI's quick suites)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fetchPastIdleClose, sleep, withTimeout } from '../lib/async.js';
import { makeTempDir } from '../lib/cleanup.js';
import { cpuWindow, type CpuReport } from '../lib/cpu.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { have, pin, spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { wrkCpu, type Wrk } from '../lib/wrk.js';

const CONNECTIONS = 50;
const SENDERS = 50;
const RECIPIENTS = 100;
const SUB_PROCS = 2;
const PUSH_INTERVAL_MS = 20;
/** A typical note between agents, ~170 bytes (the event baseline carries the same text). */
const TEXT = 'The /users contract changed: the response now pages with cursor and limit; please regenerate web/src/api/client.ts before touching the list view.';
const SUBJECT = 'users contract';
/** Other processes using more than this (cores) during a measured step: a warning. */
const CONTAMINATED_CORES = 0.25;

/** One request; a GET or a POST with an Idempotency-Key is sent again past an idle close (fetchPastIdleClose). */
async function call<T>(url: string, method: 'GET' | 'POST', body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  let r: Response;
  try {
    r = await fetchPastIdleClose(url, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    throw new Error(`${method} ${url}: ${(e as Error).message} (${String((e as { cause?: unknown }).cause)})`);
  }
  const text = await r.text();
  return { status: r.status, json: (text === '' ? null : JSON.parse(text)) as T };
}

async function register(base: string, n: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await call<{ id: string }>(`${base}/api/instances/register`, 'POST', { name: `${prefix}-${i}`, workspace: `/work/${prefix}` });
    if (r.status !== 200) throw new Error(`register ${prefix}-${i}: ${r.status} ${JSON.stringify(r.json)}`);
    ids.push(r.json.id);
  }
  return ids;
}

/** A wrk script: each request from the next agent of `ids` in turn, its body made by `body(n)` (Lua). */
function rotatingScript(dir: string, name: string, pathName: string, ids: string[], bodyLua: string): string {
  const lines = [
    `local ids = { ${ids.map((i) => JSON.stringify(i)).join(', ')} }`,
    'local n = 0',
    'wrk.method = "POST"',
    'wrk.headers["Content-Type"] = "application/json"',
    'request = function()',
    '  n = n % #ids + 1',
    '  local to = ids[n % #ids + 1]',
    '  wrk.headers["X-Koor-Instance"] = ids[n]',
    `  return wrk.format(nil, "${pathName}", nil, ${bodyLua})`,
    'end',
  ];
  const file = path.join(dir, `${name}.lua`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A Lua string literal of `s`. */
const lua = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;

interface Throughput {
  wrk: Wrk;
  cpu: CpuReport;
}

function measured(pid: number, fn: () => Wrk): Throughput {
  const stop = cpuWindow({ server: pid });
  const w = fn();
  return { wrk: w, cpu: stop() };
}

/** Part 1: durable sends/s against durable publishes/s, same connections and identities. */
async function throughput(dir: string, durationS: number, log: (m: string) => void, problems: string[]) {
  const server = await spawnKoor();
  try {
    pin(server.pid, 0);
    log(`registering ${SENDERS} agents`);
    const ids = await register(server.url, SENDERS, 'sender');
    const msgBody = `${lua('{"to":["')} .. to .. ${lua(`"],"subject":${JSON.stringify(SUBJECT)},"body":${JSON.stringify(TEXT)}}`)}`;
    const send = rotatingScript(dir, 'inbox-send', '/api/messages', ids, msgBody);
    const pubBody = `${lua('{"topic":"bench.inbox","data":{"to":"')} .. to .. ${lua(`","subject":${JSON.stringify(SUBJECT)},"body":${JSON.stringify(TEXT)}}}`)}`;
    const publish = rotatingScript(dir, 'inbox-publish', '/api/events/publish', ids, pubBody);
    // One of each by hand: the scripts must produce 200s.
    for (const [what, file] of [['send', send], ['publish', publish]] as const) {
      const w = wrkCpu(server.pid, server.url, file, 1, 1);
      if (w.non2xx > 0 || w.requests === 0) throw new Error(`${what} script: ${w.non2xx} non-2xx of ${w.requests}`);
    }
    log('warm-up (not counted)');
    wrkCpu(server.pid, server.url, publish, 1, CONNECTIONS);
    wrkCpu(server.pid, server.url, send, 1, CONNECTIONS);
    // Baseline and subject alternate (publish, send, publish, send): drift hits both.
    const runs: { publish: Throughput[]; send: Throughput[] } = { publish: [], send: [] };
    for (let i = 0; i < 2; i++) {
      log(`publish (baseline), ${CONNECTIONS} connections, ${durationS} s`);
      runs.publish.push(measured(server.pid, () => wrkCpu(server.pid, server.url, publish, durationS, CONNECTIONS)));
      log(`send, ${CONNECTIONS} connections, ${durationS} s`);
      runs.send.push(measured(server.pid, () => wrkCpu(server.pid, server.url, send, durationS, CONNECTIONS)));
    }
    for (const [what, list] of Object.entries(runs)) for (const r of list) if (r.wrk.non2xx > 0) problems.push(`${what}: ${r.wrk.non2xx} non-2xx replies`);
    // Every 200 was a stored message: the next id says how many exist (ids count from 1 here).
    const last = await call<{ id: number }>(`${server.url}/api/messages`, 'POST', { to: [ids[1]], body: 'last' }, { 'x-koor-instance': ids[0]!, 'idempotency-key': 'bench-last' });
    const acknowledged = runs.send.reduce((a, r) => a + r.wrk.requests, 0);
    if (last.json.id <= acknowledged) problems.push(`messages: last id ${last.json.id} for ${acknowledged} acknowledged sends (some not stored?)`);
    return { runs, last_message_id: last.json.id, acknowledged_in_measured_runs: acknowledged };
  } finally {
    await server.stop();
  }
}

interface PushResult {
  latency_ms: LatencySummary;
  ack_ms: LatencySummary;
  sends: number;
  frames: number;
  missing: number;
  cpu: CpuReport;
}

/** Part 2: send-to-push latency to 100 inbox sockets against event fan-out to 100 subscribers. */
async function push(rounds: number, log: (m: string) => void, problems: string[]) {
  const server = await spawnKoor();
  const subs: ServerProc[] = [];
  try {
    pin(server.pid, 0);
    log(`registering ${RECIPIENTS + 1} agents`);
    const [sender, ...recipients] = await register(server.url, RECIPIENTS + 1, 'agent');
    for (let i = 0; i < SUB_PROCS; i++) {
      const p = await spawnBenchScript(`latency-subscriber-${i}`, 'fanout/latency-subscriber.js');
      pin(p.pid, 1);
      subs.push(p);
    }
    const ws = server.url.replace(/^http/, 'ws');
    const share = <T>(list: T[], i: number) => list.filter((_, k) => k % SUB_PROCS === i);
    for (let i = 0; i < SUB_PROCS; i++) {
      const inbox = await call<{ opened: number; errors: string[] }>(`${subs[i]!.url}/open`, 'POST', { url: `${ws}/api/inbox/subscribe`, label: 'inbox', headers: share(recipients, i).map((id) => ({ 'x-koor-instance': id })) });
      const events = await call<{ opened: number; errors: string[] }>(`${subs[i]!.url}/open`, 'POST', { url: `${ws}/api/events/subscribe?pattern=${encodeURIComponent('bench.*')}`, label: 'events', headers: share(recipients, i).map(() => ({})) });
      const want = share(recipients, i).length;
      if (inbox.json.opened !== want || events.json.opened !== want) throw new Error(`subscriber ${i}: inbox ${inbox.json.opened}/${want}, events ${events.json.opened}/${want}: ${[...inbox.json.errors, ...events.json.errors].slice(0, 2).join('; ')}`);
    }
    log(`${RECIPIENTS} inbox streams and ${RECIPIENTS} event subscribers open`);
    const who = { 'x-koor-instance': sender! };
    const sendOne = async (kind: 'inbox' | 'events', sent: Map<number, number>, ack: LatencyHistogram): Promise<void> => {
      const t0 = Number(process.hrtime.bigint() / 1000n);
      const r =
        kind === 'inbox'
          ? await call<{ id: number; recipients?: string[] }>(`${server.url}/api/messages`, 'POST', { to: ['*'], subject: SUBJECT, body: TEXT }, who)
          : await call<{ id: number; recipients?: string[] }>(`${server.url}/api/events/publish`, 'POST', { topic: 'bench.inbox', data: { to: '*', subject: SUBJECT, body: TEXT } }, who);
      ack.record((Number(process.hrtime.bigint() / 1000n) - t0) / 1000);
      if (r.status !== 200) throw new Error(`${kind}: ${r.status} ${JSON.stringify(r.json)}`);
      if (kind === 'inbox' && r.json.recipients?.length !== RECIPIENTS) throw new Error(`* resolved to ${r.json.recipients?.length} recipients`);
      sent.set(r.json.id, t0);
    };
    const round = async (n: number, count: boolean) => {
      const sent = { inbox: new Map<number, number>(), events: new Map<number, number>() };
      const ack = { inbox: new LatencyHistogram(), events: new LatencyHistogram() };
      const stop = cpuWindow({ server: server.pid, ...Object.fromEntries(subs.map((p, i) => [`sub${i}`, p.pid])) });
      const t0 = performance.now();
      const inflight: Promise<void>[] = [];
      for (let i = 0; i < n * 2; i++) {
        // Open loop: the next send leaves on time whether or not the last one was answered.
        const at = t0 + i * PUSH_INTERVAL_MS;
        const wait = at - performance.now();
        if (wait > 0) await sleep(wait);
        const kind = i % 2 === 0 ? 'inbox' : 'events';
        inflight.push(sendOne(kind, sent[kind], ack[kind]));
      }
      await withTimeout(Promise.all(inflight), 30_000, 'sends');
      await sleep(500); // frames still on their way
      const cpu = stop();
      const taken = await Promise.all(subs.map((p) => call<{ closed_early: number; arrivals: Record<string, { ids: number[]; us: number[] }> }>(`${p.url}/take`, 'GET')));
      if (!count) return null;
      const out = {} as Record<'inbox' | 'events', PushResult>;
      for (const kind of ['inbox', 'events'] as const) {
        const h = new LatencyHistogram();
        const got = new Map<number, number>();
        let frames = 0;
        for (const t of taken) {
          if (t.json.closed_early > 0) problems.push(`push: ${t.json.closed_early} sockets closed during the run`);
          const a = t.json.arrivals[kind];
          if (!a) continue;
          for (let k = 0; k < a.ids.length; k++) {
            const s = sent[kind].get(a.ids[k]!);
            if (s === undefined) continue;
            frames++;
            got.set(a.ids[k]!, (got.get(a.ids[k]!) ?? 0) + 1);
            h.record((a.us[k]! - s) / 1000);
          }
        }
        const missing = sent[kind].size * RECIPIENTS - frames;
        if (missing !== 0) problems.push(`push ${kind}: ${missing} of ${sent[kind].size * RECIPIENTS} frames missing`);
        out[kind] = { latency_ms: h.summary(), ack_ms: ack[kind].summary(), sends: sent[kind].size, frames, missing, cpu };
      }
      return out;
    };
    log('warm-up (not counted)');
    await round(25, false);
    log(`${rounds} messages to * and ${rounds} publishes, alternating every ${PUSH_INTERVAL_MS} ms`);
    const r = (await round(rounds, true))!;
    return r;
  } finally {
    await Promise.all(subs.map((p) => p.stop(3000)));
    await server.stop();
  }
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = quick ? 3 : 10;
  const rounds = quick ? 250 : 1000;
  const missing = ['wrk', 'taskset'].filter((c) => !have(c));
  if (missing.length > 0) return { ok: true, skipped: `needs ${missing.join(', ')} (apt-get install wrk util-linux)`, warnings: [`inbox: skipped, missing ${missing.join(', ')}`] };
  if (os.availableParallelism() < 2) return { ok: true, skipped: 'needs 2 cores (server on core 0, load on core 1)', warnings: ['inbox: skipped, one core'] };
  const tmp = makeTempDir('koor-bench-inbox-');
  const problems: string[] = [];
  const warnings: string[] = [];
  // This process sends and collects: it belongs with the load on core 1.
  pin(process.pid, 1);
  try {
    const tp = await throughput(tmp.dir, durationS, log, problems);
    const lat = await push(rounds, log, problems);

    const best = (list: Throughput[]) => list.reduce((a, b) => (b.wrk.rps > a.wrk.rps ? b : a));
    const pub = best(tp.runs.publish);
    const snd = best(tp.runs.send);
    const steps: Array<[string, CpuReport]> = [...tp.runs.publish.map((r) => ['publish', r.cpu] as [string, CpuReport]), ...tp.runs.send.map((r) => ['send', r.cpu] as [string, CpuReport]), ['push', lat.inbox.cpu]];
    for (const [name, cpu] of steps) if (cpu.others.cores > CONTAMINATED_CORES) warnings.push(`${name}: other processes used ${cpu.others.cores} cores (shared machine)`);
    const loadgen = lat.inbox.cpu.loadgen.cores + Object.entries(lat.inbox.cpu.procs).filter(([k]) => k.startsWith('sub')).reduce((a, [, p]) => a + p.cores, 0);
    const sendRatio = ratio(snd.wrk.rps, pub.wrk.rps);
    const p50Ratio = ratio(lat.inbox.latency_ms.p50 ?? 0, lat.events.latency_ms.p50 ?? 0);
    const p99Ratio = ratio(lat.inbox.latency_ms.p99 ?? 0, lat.events.latency_ms.p99 ?? 0);
    const perReq = (w: Wrk) => `${w.main_us ?? '-'} + ${w.other_us ?? '-'}`;
    const tables: BenchTable[] = [
      {
        title: `Durable sends vs durable publishes, same server and run (--sync full; wrk on core 1, ${CONNECTIONS} connections, ${SENDERS} agents in turn; best of 2 × ${durationS} s each)`,
        columns: ['scenario', 'ops/s', 'vs publish', 'p50 ms', 'p99 ms', 'server µs/op main + other'],
        rows: [
          ['publish (baseline)', fmtInt(pub.wrk.rps), '1.00x', fmtMs(pub.wrk.p50_ms), fmtMs(pub.wrk.p99_ms), perReq(pub.wrk)],
          ['message send (agent → agent)', fmtInt(snd.wrk.rps), fmtRatio(sendRatio), fmtMs(snd.wrk.p50_ms), fmtMs(snd.wrk.p99_ms), perReq(snd.wrk)],
        ],
      },
      {
        title: `Send-to-push latency, ${RECIPIENTS} connected recipients (${lat.inbox.sends} messages to * and ${lat.events.sends} publishes, alternating, one every ${PUSH_INTERVAL_MS} ms)`,
        columns: ['scenario', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'p50 vs fan-out', 'p99 vs fan-out', 'reply p50 ms', 'frames'],
        rows: [
          ['event fan-out (baseline)', fmtMs(lat.events.latency_ms.p50), fmtMs(lat.events.latency_ms.p90), fmtMs(lat.events.latency_ms.p99), fmtMs(lat.events.latency_ms.max), '1.00x', '1.00x', fmtMs(lat.events.ack_ms.p50), `${fmtInt(lat.events.frames)}`],
          ['inbox push', fmtMs(lat.inbox.latency_ms.p50), fmtMs(lat.inbox.latency_ms.p90), fmtMs(lat.inbox.latency_ms.p99), fmtMs(lat.inbox.latency_ms.max), fmtRatio(p50Ratio), fmtRatio(p99Ratio), fmtMs(lat.inbox.ack_ms.p50), `${fmtInt(lat.inbox.frames)}`],
        ],
      },
    ];
    const serverCores = lat.inbox.cpu.procs.server?.cores ?? null;
    return {
      ok: problems.length === 0,
      problems,
      send_vs_publish: sendRatio,
      push_p50_vs_fanout: p50Ratio,
      push_p99_vs_fanout: p99Ratio,
      throughput: {
        publish: tp.runs.publish.map((r) => ({ ...r.wrk, server_cores: r.cpu.procs.server?.cores ?? null, other_cores: r.cpu.others.cores })),
        send: tp.runs.send.map((r) => ({ ...r.wrk, server_cores: r.cpu.procs.server?.cores ?? null, other_cores: r.cpu.others.cores })),
        last_message_id: tp.last_message_id,
        acknowledged_in_measured_runs: tp.acknowledged_in_measured_runs,
      },
      push: {
        interval_ms: PUSH_INTERVAL_MS,
        recipients: RECIPIENTS,
        inbox: { latency_ms: lat.inbox.latency_ms, reply_ms: lat.inbox.ack_ms, sends: lat.inbox.sends, frames: lat.inbox.frames, missing: lat.inbox.missing },
        events: { latency_ms: lat.events.latency_ms, reply_ms: lat.events.ack_ms, sends: lat.events.sends, frames: lat.events.frames, missing: lat.events.missing },
        server_cores: serverCores,
        loadgen_cores: Math.round(loadgen * 1000) / 1000,
        other_cores: lat.inbox.cpu.others.cores,
      },
      tables,
      notes: [
        `send/publish ${fmtRatio(sendRatio)}; push p50 ${fmtRatio(p50Ratio)} and p99 ${fmtRatio(p99Ratio)} of event fan-out. Compare the ratios: the absolute figures are this machine's.`,
        `push step: server ${fmtCores(serverCores)} cores, load (this process and the subscriber processes, core 1) ${fmtCores(loadgen)} cores — well under 1: the generator is not the limit.`,
        ...problems,
      ],
      warnings,
    };
  } finally {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', `0-${os.availableParallelism() - 1}`, String(process.pid)], { stdio: 'ignore', timeout: 2000 });
    } catch {
      // Left on core 1: harmless for the runner's own work.
    }
    tmp.remove();
  }
}
