/**
 * The real Claude Code client, driven offline — shared by the e2e tests (test/helpers/claude-code.ts
 * adds their setup notes and teardown) and the swarm benchmark (bench/suites/swarm.ts): where the pinned
 * release is installed (gitignored test-output/claude-code/<version>/, never a dependency of the
 * package), a scripted fake of the Anthropic Messages API on 127.0.0.1 that records what the model
 * was sent, and runClaude() to run one print-mode session against it. What the client does with
 * hooks is written down, with how it was verified, in test/helpers/CLAUDE-CODE-FACTS.md. What every
 * client's driver shares (installing from npm, the recording server, a run collected) is in common.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { collectRun, installNpmClient, REPO, runProcess, startRecordingServer, type ApiRequest, type FakeApi } from './common.js';

export type { ApiRequest, FakeApi } from './common.js';

/** The release the tests and the swarm bench drive; its facts are in test/helpers/CLAUDE-CODE-FACTS.md. */
export const CLAUDE_CODE_VERSION = '2.1.328';
export const CLAUDE_CODE_PACKAGE = `@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`;
/** `npm install --no-save --prefix` lands it here (gitignored, ~360 MB). */
export const CLAUDE_CODE_DIR = path.join(REPO, 'test-output', 'claude-code', CLAUDE_CODE_VERSION);

/**
 * The native executable of the platform package (an npm optional dependency of the wrapper). Run
 * directly, it needs no postinstall script: the wrapper's bin/claude.exe is only a stub that prints
 * "claude native binary not installed" until its postinstall copies this file over it.
 */
function nativeCandidates(): string[] {
  const base = path.join(CLAUDE_CODE_DIR, 'node_modules', '@anthropic-ai');
  const plat = `${process.platform}-${process.arch}`;
  const exe = process.platform === 'win32' ? 'claude.exe' : 'claude';
  return [path.join(base, `claude-code-${plat}`, exe), path.join(base, `claude-code-${plat}-musl`, exe)];
}

/** The installed client's executable, or null. */
export function claudeBinary(): string | null {
  return nativeCandidates().find((p) => fs.existsSync(p)) ?? null;
}

/** `<binary> --version` prints this release: the install is whole (an interrupted one may leave a cut file). */
async function works(bin: string): Promise<string | null> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-cc-version-'));
  try {
    const r = await runProcess(bin, ['--version'], 30_000, { PATH: process.env.PATH, HOME: home, DISABLE_AUTOUPDATER: '1' });
    return r.ok && r.out.includes(`${CLAUDE_CODE_VERSION} (Claude Code)`) ? null : `${bin} --version did not print ${CLAUDE_CODE_VERSION}: ${r.out.trim().slice(-300)}`;
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Installs the pinned client into CLAUDE_CODE_DIR (installNpmClient). The package's only install
 * script (postinstall) copies the platform package's executable over the wrapper's stub
 * bin/claude.exe; claudeBinary() runs the platform executable itself. Returns why it could not be
 * had, or null when the client is there. Never throws.
 */
export function installClaudeCodeBinary(budgetMs: number): Promise<string | null> {
  return installNpmClient({ pkg: CLAUDE_CODE_PACKAGE, dir: CLAUDE_CODE_DIR, find: claudeBinary, works }, budgetMs);
}

// ---------------------------------------------------------------------------------------------
// The fake Messages API.

/** One content block the fake model answers with. */
export type Block = { type: 'text'; text: string } | { type: 'tool_use'; name: string; input: unknown; id?: string };

/** What the fake model answers to one request: text, one tool call, or several blocks. */
export type Reply = string | { tool: string; input: unknown; id?: string } | { blocks: Block[] };

/**
 * Decides the answer to each agent request (one that offers tools); `turn` counts those from 0.
 * A list is answered in order; past its end, and for requests without tools, the answer is text.
 */
export type Script = Reply[] | ((req: ApiRequest, turn: number) => Reply | Promise<Reply>);

/** The text a request without tools (title generation and the like) gets. */
export const PLAIN_ANSWER = 'Fake title';
/** The text an agent request past the end of a list script gets. */
export const DONE_ANSWER = 'Done.';

function toBlocks(r: Reply): Block[] {
  if (typeof r === 'string') return [{ type: 'text', text: r }];
  if ('blocks' in r) return r.blocks;
  return [{ type: 'tool_use', name: r.tool, input: r.input, id: r.id }];
}

let toolIds = 0;

/** The SSE stream of one assistant message, as the real API sends it. */
function sse(model: string, blocks: Block[]): string {
  const ev = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  let out = ev('message_start', { message: { id: `msg_fake_${randomUUID().slice(0, 8)}`, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage } });
  blocks.forEach((b, index) => {
    if (b.type === 'text') {
      out += ev('content_block_start', { index, content_block: { type: 'text', text: '' } });
      out += ev('content_block_delta', { index, delta: { type: 'text_delta', text: b.text } });
    } else {
      const id = b.id ?? `toolu_fake_${String(++toolIds).padStart(4, '0')}`;
      out += ev('content_block_start', { index, content_block: { type: 'tool_use', id, name: b.name, input: {} } });
      out += ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } });
    }
    out += ev('content_block_stop', { index });
  });
  const stop = blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
  out += ev('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } });
  out += ev('message_stop', {});
  return out;
}

