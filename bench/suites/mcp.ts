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
 * The token counts, the typical replies and the profile are in bench/mcp/.
 *
 *   npm run bench -- mcp [--quick]
 *   KOOR_BENCH_CPU_PROF=/tmp/prof npm run bench -- mcp --quick
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ENDPOINTS } from '../../src/mcp/tools.js';
import { withTimeout } from '../lib/async.js';
import { cpuWindow } from '../lib/cpu.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { spawnKoor } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { profileMcp } from '../mcp/profile.js';
import { rest, textOf, typicalReplies, type CallResult } from '../mcp/replies.js';
import { columnCost, memberCost, paletteCost, tokens, type Tool } from '../mcp/tokens.js';

const PALETTE_GOAL = 350;
const REPLY_GOAL = 200;
/** The original's palette as its seed documents publish it (~750 tokens). */
const ORIGINAL_PALETTE = 750;
const CONTAMINATED_CORES = 0.25;
/** MCP calls per session in a CPU block (see connect(): undici's listeners on the shared signal). */
const MCP_SESSION_CALLS = 1200;

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
    const { replies, ids } = await typicalReplies(koor.url, call, failures, opts.log);

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
    const profDir = process.env.KOOR_BENCH_CPU_PROF;
    const profile = profDir ? await profileMcp(profDir, opts.quick ? 1000 : 3000, MCP_SESSION_CALLS, (m) => warningsExtra.push(m), opts.log) : null;

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
