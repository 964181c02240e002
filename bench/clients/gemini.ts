/**
 * The real Gemini CLI, driven offline — for the e2e tests (test/helpers/gemini.ts adds their setup
 * notes and teardown), beside the Claude Code and Codex ones (claude-code.ts, codex.ts; the install
 * and recording-server plumbing they share is in common.ts): where the pinned release is installed
 * (gitignored test-output/gemini/<version>/, never a dependency of the package), a scripted fake of
 * the Gemini API (`POST /v1beta/models/<model>:streamGenerateContent?alt=sse`) on 127.0.0.1 that
 * records what the model was sent, runGemini() to run one headless `gemini -p` session against it.
 * What the client does with hooks is written down, with how it was verified, in
 * test/helpers/GEMINI-FACTS.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO, collectRun, installNpmClient, runProcess, startRecordingServer, type ApiRequest, type FakeApi } from './common.js';

export type { ApiRequest, FakeApi } from './common.js';

/** The release the tests drive; its facts are in test/helpers/GEMINI-FACTS.md. */
export const GEMINI_VERSION = '0.61.0';
export const GEMINI_PACKAGE = `@google/gemini-cli@${GEMINI_VERSION}`;
/** `npm install --no-save --prefix` lands it here (gitignored, ~100 MB). */
export const GEMINI_DIR = path.join(REPO, 'test-output', 'gemini', GEMINI_VERSION);
/**
 * The model the client is told to use (`-m`): a named model, so the client asks it directly (its
 * default, `auto`, first asks a small model to classify the prompt, a request the fake would have
 * to answer in the classifier's own JSON).
 */
export const GEMINI_MODEL = 'gemini-2.5-flash';

/**
 * The installed client's entry point, or null. The package is plain JavaScript (a bundle run by
 * node, no platform package), so no install script is needed.
 */
export function geminiBinary(): string | null {
  const bin = path.join(GEMINI_DIR, 'node_modules', '@google', 'gemini-cli', 'bundle', 'gemini.js');
  return fs.existsSync(bin) ? bin : null;
}

async function works(bin: string): Promise<string | null> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-gm-version-'));
  try {
    const r = await runProcess(process.execPath, [bin, '--version'], 60_000, { PATH: process.env.PATH, HOME: home, GEMINI_CLI_NO_RELAUNCH: 'true' });
    return r.ok && r.out.trim().split('\n').includes(GEMINI_VERSION) ? null : `${bin} --version did not print ${GEMINI_VERSION}: ${r.out.trim().slice(-300)}`;
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** Installs the pinned client into GEMINI_DIR unless a working copy is there; why not, or null. Never throws. */
export function installGeminiBinary(budgetMs: number): Promise<string | null> {
  return installNpmClient({ pkg: GEMINI_PACKAGE, dir: GEMINI_DIR, find: geminiBinary, works }, budgetMs);
}

// ---------------------------------------------------------------------------------------------
// The fake Gemini API.

/**
 * What the fake model answers to one request: text; a call of one of the client's tools (its
 * edits `write_file` {file_path, content} and `replace` {file_path, old_string, new_string,
 * instruction}, its shell `run_shell_command` {command}); several calls at once; or raw parts.
 */
export type GeminiReply = string | { call: string; args: object } | { calls: Array<{ call: string; args: object }> } | { parts: object[] };

/** Decides the answer to each agent request (one that offers tools); a list is answered in order, then DONE. */
export type GeminiScript = GeminiReply[] | ((req: ApiRequest, turn: number) => GeminiReply | Promise<GeminiReply>);

export const GEMINI_DONE = 'Done.';
/** Usage every response reports (usageMetadata), so the client's stats can be checked against it. */
export const GEMINI_USAGE = { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 };

function partsOf(r: GeminiReply): object[] {
  if (typeof r === 'string') return [{ text: r }];
  if ('parts' in r) return r.parts;
  const calls = 'calls' in r ? r.calls : [r];
  return calls.map((c) => ({ functionCall: { name: c.call, args: c.args } }));
}

/**
 * One response as the Gemini API streams it with `alt=sse`: `data: <GenerateContentResponse>`
 * events (here one: the whole answer), `candidates[0].content` {role: "model", parts},
 * `finishReason: "STOP"`, the `usageMetadata`, `modelVersion` and `responseId`. The client runs
 * the function calls, prints the text and counts the usage (its `-o json` stats).
 */
function sse(n: number, model: string, parts: object[]): string {
  const chunk = { candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata: GEMINI_USAGE, modelVersion: model, responseId: `fake-${n}` };
  return `data: ${JSON.stringify(chunk)}\r\n\r\n`;
}

/**
 * A fake Gemini API on 127.0.0.1: `POST /v1beta/models/<model>:streamGenerateContent` gets an SSE
 * stream per `script`, `:generateContent` (the client's own side questions, none with a named
 * model) a JSON answer of the same shape (text for a request without tools), anything else a 404
 * in the API's error shape; every request is recorded.
 */
export function startFakeGeminiApi(script: GeminiScript = []): Promise<FakeApi> {
  let turn = 0;
  return startRecordingServer((r, res) => {
    const m = /^\/v1beta\/models\/([^/:]+):(streamGenerateContent|generateContent)$/.exec(new URL(r.url, 'http://x').pathname);
    if (r.method !== 'POST' || m === null) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 404, message: `fake API: no ${r.method} ${r.url}`, status: 'NOT_FOUND' } }));
      return;
    }
    const model = decodeURIComponent(m[1]!);
    const decide = async (): Promise<GeminiReply> => {
      if (!r.agent) return GEMINI_DONE;
      const i = turn++;
      return Array.isArray(script) ? (script[i] ?? GEMINI_DONE) : script(r, i);
    };
    decide().then(
      (reply) => {
        if (m[2] === 'streamGenerateContent') res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).end(sse(r.n, model, partsOf(reply)));
        else res.writeHead(200, { 'content-type': 'application/json' }).end(sse(r.n, model, partsOf(reply)).slice('data: '.length).trim());
      },
      (e: Error) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 500, message: e.message, status: 'INTERNAL' } })),
    );
  });
}

