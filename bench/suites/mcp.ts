/**
 * MCP benchmark: what the control plane costs a model in tokens, and what an MCP round trip
 * costs in time next to the equivalent REST call, against one spawned koor-server.
 *
 *   palette    the tools/list result (the `tools` array as compact JSON, what a client hands the
 *              model) in o200k_base tokens (js-tiktoken), per tool, and by ablation: what the
 *              tool descriptions, the parameter descriptions and the schemas cost; next to the
 *              ~750 tokens published for the original's palette
 *   replies    each tool's typical reply text (register_instance, discover_instances with 3
 *              instances of one workspace, set_intent, get_endpoints, propose_rule) in tokens, and
 *              what the same reply costs in the original's format (2-space pretty JSON, full
 *              instance summaries, all 16 endpoints with message and cli.usage)
 *   latency    N sequential calls, MCP and REST alternating (so drift hits both alike):
 *                discover_instances   vs GET  /api/instances
 *                set_intent           vs POST /api/instances/{id}/heartbeat   (both a durable write)
 *                get_endpoints        vs GET  /api/state/{key}                 (cheapest round trips)
 *              p50/p99 and the ratio, plus server CPU per call from separate blocks.
 *   profile    only with KOOR_BENCH_CPU_PROF=<dir>: a second koor-server under `node --cpu-prof`
 *              serves MCP calls only; its main thread's self time is summed by component (SDK
 *              transport, SDK protocol, zod, web streams/Request/Response, uWS glue, GC, …).
 * The MCP side is the SDK's own Client + StreamableHTTPClientTransport; REST is fetch (the same
 * undici the transport uses), keep-alive, in this process.
 * Budgets (enforced by test/mcp/tokens.test.ts): palette <= 350 tokens, each reply <= 200.
 *
 *   npm run bench -- mcp [--quick]
 *   KOOR_BENCH_CPU_PROF=/tmp/prof npm run bench -- mcp --quick
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import { ENDPOINTS } from '../../src/mcp/tools.js';
import { withTimeout } from '../lib/async.js';
import { cpuWindow } from '../lib/cpu.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { spawnKoor } from '../lib/processes.js';
import { KOOR_MAIN_JS, type BenchOptions, type BenchTable } from '../lib/suite.js';

const PALETTE_GOAL = 350;
const REPLY_GOAL = 200;
/** The original's palette as its seed documents publish it (~750 tokens). */
const ORIGINAL_PALETTE = 750;
/** get_endpoints' message and cli.usage before Koor's replies were made compact (the original's wording, our CLI). */
const ORIGINAL_ENDPOINTS_EXTRA = {
  usage: 'koor-cli --help',
  message: 'Use REST or koor-cli for all data (0 tokens); MCP only for discovery and proposals. Activate first: koor-cli activate <instance-id>',
};
const CONTAMINATED_CORES = 0.25;
/** MCP calls per session in a CPU block (see connect(): undici's listeners on the shared signal). */
const MCP_SESSION_CALLS = 1200;

const enc = new Tiktoken(o200k_base);
const tokens = (s: string): number => enc.encode(s).length;

interface Tool {
  name: string;
  description?: string;
  inputSchema: { type: string; properties?: Record<string, { type?: string; description?: string }>; required?: string[] };
}

interface CallResult {
  content: Array<{ type: string; text?: string }>;
  isError?: boolean;
}

const textOf = (r: CallResult): string => r.content.map((c) => c.text ?? '').join('');

async function rest(url: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text() };
}

