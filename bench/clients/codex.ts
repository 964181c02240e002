/**
 * The real Codex CLI, driven offline — for the e2e tests (test/helpers/codex.ts adds their setup
 * notes and teardown), beside the Claude Code one (claude-code.ts; the install and recording-server
 * plumbing they share is in common.ts): where the pinned release is installed (gitignored
 * test-output/codex/<version>/, never a dependency of the package), a scripted fake of OpenAI's
 * Responses API on 127.0.0.1 that records what the model was sent, runCodex() to run one `codex
 * exec` session against it. What the client does with hooks is written down, with how it was
 * verified, in test/helpers/CODEX-FACTS.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO, collectRun, installNpmClient, runProcess, startRecordingServer, type ApiRequest, type FakeApi } from './common.js';

export type { ApiRequest, FakeApi } from './common.js';

/** The release the tests drive; its facts are in test/helpers/CODEX-FACTS.md. */
export const CODEX_VERSION = '0.169.0';
export const CODEX_PACKAGE = `@openai/codex@${CODEX_VERSION}`;
/** `npm install --no-save --prefix` lands it here (gitignored, ~400 MB). */
export const CODEX_DIR = path.join(REPO, 'test-output', 'codex', CODEX_VERSION);
/**
 * The model the fake API is named as: one of the client's bundled model slugs, so the client offers
 * its `apply_patch` tool (a freeform custom tool); for an unknown name it falls back to metadata
 * without it (CODEX-FACTS.md).
 */
export const CODEX_MODEL = 'gpt-5.5';

/** Rust target triples of the platform packages (the wrapper's bin/codex.js names them the same way). */
const TRIPLES: Record<string, string> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
};

/** The installed client's executable (the platform package's, which needs no install script), or null. */
export function codexBinary(): string | null {
  const plat = `${process.platform}-${process.arch}`;
  const triple = TRIPLES[plat];
  if (triple === undefined) return null;
  const bin = path.join(CODEX_DIR, 'node_modules', '@openai', `codex-${plat}`, 'vendor', triple, 'bin', 'codex');
  return fs.existsSync(bin) ? bin : null;
}