/** A function response a request carries: the tool's name, its output or its error. */
export interface GeminiToolResponse {
  name: string;
  id?: string;
  output?: string;
  error?: string;
}

const partsIn = (req: ApiRequest): any[] => ((req.body?.contents ?? []) as any[]).flatMap((c) => (Array.isArray(c?.parts) ? c.parts : []));

/** The function responses of a request (the results of the model's tool calls), in order. */
export function geminiToolResponses(req: ApiRequest): GeminiToolResponse[] {
  return partsIn(req)
    .filter((p) => p?.functionResponse)
    .map((p) => {
      const f = p.functionResponse;
      const r = f.response ?? {};
      return { name: f.name, ...(f.id ? { id: f.id } : {}), ...(typeof r.output === 'string' ? { output: r.output } : {}), ...(typeof r.error === 'string' ? { error: r.error } : {}) };
    });
}

/** Every text one request sent the model: the system instruction, then each part's text, function call and response, in order. */
export function geminiRequestTexts(req: ApiRequest): string[] {
  const sys = ((req.body?.systemInstruction?.parts ?? []) as any[]).map((p) => p?.text).filter((s): s is string => typeof s === 'string');
  const parts = partsIn(req).flatMap((p) => {
    if (typeof p?.text === 'string') return [p.text];
    if (p?.functionCall) return [JSON.stringify(p.functionCall.args ?? {})];
    if (p?.functionResponse) return [JSON.stringify(p.functionResponse.response ?? {})];
    return [];
  });
  return [...sys, ...parts];
}

/** All of it as one string. */
export function geminiRequestText(req: ApiRequest): string {
  return geminiRequestTexts(req).join('\n');
}

/**
 * What hooks added to a request: the text of each `<hook_context>…</hook_context>` (SessionStart's
 * before the prompt, BeforeAgent's after it, AfterTool's at the end of a tool's output), `&lt;` and
 * `&gt;` as the client escaped them.
 */
