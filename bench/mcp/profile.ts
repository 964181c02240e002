/**
 * Where an MCP call's server CPU goes: a second koor-server under `node --cpu-prof` serves
 * get_endpoints calls only, and its main thread's self time is summed by component (SDK
 * transport, SDK protocol, zod, web streams/Request/Response, uWS glue, GC, …).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withTimeout } from '../lib/async.js';
import { KOOR_MAIN_JS } from '../lib/suite.js';

/** The profile's figures: busy time per call, and by component. */
export interface McpProfile {
  calls: number;
  busy_ms: number;
  us_per_call: number;
  components: Array<{ component: string; ms: number; share: number; us_per_call: number }>;
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

/**
 * `calls` get_endpoints calls (in sessions of at most `sessionCalls`) to a koor-server profiled
 * into `profDir`, and its main thread's busy time by component; null (and a warning) when its
 * profile is not found.
 */
export async function profileMcp(profDir: string, calls: number, sessionCalls: number, warn: (m: string) => void, log: (m: string) => void): Promise<McpProfile | null> {
  fs.mkdirSync(profDir, { recursive: true });
  const prof = await spawnProfiledKoor(profDir);
  try {
    // Sessions of at most sessionCalls calls, like the suite's CPU blocks (undici's listeners on a session's shared signal).
    for (let done = 0; done < calls; ) {
      const client = new Client({ name: 'koor-bench-prof', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`${prof.url}/mcp`));
      await withTimeout(client.connect(transport), 10_000, 'MCP initialize (profiled server)');
      for (const end = Math.min(calls, done + sessionCalls); done < end; done++) await client.callTool({ name: 'get_endpoints', arguments: {} });
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  } finally {
    await prof.stop();
  }
  // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main (uWS) thread.
  const main = fs.readdirSync(profDir).filter((f) => f.includes(`.${prof.pid}.0.`) && f.endsWith('.cpuprofile'));
  if (main.length !== 1) {
    warn(`profile: expected one main-thread profile of pid ${prof.pid} in ${profDir}, found ${main.length}`);
    return null;
  }
  const byComponent = selfTimeByComponent(JSON.parse(fs.readFileSync(path.join(profDir, main[0]!), 'utf8')) as CpuProfile);
  byComponent.delete('(idle)');
  const busy = [...byComponent.values()].reduce((a, b) => a + b, 0);
  const profile: McpProfile = {
    calls,
    busy_ms: Math.round(busy),
    us_per_call: Math.round((busy / calls) * 1000),
    components: [...byComponent.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([component, ms]) => ({ component, ms: Math.round(ms), share: Math.round((ms / busy) * 1000) / 10, us_per_call: Math.round((ms / calls) * 1000) })),
  };
  log(`profile: ${path.join(profDir, main[0]!)} (${calls} get_endpoints calls, ${profile.us_per_call} us busy per call, profiler overhead included)`);
  return profile;
}