async function works(bin: string): Promise<string | null> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-cx-version-'));
  try {
    const r = await runProcess(bin, ['--version'], 30_000, { PATH: process.env.PATH, HOME: home });
    return r.ok && r.out.includes(`codex-cli ${CODEX_VERSION}`) ? null : `${bin} --version did not print codex-cli ${CODEX_VERSION}: ${r.out.trim().slice(-300)}`;
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** Installs the pinned client into CODEX_DIR unless a working copy is there; why not, or null. Never throws. */
export function installCodexBinary(budgetMs: number): Promise<string | null> {
  return installNpmClient({ pkg: CODEX_PACKAGE, dir: CODEX_DIR, find: codexBinary, works }, budgetMs);
}

// ---------------------------------------------------------------------------------------------
// The fake Responses API.

/**
 * What the fake model answers to one request: text; a patch for the client's `apply_patch` tool
 * (a `custom_tool_call`); a command for its shell tool `exec_command` (a `function_call`); any
 * other function call; or several output items.
 */
export type CodexReply = string | { patch: string } | { shell: string } | { call: string; arguments: unknown } | { items: object[] };

/** Decides the answer to each agent request (one that offers tools); a list is answered in order, then DONE. */
export type CodexScript = CodexReply[] | ((req: ApiRequest, turn: number) => CodexReply | Promise<CodexReply>);

export const CODEX_DONE = 'Done.';
/** Usage every response reports (response.completed), so telemetry can be checked against it. */
export const CODEX_USAGE = { input_tokens: 10, input_tokens_details: { cached_tokens: 2 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 };

let calls = 0;

function itemsOf(r: CodexReply, n: number): object[] {
  const id = `${n}_${++calls}`;
  if (typeof r === 'string') return [{ type: 'message', id: `msg_${id}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: r, annotations: [] }] }];
  if ('items' in r) return r.items;
  if ('patch' in r) return [{ type: 'custom_tool_call', id: `ctc_${id}`, call_id: `call_${id}`, name: 'apply_patch', input: r.patch, status: 'completed' }];
  const [name, args] = 'shell' in r ? ['exec_command', { cmd: r.shell }] : [r.call, r.arguments];
  return [{ type: 'function_call', id: `fc_${id}`, call_id: `call_${id}`, name, arguments: typeof args === 'string' ? args : JSON.stringify(args), status: 'completed' }];
}

/**
 * One response as the Responses API streams it (`stream: true`; the event types of
 * developers.openai.com/docs/guides/streaming-responses, each with its `sequence_number`):
 * `response.created`, `response.in_progress`; per output item `response.output_item.added`, its
 * content streamed (a message's text: `response.content_part.added`, `response.output_text.delta`,
 * `response.output_text.done`, `response.content_part.done`; a function call's arguments:
 * `response.function_call_arguments.delta`/`.done`; a custom tool call's input:
 * `response.custom_tool_call_input.delta`/`.done`), `response.output_item.done`; then
 * `response.completed` with the usage. Checked against the client: it runs the tool calls, shows the
 * text once, and reports the usage (CODEX-FACTS.md).
 */
function sse(n: number, model: string, items: object[]): string {
  let seq = 0;
  const ev = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const id = `resp_fake_${n}`;
  const base = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), model };
  let out = ev('response.created', { response: { ...base, status: 'in_progress', output: [] } });
  out += ev('response.in_progress', { response: { ...base, status: 'in_progress', output: [] } });
  items.forEach((item: any, output_index) => {
    const item_id = item.id;
    out += ev('response.output_item.added', { output_index, item: item.type === 'message' ? { ...item, status: 'in_progress', content: [] } : { ...item, status: 'in_progress' } });
    if (item.type === 'message') {
      (item.content as any[]).forEach((part, content_index) => {
        out += ev('response.content_part.added', { item_id, output_index, content_index, part: { ...part, text: '' } });
        out += ev('response.output_text.delta', { item_id, output_index, content_index, delta: part.text });
        out += ev('response.output_text.done', { item_id, output_index, content_index, text: part.text });
        out += ev('response.content_part.done', { item_id, output_index, content_index, part });
      });
    } else if (item.type === 'function_call') {
      out += ev('response.function_call_arguments.delta', { item_id, output_index, delta: item.arguments });
      out += ev('response.function_call_arguments.done', { item_id, output_index, arguments: item.arguments });
    } else if (item.type === 'custom_tool_call') {
      out += ev('response.custom_tool_call_input.delta', { item_id, output_index, delta: item.input });
      out += ev('response.custom_tool_call_input.done', { item_id, output_index, input: item.input });
    }
    out += ev('response.output_item.done', { output_index, item });
  });
  out += ev('response.completed', { response: { ...base, status: 'completed', output: items, usage: CODEX_USAGE } });
  return out;
}

/**
 * A fake Responses API on 127.0.0.1: `POST /v1/responses` gets an SSE stream per `script` (a
 * request without tools gets text), anything else (the client also posts analytics) a 404; every
 * request is recorded.
 */
export function startFakeResponsesApi(script: CodexScript = []): Promise<FakeApi> {
  let turn = 0;
  return startRecordingServer((r, res) => {
    const p = new URL(r.url, 'http://x').pathname;
    if (r.method !== 'POST' || p !== '/v1/responses') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'not_found', message: `fake API: no ${r.method} ${p}` } }));
      return;
    }
    const model = typeof r.body?.model === 'string' ? r.body.model : CODEX_MODEL;
    const decide = async (): Promise<CodexReply> => {
      if (!r.agent) return CODEX_DONE;
      const i = turn++;
      return Array.isArray(script) ? (script[i] ?? CODEX_DONE) : script(r, i);
    };
    decide().then(
      (reply) => res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).end(sse(r.n, model, itemsOf(reply, r.n))),
      (e: Error) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'server_error', message: e.message } })),
    );
  });
}

/** The texts of one input item: message contents, tool outputs, tool call inputs. */
function itemTexts(it: any): string[] {
  if (it?.type === 'message') return (Array.isArray(it.content) ? it.content : [it.content]).map((c: any) => (typeof c === 'string' ? c : (c?.text ?? ''))).filter((s: string) => s !== '');
  if (it?.type === 'function_call_output' || it?.type === 'custom_tool_call_output') return [typeof it.output === 'string' ? it.output : JSON.stringify(it.output)];
  if (it?.type === 'function_call') return [String(it.arguments ?? '')];
  if (it?.type === 'custom_tool_call') return [String(it.input ?? '')];
  return [];
}

/** Every text one request sent the model: `instructions`, then each input item's, in order. */
export function codexRequestTexts(req: ApiRequest): string[] {
  const body = req.body ?? {};
  return [...(typeof body.instructions === 'string' ? [body.instructions] : []), ...((body.input ?? []) as any[]).flatMap(itemTexts)];
}

/** All of it as one string. */
export function codexRequestText(req: ApiRequest): string {
  return codexRequestTexts(req).join('\n');
}

/** The developer messages of a request past the client's own first two (base prompt, skills): what hooks added. */
export function developerNotes(req: ApiRequest): string[] {
  const dev = ((req.body?.input ?? []) as any[]).filter((it) => it?.type === 'message' && it.role === 'developer');
  return dev.slice(2).flatMap(itemTexts);
}

/** The outputs of tool calls a request carries (apply_patch's and the shell's), by call id. */
export function codexToolOutputs(req: ApiRequest): { call_id: string; type: string; text: string }[] {
  return ((req.body?.input ?? []) as any[]).filter((it) => it?.type === 'function_call_output' || it?.type === 'custom_tool_call_output').map((it) => ({ call_id: it.call_id, type: it.type, text: itemTexts(it).join('\n') }));
}

// ---------------------------------------------------------------------------------------------
// Running the client.

export interface CodexRunOptions {
  cwd: string;
  prompt: string;
  api: FakeApi | string;
  /** HOME (~/.codex: config.toml with the project's and hooks' trust, sessions); a fresh temp dir, removed afterwards, when absent. */
  home?: string;
  /** Extra environment over the minimal one runCodex builds (the caller's own env is not passed). */
  env?: Record<string, string>;
  /** More arguments of `codex exec` (before the prompt), e.g. ['-c', 'otel…']. */
  args?: string[];
  /** -s: default workspace-write (what `codex exec --full-auto` used to mean). */
  sandbox?: 'read-only' | 'workspace-write' | 'danger-full-access';
  timeoutMs: number;
  onSpawn?: (child: ChildProcess) => void;
}

export interface CodexRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** `--json`: every line of stdout, parsed. */
  events: any[];
  stdout: string;
  stderr: string;
  /** The session (thread) id: `thread.started`'s `thread_id`, the hooks' `session_id`. */
  sessionId: string | null;
  home: string;
  ms: number;
}

/** The `-c` overrides that point the client at the fake API (a model provider speaking the Responses API). */
export function providerArgs(url: string): string[] {
  return ['-c', 'model_provider=koor_fake', '-c', `model_providers.koor_fake={name="koor-fake",base_url="${url}/v1",wire_api="responses"}`, '-m', CODEX_MODEL];
}

/** The environment of a run (and of Codex's app server): nothing of the caller's but PATH. */
export function baseEnv(home: string, more: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', TMPDIR: os.tmpdir(), OPENAI_API_KEY: 'sk-fake', ...more };
}

/**
 * Runs `codex exec --json --skip-git-repo-check -s workspace-write <prompt>` once against the
 * fake API, with its own HOME and stdin closed; bounded by `timeoutMs`. Hooks run only in a
 * project whose trust and whose hooks' trust HOME's config records (`koor-cli init --codex --trust`).
 */
export async function runCodex(o: CodexRunOptions): Promise<CodexRunResult> {
  const bin = codexBinary();
  if (bin === null) throw new Error(`Codex is not installed in ${CODEX_DIR} (npm run test:setup)`);
  const ownHome = o.home === undefined;
  const home = o.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'koor-cx-home-'));
  const url = typeof o.api === 'string' ? o.api : o.api.url;
  const args = ['exec', '--json', '--skip-git-repo-check', '-s', o.sandbox ?? 'workspace-write', ...providerArgs(url), ...(o.args ?? []), o.prompt];
  const started = Date.now();
  const child = spawn(bin, args, { cwd: o.cwd, env: baseEnv(home, o.env), stdio: ['ignore', 'pipe', 'pipe'] });
  o.onSpawn?.(child);
  const { code, signal, timedOut, stdout, stderr, events } = await collectRun(child, o.timeoutMs);
  if (ownHome) fs.rmSync(home, { recursive: true, force: true });
  const sessionId = events.find((e) => e?.type === 'thread.started')?.thread_id ?? null;
  return { code, signal, timedOut, events, stdout, stderr, sessionId, home, ms: Date.now() - started };
}