export function hookContexts(req: ApiRequest): string[] {
  const out: string[] = [];
  for (const part of partsIn(req)) {
    const r = part?.functionResponse?.response;
    const text: unknown = typeof part?.text === 'string' ? part.text : (r?.output ?? r?.error);
    if (typeof text !== 'string') continue;
    for (const m of text.matchAll(/<hook_context>([\s\S]*?)<\/hook_context>/g)) out.push(m[1]!);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running the client.

/**
 * The user settings a headless run needs (`$HOME/.gemini/settings.json`): the API-key auth type
 * (else "Invalid auth method selected."), and nothing sent anywhere but the fake (no usage
 * statistics, no update check).
 */
const GEMINI_USER_SETTINGS = {
  security: { auth: { selectedType: 'gemini-api-key' } },
  privacy: { usageStatisticsEnabled: false },
  general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
};

/** A HOME for Gemini sessions: its user settings written (GEMINI_USER_SETTINGS). */
export function geminiHome(dir: string): string {
  fs.mkdirSync(path.join(dir, '.gemini'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.gemini', 'settings.json'), `${JSON.stringify(GEMINI_USER_SETTINGS, null, 2)}\n`);
  return dir;
}

export interface GeminiRunOptions {
  cwd: string;
  prompt: string;
  api: FakeApi | string;
  /** HOME (~/.gemini: user settings, trusted hooks, chats); a fresh one, removed afterwards, when absent. */
  home?: string;
  /** Extra environment over the minimal one runGemini builds (the caller's own env is not passed). */
  env?: Record<string, string>;
  /** More arguments of `gemini` (before -p). */
  args?: string[];
  /** Trust the folder for this run (GEMINI_CLI_TRUST_WORKSPACE=true): a project's hooks run only in a trusted folder. Default true. */
  trust?: boolean;
  timeoutMs: number;
  onSpawn?: (child: ChildProcess) => void;
}

export interface GeminiRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** `-o json`: the client's one JSON document (`session_id`, `response`, `stats`), or null. */
  json: any;
  stdout: string;
  stderr: string;
  /** The session id the hooks get (`session_id` of the JSON output). */
  sessionId: string | null;
  home: string;
  ms: number;
}

/**
 * The environment of a run: nothing of the caller's but PATH. GEMINI_CLI_NO_RELAUNCH: the client
 * otherwise starts itself again in a child node process (with a larger heap), which costs seconds
 * per run on a busy machine; the child it would start runs with exactly this set.
 */
function geminiEnv(home: string, url: string, trust: boolean, more: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    TMPDIR: os.tmpdir(),
    GEMINI_API_KEY: 'fake',
    GOOGLE_GEMINI_BASE_URL: url,
    GEMINI_CLI_NO_RELAUNCH: 'true',
    ...(trust ? { GEMINI_CLI_TRUST_WORKSPACE: 'true' } : {}),
    ...more,
  };
}

/**
 * Runs `gemini -p <prompt> -o json --approval-mode yolo -m GEMINI_MODEL` once against the fake
 * API, with its own HOME and stdin closed; bounded by `timeoutMs`. Headless, the client offers its
 * edit and shell tools only in `yolo` approval mode (in the default mode the model is told
 * `Tool "write_file" not found`).
 */
export async function runGemini(o: GeminiRunOptions): Promise<GeminiRunResult> {
  const bin = geminiBinary();
  if (bin === null) throw new Error(`Gemini CLI is not installed in ${GEMINI_DIR} (npm run test:setup)`);
  const ownHome = o.home === undefined;
  const home = o.home ?? geminiHome(fs.mkdtempSync(path.join(os.tmpdir(), 'koor-gm-home-')));
  const url = typeof o.api === 'string' ? o.api : o.api.url;
  const args = [bin, ...(o.args ?? []), '-o', 'json', '--approval-mode', 'yolo', '-m', GEMINI_MODEL, '-p', o.prompt];
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: o.cwd, env: geminiEnv(home, url, o.trust ?? true, o.env), stdio: ['ignore', 'pipe', 'pipe'] });
  o.onSpawn?.(child);
  const { code, signal, timedOut, stdout, stderr } = await collectRun(child, o.timeoutMs);
  if (ownHome) fs.rmSync(home, { recursive: true, force: true });
  let json: any = null;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = null;
  }
  return { code, signal, timedOut, json, stdout, stderr, sessionId: typeof json?.session_id === 'string' ? json.session_id : null, home, ms: Date.now() - started };
}