/**
 * A fake Anthropic Messages API on 127.0.0.1 (ephemeral port): answers `POST /v1/messages` (the
 * client adds `?beta=true`) with an SSE stream per `script`, `count_tokens` with a count, anything
 * else 404; records every request. The caller closes it (the tests' helper at teardown).
 */
export async function startFakeApi(script: Script = []): Promise<FakeApi> {
  let turn = 0;
  const decide = async (req: ApiRequest): Promise<Reply> => {
    if (!req.agent) return PLAIN_ANSWER;
    const i = turn++;
    if (Array.isArray(script)) return script[i] ?? DONE_ANSWER;
    return script(req, i);
  };
  return startRecordingServer((r, res) => {
    const body = r.body;
    const p = new URL(r.url, 'http://x').pathname;
    if (r.method === 'POST' && p === '/v1/messages/count_tokens') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ input_tokens: 100 }));
      return;
    }
    if (r.method !== 'POST' || p !== '/v1/messages') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `fake API: no ${r.method} ${p}` } }));
      return;
    }
    const model = typeof body?.model === 'string' ? body.model : 'claude-fake';
    decide(r).then(
      (reply) => {
        const blocks = toBlocks(reply);
        if (body?.stream === false) {
          const content = blocks.map((b) => (b.type === 'text' ? b : { type: 'tool_use', id: b.id ?? `toolu_fake_${String(++toolIds).padStart(4, '0')}`, name: b.name, input: b.input }));
          const stop = blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'msg_fake', type: 'message', role: 'assistant', model, content, stop_reason: stop, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 5 } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).end(sse(model, blocks));
      },
      (e: Error) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: e.message } })),
    );
  });
}

/** The text of a content value (a string, or blocks: text, tool_result contents, tool_use inputs). */
function contentText(c: unknown): string[] {
  if (typeof c === 'string') return [c];
  if (!Array.isArray(c)) return [];
  const out: string[] = [];
  for (const b of c as any[]) {
    if (b?.type === 'text' && typeof b.text === 'string') out.push(b.text);
    else if (b?.type === 'tool_result') out.push(...contentText(b.content));
    else if (b?.type === 'tool_use') out.push(JSON.stringify(b.input));
  }
  return out;
}

/**
 * Every piece of text one request sent the model: the system prompt, then each message's text,
 * tool_result contents and tool_use inputs (as JSON), in order.
 */
export function requestTexts(req: ApiRequest): string[] {
  const body = req.body ?? {};
  return [...contentText(body.system), ...((body.messages ?? []) as any[]).flatMap((m) => contentText(m.content))];
}

/** All of it as one string, to check that something was or was not seen. */
export function requestText(req: ApiRequest): string {
  return requestTexts(req).join('\n');
}