/** Token cost of the palette and what each part contributes (by leaving it out). */
function paletteCost(tools: Tool[]) {
  const json = (ts: unknown) => JSON.stringify(ts);
  const total = tokens(json(tools));
  const noToolDesc = tokens(json(tools.map((t) => ({ ...t, description: '' }))));
  const noParamDesc = tokens(
    json(
      tools.map((t) => ({
        ...t,
        inputSchema: { ...t.inputSchema, properties: Object.fromEntries(Object.entries(t.inputSchema.properties ?? {}).map(([k, v]) => [k, { type: v.type }])) },
      })),
    ),
  );
  const noSchema = tokens(json(tools.map((t) => ({ ...t, inputSchema: {} }))));
  const perTool = tools.map((t) => {
    const props = Object.entries(t.inputSchema.properties ?? {});
    return {
      name: t.name,
      tokens: tokens(json(t)),
      bytes: Buffer.byteLength(json(t)),
      description_tokens: tokens(t.description ?? ''),
      schema_tokens: tokens(json(t.inputSchema)),
      params: props.length,
      param_description_tokens: props.reduce((a, [, v]) => a + (v.description ? tokens(v.description) : 0), 0),
    };
  });
  return {
    total_tokens: total,
    bytes: Buffer.byteLength(json(tools)),
    pretty_tokens: tokens(JSON.stringify(tools, null, 2)),
    tool_descriptions_tokens: total - noToolDesc,
    param_descriptions_tokens: total - noParamDesc,
    schemas_tokens: total - noSchema,
    /** Names, empty schemas and JSON framing: what is left with no descriptions and no schemas. */
    bare_tokens: tokens(json(tools.map((t) => ({ name: t.name, description: '', inputSchema: {} })))),
    per_tool: perTool,
  };
}

/** What each top-level member of a reply costs (tokens with it minus without it), largest first. */
function memberCost(value: Record<string, unknown>): Array<[string, number]> {
  const full = tokens(JSON.stringify(value));
  return Object.keys(value)
    .map((k): [string, number] => {
      const rest = { ...value };
      delete rest[k];
      return [k, full - tokens(JSON.stringify(rest))];
    })
    .sort((a, b) => b[1] - a[1]);
}