/** The tool_result blocks of a request, anywhere in its messages (injected context may follow them). */
export function toolResults(req: ApiRequest): { tool_use_id: string; is_error?: boolean; text: string }[] {
  const out: { tool_use_id: string; is_error?: boolean; text: string }[] = [];
  for (const m of (req.body?.messages ?? []) as any[]) {
    if (!Array.isArray(m.content)) continue;
    for (const b of m.content) if (b?.type === 'tool_result') out.push({ tool_use_id: b.tool_use_id, is_error: b.is_error, text: contentText(b.content).join('\n') });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running the client.

export interface RunOptions {
  /** The project directory the session works in. */
  cwd: string;
  /** The prompt (`-p <prompt>`); absent with `inputFormat: 'stream-json'`, where stdin carries it. */
  prompt?: string;
  /** The fake API (or any URL) the client talks to. */
  api: FakeApi | string;
  /** HOME for the run (~/.claude, ~/.claude.json); a fresh temp dir, removed afterwards, when absent. */
  home?: string;
  /** Extra environment (over the minimal one runClaude builds; the caller's own env is not passed). */
  env?: Record<string, string>;
  /** Settings passed with --settings (JSON), e.g. { hooks: { … } }. */
  settings?: object;
  /** Written to <cwd>/.claude/settings.json (project settings) before the run. */
  projectSettings?: object;
  /** --session-id: default a fresh UUID, so the session is known before the run; null: none (e.g. with --resume). */
  sessionId?: string | null;
  /** --output-format: default json (one result object); stream-json gives one JSON line per event. */
  outputFormat?: 'json' | 'stream-json';
  /** --input-format stream-json: stdin carries the user messages (see `input`), one JSON line each. */
  inputFormat?: 'text' | 'stream-json';
  /** More command-line arguments (e.g. ['--resume', id]). */
  args?: string[];
  /** Written to stdin; a list is written one line each (stream-json user messages). */
  input?: string | object[];
  /** Stdin is closed this long after `input` was written (default at once; stream-json ends when it closes). */
  holdStdinMs?: number;
  /** Stdin is closed when this settles (before holdStdinMs, if that comes first): a kept-open session ended on cue. */
  closeStdin?: Promise<unknown>;
  /** Killed (SIGKILL) when still running after this. */
  timeoutMs: number;
  /** Called with the client's process once it is spawned (its pid: to kill it mid-run, to find its children). */
  onSpawn?: (child: ChildProcess) => void;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The result object: stdout parsed (json), or its last `type: "result"` line (stream-json); null if none. */
  json: any;
  /** stream-json: every line of stdout, parsed (lines that are not JSON are left out). */
  events: any[];
  stdout: string;
  stderr: string;
  /** The session id passed with --session-id, else the one the JSON output names. */
  sessionId: string | null;
  home: string;
  ms: number;
}

/**
 * Runs `claude -p <prompt> --output-format json --permission-mode acceptEdits` once against the
 * fake API, with its own HOME and no telemetry or other traffic; bounded by `timeoutMs`.
 */
export async function runClaude(o: RunOptions): Promise<RunResult> {
  const bin = claudeBinary();
  if (bin === null) throw new Error(`Claude Code is not installed in ${CLAUDE_CODE_DIR} (npm run test:setup)`);
  const ownHome = o.home === undefined;
  const home = o.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'koor-cc-home-'));
  if (o.projectSettings) {
    fs.mkdirSync(path.join(o.cwd, '.claude'), { recursive: true });
    fs.writeFileSync(path.join(o.cwd, '.claude', 'settings.json'), JSON.stringify(o.projectSettings, null, 2));
  }
  const sessionId = o.sessionId === undefined ? randomUUID() : o.sessionId;
  const args = ['-p'];
  if (o.prompt !== undefined) args.push(o.prompt);
  args.push('--output-format', o.outputFormat ?? 'json', '--permission-mode', 'acceptEdits');
  // stream-json output in print mode requires --verbose.
  if (o.outputFormat === 'stream-json') args.push('--verbose');
  if (o.inputFormat) args.push('--input-format', o.inputFormat);
  if (sessionId !== null) args.push('--session-id', sessionId);
  if (o.settings) args.push('--settings', JSON.stringify(o.settings));
  args.push(...(o.args ?? []));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    TMPDIR: os.tmpdir(),
    ANTHROPIC_BASE_URL: typeof o.api === 'string' ? o.api : o.api.url,
    ANTHROPIC_API_KEY: 'sk-fake',
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    ...o.env,
  };
  const started = Date.now();
  const child = spawn(bin, args, { cwd: o.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  o.onSpawn?.(child);
  child.stdin.on('error', () => {});
  const input = o.input === undefined ? '' : typeof o.input === 'string' ? o.input : o.input.map((m) => `${JSON.stringify(m)}\n`).join('');
  child.stdin.write(input);
  const holdTimer = setTimeout(() => child.stdin.end(), o.holdStdinMs ?? 0);
  void o.closeStdin?.finally(() => child.stdin.end());
  const { code, signal, timedOut, stdout, stderr, events } = await collectRun(child, o.timeoutMs);
  clearTimeout(holdTimer);
  if (ownHome) fs.rmSync(home, { recursive: true, force: true });
  let json: any = null;
  if (o.outputFormat === 'stream-json') json = events.filter((e) => e?.type === 'result').at(-1) ?? null;
  else if (events.length === 1) json = events[0];
  return { code, signal, timedOut, json, events, stdout, stderr, sessionId: sessionId ?? json?.session_id ?? null, home, ms: Date.now() - started };
}