/** discover_instances is a table: what each column costs over all rows (header name included). */
function columnCost(value: { columns: string[]; instances: unknown[][] }): Array<[string, number]> {
  const full = tokens(JSON.stringify(value));
  return value.columns
    .map((c, i): [string, number] => {
      const drop = <T>(xs: T[]) => xs.filter((_, j) => j !== i);
      return [`column ${c}`, full - tokens(JSON.stringify({ ...value, columns: drop(value.columns), instances: value.instances.map(drop) }))];
    })
    .sort((a, b) => b[1] - a[1]);
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/** The component a script URL belongs to, or null for node internals and natives (they count for their caller). */
function component(url: string): string | null {
  if (url.includes('/node_modules/zod/')) return 'zod (SDK validates every JSON-RPC message)';
  if (url.includes('/@modelcontextprotocol/sdk/') && url.includes('webStandardStreamableHttp')) return 'SDK web-standard Streamable HTTP transport';
  if (url.includes('/@modelcontextprotocol/sdk/')) return 'SDK protocol + server';
  if (url.startsWith('node:internal/webstreams') || url === 'node:internal/worker/js_transferable') return 'web streams (ReadableStream, makeTransferable)';
  if (url.startsWith('node:internal/deps/undici')) return 'undici (Request, Response, Headers)';
  if (url.includes('/dist/src/mcp/')) return 'koor MCP glue (bridge, gateway, tools)';
  if (url.includes('/dist/src/')) return 'koor http/domains';
  if (url.includes('uWebSockets') || url.includes('uws')) return 'uWS (JS side)';
  if (url.startsWith('file:') || url.startsWith('/')) return `other (${path.basename(url)})`;
  return null;
}

/**
 * Self time of the profile's thread by component, ms: a sample in a node internal or a native
 * (JSON.parse, TextDecoder, AbortSignal…) counts for the nearest caller that has a component.
 * Only the stretch between the first and the last sample inside koor's MCP code counts, so
 * start-up (module loading, compiling) and shutdown are left out; `(idle)` there is time spent
 * waiting for the client.
 */
function selfTimeByComponent(prof: CpuProfile): Map<string, number> {
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, { comp: string; inMcp: boolean }>();
  const classify = (id: number): { comp: string; inMcp: boolean } => {
    const hit = memo.get(id);
    if (hit) return hit;
    const n = nodes.get(id)!;
    const fn = n.callFrame.functionName;
    const own = component(n.callFrame.url);
    const up = parent.has(id) ? classify(parent.get(id)!) : { comp: 'node internals/natives (no JS caller)', inMcp: false };
    let comp = own ?? up.comp;
    if (fn === '(idle)' || fn === '(garbage collector)' || fn === '(program)') comp = fn === '(garbage collector)' ? 'GC' : fn;
    const r = { comp, inMcp: up.inMcp || own === 'koor MCP glue (bridge, gateway, tools)' };
    memo.set(id, r);
    return r;
  };
  let first = -1;
  let last = -1;
  prof.samples.forEach((id, i) => {
    if (!classify(id).inMcp) return;
    if (first < 0) first = i;
    last = i;
  });
  const out = new Map<string, number>();
  for (let i = Math.max(first, 0); i <= last; i++) {
    const c = classify(prof.samples[i]!).comp;
    out.set(c, (out.get(c) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
  }
  return out;
}

/**
 * koor-server under `node --cpu-prof` (Node 20 refuses it in NODE_OPTIONS, so not via spawnKoor):
 * on 127.0.0.1:0 with a temp data dir; stop() ends it with SIGTERM so the profile is written.
 */
async function spawnProfiledKoor(profDir: string): Promise<{ pid: number; url: string; stop: () => Promise<void> }> {
  const dataDir = fs.mkdtempSync(path.join(process.env.KOOR_BENCH_TMP || os.tmpdir(), 'koor-bench-prof-'));
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profDir)}`, KOOR_MAIN_JS, '--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', dataDir], {
    // Like spawnKoor: no KOOR_* settings from the caller's environment.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KOOR_'))),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Not in bench/lib/cleanup.ts's registry: never outlive the bench (Ctrl-C ends run.ts with exit()).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  let err = '';
  try {
    const url = await withTimeout(
      new Promise<string>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => {
          err = (err + d.toString()).slice(-8000);
          const m = /"api":"127\.0\.0\.1:(\d+)"/.exec(err);
          if (m) resolve(`http://127.0.0.1:${m[1]}`);
        });
        child.once('exit', (code) => reject(new Error(`profiled koor-server exited ${code}: ${err}`)));
      }),
      20_000,
      'profiled koor-server start',
    );
    return { pid: child.pid!, url, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

interface Pair {
  id: string;
  mcp: string;
  rest: string;
  callMcp: () => Promise<void>;
  callRest: () => Promise<void>;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const n = opts.quick ? 50 : 200;
  const warm = opts.quick ? 10 : 30;
  const cpuBlockMs = opts.quick ? 1000 : 3000;
  const failures: string[] = [];
  const noise: string[] = [];
  const warningsExtra: string[] = [];
  const notes: string[] = [];

  opts.log('starting koor-server');
  const koor = await spawnKoor();
  /**
   * The current MCP session. Each transport's fetches share one AbortSignal that undici only
   * releases its per-request listener from at GC (MaxListenersExceededWarning past ~1500 calls,
   * and a growing listener list), so the latency loops and CPU blocks each get a fresh session.
   */
  let session: { client: Client; transport: StreamableHTTPClientTransport } | null = null;
  const closeSession = async () => {
    const old = session;
    session = null;
    await old?.transport.terminateSession().catch(() => {});
    await old?.client.close().catch(() => {});
  };
  const connect = async (): Promise<number> => {
    await closeSession();
    const t0 = performance.now();
    const client = new Client({ name: 'koor-bench', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${koor.url}/mcp`));
    await withTimeout(client.connect(transport), 10_000, 'MCP initialize');
    session = { client, transport };
    return performance.now() - t0;
  };
  try {
    const connectMs = await connect();
    const call = async (name: string, args: Record<string, string>): Promise<CallResult> => {
      const r = (await session!.client.callTool({ name, arguments: args })) as CallResult;
      if (r.isError) failures.push(`${name} → isError: ${textOf(r)}`);
      return r;
    };

    // --- Palette
    const { tools } = (await session!.client.listTools()) as { tools: Tool[] };
    const palette = paletteCost(tools);
    if (tools.length !== 5) failures.push(`tools/list has ${tools.length} tools, want 5`);
    opts.log(`palette: ${palette.total_tokens} tokens (${palette.bytes} bytes) for ${tools.length} tools`);

    // --- Typical replies (a fresh server: these are the first instances)
    const replies: Array<{ tool: string; args: Record<string, string>; text: string; tokens: number; bytes: number; original_tokens: number }> = [];
    /** The same reply as the original would send it: 2-space pretty JSON of `value`. */
    const record = (tool: string, args: Record<string, string>, r: CallResult, original: (v: Record<string, unknown>) => unknown = (v) => v) => {
      const text = textOf(r);
      let originalText = text;
      try {
        originalText = JSON.stringify(original(JSON.parse(text) as Record<string, unknown>), null, 2);
      } catch {
        /* not JSON */
      }
      replies.push({ tool, args, text, tokens: tokens(text), bytes: Buffer.byteLength(text), original_tokens: tokens(originalText) });
    };
    const agents = [
      { name: 'claude-frontend', workspace: 'koor', intent: 'Wire the dashboard state panel to /api/state', stack: 'react', capabilities: 'frontend,testing' },
      { name: 'claude-backend', workspace: 'koor', intent: 'Add compare-and-set to PUT /api/state', stack: 'node', capabilities: 'backend,sqlite' },
      { name: 'codex-docs', workspace: 'koor', intent: 'Document the MCP tools', stack: 'markdown', capabilities: 'docs' },
    ];
    const ids: string[] = [];
    for (const [i, a] of agents.entries()) {
      const r = await call('register_instance', a);
      ids.push((JSON.parse(textOf(r)) as { instance_id: string }).instance_id);
      if (i === 0) record('register_instance', a, r);
    }
    for (const id of ids) {
      const act = await rest(`${koor.url}/api/instances/${id}/activate`, { method: 'POST' });
      if (act.status !== 200) failures.push(`activate ${id} → ${act.status}`);
    }
    // The original lists full summaries (registered_at, RFC 3339 times) as objects: what REST returns.
    const summaries = JSON.parse((await rest(`${koor.url}/api/instances`)).body) as unknown[];
    record('discover_instances', {}, await call('discover_instances', {}), () => ({ count: summaries.length, instances: summaries }));
    const intentArgs = { instance_id: ids[0]!, intent: 'Review the dashboard state panel PR' };
    record('set_intent', intentArgs, await call('set_intent', intentArgs));
    record('get_endpoints', {}, await call('get_endpoints', {}), (v) => ({
      ...v,
      endpoints: ENDPOINTS,
      cli: { ...(v.cli as object), usage: ORIGINAL_ENDPOINTS_EXTRA.usage },
      message: ORIGINAL_ENDPOINTS_EXTRA.message,
    }));
    const ruleArgs = {
      project: 'koor',
      rule_id: 'no-inline-style',
      pattern: 'style=\\{\\{',
      message: 'Use CSS modules, not inline styles',
      severity: 'warning',
      match_type: 'regex',
      stack: 'react',
      proposed_by: ids[0]!,
      context: 'Inline styles broke the dark theme in PR 42',
    };
    record('propose_rule', ruleArgs, await call('propose_rule', ruleArgs));
    for (const r of replies) opts.log(`reply ${r.tool}: ${r.tokens} tokens (${r.original_tokens} in the original's format), ${r.bytes} bytes`);

    // --- Latency: MCP vs REST
    const stateKey = 'bench/mcp/doc';
    const put = await rest(`${koor.url}/api/state/${stateKey}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ owner: 'claude-frontend', task: 'dashboard' }) });
    if (put.status !== 200) failures.push(`PUT state → ${put.status}`);
    const expect = (what: string, r: { status: number }) => {
      if (r.status !== 200) failures.push(`${what} → ${r.status}`);
    };
    let intentN = 0;
    const pairs: Pair[] = [
      {
        id: 'discover',
        mcp: 'discover_instances',
        rest: 'GET /api/instances',
        callMcp: async () => void (await call('discover_instances', {})),
        callRest: async () => expect('GET /api/instances', await rest(`${koor.url}/api/instances`)),
      },
      {
        id: 'write',
        mcp: 'set_intent',
        rest: 'POST /api/instances/{id}/heartbeat',
        callMcp: async () => void (await call('set_intent', { instance_id: ids[1]!, intent: `step ${++intentN}` })),
        callRest: async () => expect('heartbeat', await rest(`${koor.url}/api/instances/${ids[1]}/heartbeat`, { method: 'POST' })),
      },
      {
        id: 'cheapest',
        mcp: 'get_endpoints',
        rest: 'GET /api/state/{key}',
        callMcp: async () => void (await call('get_endpoints', {})),
        callRest: async () => expect('GET state', await rest(`${koor.url}/api/state/${stateKey}`)),
      },
    ];

    const latency: Array<{
      id: string;
      mcp: string;
      rest: string;
      mcp_ms: LatencySummary;
      rest_ms: LatencySummary;
      p50_ratio: number | null;
      p99_ratio: number | null;
      server_us_per_call: { mcp: number | null; rest: number | null };
      client_us_per_call: { mcp: number | null; rest: number | null };
      http_requests_per_mcp_call: number | null;
      cpu_block_calls: { mcp: number; rest: number };
      other_cores: number;
    }> = [];
    for (const p of pairs) {
      await connect();
      for (let i = 0; i < warm; i++) {
        await p.callMcp();
        await p.callRest();
      }
      const hm = new LatencyHistogram();
      const hr = new LatencyHistogram();
      const stop = cpuWindow({ koor: koor.pid });
      for (let i = 0; i < n; i++) {
        let s = performance.now();
        await p.callMcp();
        hm.record(performance.now() - s);
        s = performance.now();
        await p.callRest();
        hr.record(performance.now() - s);
      }
      const cpuAll = stop();
      // CPU per call: one block each (the alternating loop above cannot split it).
      // Time-bounded so the 10 ms CPU clock tick is small against the block's CPU time.
      const block = async (fn: () => Promise<void>, maxCalls: number) => {
        const m0 = (await (await fetch(`${koor.url}/api/metrics`)).json()) as { token_tax: { mcp_calls: number } };
        const w = cpuWindow({ koor: koor.pid });
        const end = performance.now() + cpuBlockMs;
        let calls = 0;
        while (performance.now() < end && calls < maxCalls) {
          await fn();
          calls++;
        }
        const cpu = w();
        const m1 = (await (await fetch(`${koor.url}/api/metrics`)).json()) as { token_tax: { mcp_calls: number } };
        return {
          calls,
          server: Math.round(((cpu.procs.koor?.cpu_s ?? 0) / calls) * 1e6),
          client: Math.round((cpu.loadgen.cpu_s / calls) * 1e6),
          mcpHttp: Math.round(((m1.token_tax.mcp_calls - m0.token_tax.mcp_calls) / calls) * 100) / 100,
          others: cpu.others.cores,
        };
      };
      await connect();
      for (let i = 0; i < warm; i++) await p.callMcp();
      const bm = await block(p.callMcp, MCP_SESSION_CALLS);
      const br = await block(p.callRest, 100_000);
      const mcp_ms = hm.summary();
      const rest_ms = hr.summary();
      latency.push({
        id: p.id,
        mcp: p.mcp,
        rest: p.rest,
        mcp_ms,
        rest_ms,
        p50_ratio: ratio(mcp_ms.p50 ?? 0, rest_ms.p50 ?? 0),
        p99_ratio: ratio(mcp_ms.p99 ?? 0, rest_ms.p99 ?? 0),
        server_us_per_call: { mcp: bm.server, rest: br.server },
        client_us_per_call: { mcp: bm.client, rest: br.client },
        http_requests_per_mcp_call: bm.mcpHttp,
        cpu_block_calls: { mcp: bm.calls, rest: br.calls },
        other_cores: cpuAll.others.cores,
      });
      if (cpuAll.others.cores > CONTAMINATED_CORES) {
        const top = cpuAll.others.top.filter((o) => !o.kernel).slice(0, 3).map((o) => `${o.comm}[${o.pid}] ${fmtCores(o.cores)}`).join(', ');
        noise.push(`${p.id}: other processes used ${fmtCores(cpuAll.others.cores)} cores during the latency loop (${top})`);
      }
      opts.log(`${p.mcp} p50 ${fmtMs(mcp_ms.p50)} ms vs ${p.rest} p50 ${fmtMs(rest_ms.p50)} ms; server CPU/call ${bm.server} vs ${br.server} us`);
    }

    // --- Profile (opt-in): a second server under --cpu-prof serving MCP calls only
    let profile: { calls: number; busy_ms: number; us_per_call: number; components: Array<{ component: string; ms: number; share: number; us_per_call: number }> } | null = null;
    const profDir = process.env.KOOR_BENCH_CPU_PROF;
    if (profDir) {
      fs.mkdirSync(profDir, { recursive: true });
      const prof = await spawnProfiledKoor(profDir);
      const calls = opts.quick ? 1000 : 3000;
      try {
        // Sessions of at most MCP_SESSION_CALLS calls, like the CPU blocks (see connect()).
        for (let done = 0; done < calls; ) {
          const client = new Client({ name: 'koor-bench-prof', version: '1.0.0' });
          const transport = new StreamableHTTPClientTransport(new URL(`${prof.url}/mcp`));
          await withTimeout(client.connect(transport), 10_000, 'MCP initialize (profiled server)');
          for (const end = Math.min(calls, done + MCP_SESSION_CALLS); done < end; done++) await client.callTool({ name: 'get_endpoints', arguments: {} });
          await transport.terminateSession().catch(() => {});
          await client.close();
        }
      } finally {
        await prof.stop();
      }
      // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main (uWS) thread.
      const main = fs.readdirSync(profDir).filter((f) => f.includes(`.${prof.pid}.0.`) && f.endsWith('.cpuprofile'));
      if (main.length !== 1) warningsExtra.push(`profile: expected one main-thread profile of pid ${prof.pid} in ${profDir}, found ${main.length}`);
      else {
        const byComponent = selfTimeByComponent(JSON.parse(fs.readFileSync(path.join(profDir, main[0]!), 'utf8')) as CpuProfile);
        byComponent.delete('(idle)');
        const busy = [...byComponent.values()].reduce((a, b) => a + b, 0);
        profile = {
          calls,
          busy_ms: Math.round(busy),
          us_per_call: Math.round((busy / calls) * 1000),
          components: [...byComponent.entries()]
            .sort((a, b) => b[1] - a[1])
            .map(([component, ms]) => ({ component, ms: Math.round(ms), share: Math.round((ms / busy) * 1000) / 10, us_per_call: Math.round((ms / calls) * 1000) })),
        };
        opts.log(`profile: ${path.join(profDir, main[0]!)} (${calls} get_endpoints calls, ${profile.us_per_call} us busy per call, profiler overhead included)`);
      }
    }

    // --- Findings
    const overPalette = palette.total_tokens - PALETTE_GOAL;
    if (overPalette > 0) {
      const parts = [
        ['tool descriptions', palette.tool_descriptions_tokens],
        ['parameter descriptions', palette.param_descriptions_tokens],
        ['schemas (incl. parameter descriptions)', palette.schemas_tokens],
      ] as const;
      notes.push(`palette exceeds the goal by ${overPalette} tokens; ${parts.map(([k, v]) => `${k} ${v}`).join(', ')}.`);
    }
    const costs: Record<string, Array<[string, number]>> = {};
    for (const r of replies) {
      try {
        const v = JSON.parse(r.text) as Record<string, unknown>;
        costs[r.tool] = r.tool === 'discover_instances' ? [...columnCost(v as { columns: string[]; instances: unknown[][] }), ...memberCost(v)] : memberCost(v);
      } catch {
        /* not JSON */
      }
      if (r.tokens > REPLY_GOAL && costs[r.tool]) {
        notes.push(`${r.tool} reply is ${r.tokens} tokens, ${r.tokens - REPLY_GOAL} over the goal; costliest parts: ${costs[r.tool]!.slice(0, 5).map(([k, v]) => `${k} ${v}`).join(', ')} tokens.`);
      }
    }
    const ep = replies.find((r) => r.tool === 'get_endpoints');
    if (ep) {
      const v = JSON.parse(ep.text) as { api_base: string; endpoints: Record<string, string> };
      if (/:0\/|:0$/.test(v.api_base)) {
        notes.push(`get_endpoints api_base is "${v.api_base}" (the --bind text verbatim) while the server listens on ${koor.url}: with an ephemeral port the agent is told an unusable address.`);
      }
      const missing = Object.keys(ENDPOINTS).filter((k) => !(k in v.endpoints));
      const all16 = tokens(JSON.stringify({ ...v, endpoints: ENDPOINTS }));
      notes.push(
        `get_endpoints: the endpoints map (${Object.keys(v.endpoints).length} routes mounted) costs ${tokens(JSON.stringify(v.endpoints))} of its ${ep.tokens} tokens` +
          (missing.length ? `; not advertised because not mounted: ${missing.join(', ')}. With all 16 the reply would be ${all16} tokens${all16 > REPLY_GOAL ? ` (over the ${REPLY_GOAL} budget: the contract's 16 names in "<METHOD> <path>" form do not fit with api_base and cli)` : ''}.` : '.'),
      );
    }
    const disc = replies.find((r) => r.tool === 'discover_instances');
    if (disc) {
      const v = JSON.parse(disc.text) as { instances: unknown[] };
      const per = v.instances.length ? Math.round((disc.tokens - tokens(JSON.stringify({ ...v, instances: [] }))) / v.instances.length) : 0;
      notes.push(
        `discover_instances: ~${per} tokens per listed instance (its id alone ~25), so ~${Math.floor((REPLY_GOAL - (disc.tokens - per * v.instances.length)) / Math.max(1, per))} instances fit in ${REPLY_GOAL} tokens; the original's objects with RFC 3339 times took ${disc.original_tokens} tokens for these 3.`,
      );
    }
    notes.push(
      `tokens: o200k_base (js-tiktoken) of the tools array as compact JSON (pretty: ${palette.pretty_tokens}); reply tokens are the text item the model reads. Ids and tokens are random UUIDs (18-34 tokens each), so replies carrying them vary by a few tokens per run. MCP initialize (client connect) took ${fmtMs(connectMs)} ms.`,
    );
    notes.push('Latency: one client in this process, sequential calls, MCP and REST alternating; server/client us/call from separate time-bounded blocks of one kind of call each (CPU of the koor process / of this process, per call).');

    const goalsMet = { palette: palette.total_tokens <= PALETTE_GOAL, replies: replies.every((r) => r.tokens <= REPLY_GOAL) };
    const tables: BenchTable[] = [
      {
        title: `MCP palette (tools/list → tools as compact JSON, o200k_base): ${palette.total_tokens} tokens, ${fmtInt(palette.bytes)} bytes; budget <= ${PALETTE_GOAL}; the original's published palette ~${ORIGINAL_PALETTE} (${Math.round((palette.total_tokens / ORIGINAL_PALETTE) * 100)}% of it)`,
        columns: ['tool', 'tokens', 'bytes', 'description tok', 'schema tok', 'params', 'param desc tok'],
        rows: [
          ...palette.per_tool.map((t) => [t.name, t.tokens, t.bytes, t.description_tokens, t.schema_tokens, t.params, t.param_description_tokens]),
          ['(whole array)', palette.total_tokens, palette.bytes, `${palette.tool_descriptions_tokens} (ablation)`, `${palette.schemas_tokens} (ablation)`, palette.per_tool.reduce((a, t) => a + t.params, 0), `${palette.param_descriptions_tokens} (ablation)`],
          [`original (published)`, `~${ORIGINAL_PALETTE}`, '', '', '', '', ''],
        ],
      },
      {
        title: `Typical replies (text item as sent, compact JSON); budget <= ${REPLY_GOAL} tokens each; "original format" = the same reply pretty-printed with the original's members`,
        columns: ['tool', 'tokens', 'original format', 'saved', 'bytes', 'met'],
        rows: replies.map((r) => [
          r.tool + (r.tool === 'discover_instances' ? ' (3 instances)' : ''),
          r.tokens,
          r.original_tokens,
          `${Math.round((1 - r.tokens / r.original_tokens) * 100)}%`,
          r.bytes,
          r.tokens <= REPLY_GOAL ? 'yes' : 'NO',
        ]),
      },
      {
        title: `Latency: ${n} sequential calls each, MCP (SDK Client, Streamable HTTP) and REST (fetch) alternating, after ${warm} warm-up pairs${opts.quick ? ' (quick)' : ''}`,
        columns: ['MCP tool', 'p50 ms', 'p99 ms', 'REST call', 'p50 ms', 'p99 ms', 'MCP/REST p50', 'p99', 'srv us/call MCP', 'REST', 'client us/call MCP', 'REST', 'other cores'],
        rows: latency.map((l) => [
          l.mcp,
          fmtMs(l.mcp_ms.p50),
          fmtMs(l.mcp_ms.p99),
          l.rest,
          fmtMs(l.rest_ms.p50),
          fmtMs(l.rest_ms.p99),
          fmtRatio(l.p50_ratio),
          fmtRatio(l.p99_ratio),
          l.server_us_per_call.mcp ?? '-',
          l.server_us_per_call.rest ?? '-',
          l.client_us_per_call.mcp ?? '-',
          l.client_us_per_call.rest ?? '-',
          fmtCores(l.other_cores),
        ]),
      },
      ...(profile
        ? [
            {
              title: `Where an MCP call's server CPU goes: main-thread self time under --cpu-prof, ${profile.calls} get_endpoints calls, ${profile.us_per_call} us/call busy (the profiler adds overhead)`,
              columns: ['component', 'ms', 'share %', 'us/call'],
              rows: profile.components.filter((c) => c.share >= 0.5).map((c) => [c.component, c.ms, c.share, c.us_per_call]),
            },
          ]
        : []),
      {
        title: 'Goals',
        columns: ['goal', 'target', 'measured', 'met'],
        rows: [
          ['palette tokens', `<= ${PALETTE_GOAL}`, `${palette.total_tokens} (original ~${ORIGINAL_PALETTE})`, goalsMet.palette ? 'yes' : 'NO'],
          ['largest reply tokens', `<= ${REPLY_GOAL}`, `${Math.max(...replies.map((r) => r.tokens))} (${replies.reduce((a, r) => (r.tokens > a.tokens ? r : a)).tool})`, goalsMet.replies ? 'yes' : 'NO'],
        ],
      },
    ];

    return {
      suite: 'mcp',
      ok: failures.length === 0,
      config: { calls: n, warmup_pairs: warm, tokenizer: 'js-tiktoken o200k_base', client: '@modelcontextprotocol/sdk Client + StreamableHTTPClientTransport' },
      server: { pid: koor.pid, data_dir: koor.dataDir },
      connect_ms: Math.round(connectMs * 10) / 10,
      palette,
      tools,
      replies,
      reply_member_tokens: costs,
      latency,
      profile,
      goals: {
        palette_tokens: { target: PALETTE_GOAL, value: palette.total_tokens, met: goalsMet.palette },
        reply_tokens: { target: REPLY_GOAL, value: Object.fromEntries(replies.map((r) => [r.tool, r.tokens])), met: goalsMet.replies },
      },
      notes,
      warnings: [...failures, ...noise, ...warningsExtra],
      failures,
      tables,
    };
  } catch (e) {
    opts.log(`koor-server output (tail):\n${koor.output().slice(-4000)}`);
    throw e;
  } finally {
    await closeSession();
    await koor.stop();
  }
}
