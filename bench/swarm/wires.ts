/**
 * The swarm's scripted agent (bench/swarm/agent.ts) played through any of the five clients Koor
 * proves with their real binaries: a wire per client reads the agent's view out of the client's
 * own model requests (tool results by call id) and turns the agent's tool calls — Claude Code's
 * `Bash`, `Write` and `Edit` — into the client's own tools, in its own protocol:
 *
 * | client | protocol (fake API) | shell | write a file | edit a file |
 * |---|---|---|---|---|
 * | Claude Code | Messages | `Bash` | `Write` | `Edit` |
 * | Codex | Responses | `exec_command` (polled with `write_stdin` while it runs) | `apply_patch` Add / Update | `apply_patch` Update |
 * | Gemini CLI | Gemini | `run_shell_command` | `write_file` | `replace` |
 * | Copilot CLI | Chat Completions | `bash` | `create` (an existing file: `edit` of all of it) | `edit` |
 * | OpenCode | Chat Completions | `bash` | `write` | `edit` (both after a `read`: it edits only files read since they changed) |
 *
 * So one agent script drains a backlog through every client, and a team mixes them. The hooks
 * each client runs are what `koor-cli init --<client>` writes into the clone.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { claudeBinary, requestText, requestTexts, runClaude, startFakeApi, toolResults, type ApiRequest, type Block, type FakeApi, type Reply } from '../clients/claude-code.js';
import { CODEX_DIR, codexBinary, codexRequestTexts, codexToolOutputs, runCodex, startFakeResponsesApi } from '../clients/codex.js';
import { COPILOT_MODEL, copilotBinary, runCopilot } from '../clients/copilot.js';
import { chatRequestTexts, chatToolResults, startFakeChatApi, type ChatCall } from '../clients/fake-chat.js';
import { geminiBinary, geminiHome, geminiRequestText, geminiRequestTexts, geminiToolResponses, runGemini, startFakeGeminiApi } from '../clients/gemini.js';
import { opencodeBinary, runOpencode } from '../clients/opencode.js';
import type { AgentView } from './agent.js';

export const SWARM_CLIENTS = ['claude-code', 'codex', 'gemini', 'copilot', 'opencode'] as const;
export type SwarmClient = (typeof SWARM_CLIENTS)[number];

/** What the swarm reads of a finished session, whichever client ran it. */
export interface SeatRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface SeatRunOptions {
  cwd: string;
  prompt: string;
  api: FakeApi;
  home: string;
  /** KOOR_AGENT_NAME, git's identity, PATH with the CLI shim. */
  env: Record<string, string>;
  timeoutMs: number;
  onSpawn: (child: ChildProcess) => void;
}

export interface Wire {
  readonly client: SwarmClient;
  /** `koor-cli init`'s flags for this client (HOME is the session's: trust goes there). */
  readonly init: string[];
  /** What `koor-cli init` needs in its environment besides (Codex's --trust runs codex itself). */
  initEnv?(): Record<string, string>;
  /** The session's HOME, ready before `init` runs (the client's user settings). */
  prepareHome?(home: string): void;
  /** Every text a request sent the model (for counting Koor's: KoorText). */
  texts(req: ApiRequest): string[];
  /** Its fake API: `answer` decides each agent request from the agent's view of it. */
  start(answer: (view: AgentView, req: ApiRequest) => Promise<Reply>): Promise<FakeApi>;
  run(o: SeatRunOptions): Promise<SeatRun>;
}

interface ToolCall {
  id: string;
  name: string;
  input: any;
}

/** The agent's tool calls in a reply (none: text, the end of a turn). */
function callsOf(reply: Reply): ToolCall[] | null {
  if (typeof reply === 'string') return null;
  const blocks: Block[] = 'blocks' in reply ? reply.blocks : [{ type: 'tool_use', name: reply.tool, input: reply.input, ...(reply.id ? { id: reply.id } : {}) }];
  const calls = blocks.filter((b): b is Extract<Block, { type: 'tool_use' }> => b.type === 'tool_use').map((b) => ({ id: b.id ?? '', name: b.name, input: b.input as any }));
  return calls.length > 0 ? calls : null;
}

const textOf = (reply: Reply): string => (typeof reply === 'string' ? reply : 'Done.');

/** A tool's result that says it did not do what was asked (a hook's refusal, a failed edit): the clients without an error flag. Case matters: paths hold `koor-`. */
const FAILED = /Koor:|[Dd]enied|[Bb]locked|[Ee]rror|not found|[Ff]ailed|[Rr]efused|does not exist/;

/** Shell commands past the tools' default limits: the agent's longest wait (a lease, `koor-cli wait`) is minutes. */
const SHELL_TIMEOUT_S = 240;

// ---------------------------------------------------------------------------------------------

/** A Messages API request (Claude Code's) as the agent reads it. */
function claudeView(req: ApiRequest): AgentView {
  return { at: req.at, results: toolResults(req).map((r) => ({ id: r.tool_use_id, text: r.text, isError: r.is_error === true })), text: requestText(req) };
}

const claudeWire: Wire = {
  client: 'claude-code',
  init: ['--claude-code'],
  texts: requestTexts,
  start: (answer) => startFakeApi((req) => answer(claudeView(req), req)),
  run: (o) => runClaude({ cwd: o.cwd, prompt: o.prompt, api: o.api, home: o.home, env: o.env, settings: { permissions: { allow: ['Bash', 'Edit', 'Write', 'Read'] } }, timeoutMs: o.timeoutMs, onSpawn: o.onSpawn }),
};

// ---------------------------------------------------------------------------------------------
// Codex: apply_patch for files, exec_command for the shell (its output returned after at most
// 30 s of a running command: the wire polls it with write_stdin until it exits, then hands the
// agent the whole output under the call id it asked with).

/** `apply_patch` text for one agent call (`Write`: the whole file; `Edit`: its one replacement), paths as given (absolute). */
function patchOf(c: ToolCall): string {
  const file: string = c.input.file_path;
  const lines = (s: string, sign: string): string[] => s.replace(/\n$/, '').split('\n').map((l) => `${sign}${l}`);
  if (c.name === 'Write') {
    const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (old === null) return ['*** Begin Patch', `*** Add File: ${file}`, ...lines(c.input.content, '+'), '*** End Patch'].join('\n');
    return ['*** Begin Patch', `*** Update File: ${file}`, '@@', ...lines(old, '-'), ...lines(c.input.content, '+'), '*** End Patch'].join('\n');
  }
  return ['*** Begin Patch', `*** Update File: ${file}`, '@@', ...lines(c.input.old_string, '-'), ...lines(c.input.new_string, '+'), '*** End Patch'].join('\n');
}

function codexWire(): Wire {
  /** Agent call id → its output so far, while its command runs (`session` to poll). */
  const running = new Map<string, { session: number; out: string }>();
  let polls = 0;
  const poll = (id: string, session: number) => ({ type: 'function_call', id: `fc_poll_${++polls}`, call_id: `poll_${polls}_${id}`, name: 'write_stdin', arguments: JSON.stringify({ session_id: session, chars: '', yield_time_ms: 30_000 }), status: 'completed' });
  return {
    client: 'codex',
    init: ['--codex', '--trust'],
    texts: codexRequestTexts,
    initEnv: () => {
      const bin = codexBinary();
      if (bin === null) throw new Error(`Codex is not installed in ${CODEX_DIR} (npm run test:setup)`);
      return { PATH: `${path.dirname(bin)}:${process.env.PATH ?? '/usr/bin:/bin'}` };
    },
    start: (answer) =>
      startFakeResponsesApi(async (req) => {
        const results: AgentView['results'] = [];
        for (const o of codexToolOutputs(req)) {
          const polled = /^poll_\d+_(.*)$/.exec(o.call_id);
          const id = polled ? polled[1]! : o.call_id;
          const was = running.get(id);
          if (polled && was === undefined) continue; // an older poll, already handed on
          const out = (was?.out ?? '') + o.text;
          const session = /Process running with session ID (\d+)/.exec(o.text);
          if (session) running.set(id, { session: Number(session[1]), out });
          else {
            running.delete(id);
            results.push({ id, text: out, isError: o.type === 'custom_tool_call_output' && !/^Success/m.test(o.text) && FAILED.test(o.text) });
          }
        }
        // The last request's running commands: poll them (this request's, only: older ones were polled before).
        const last = codexToolOutputs(req).slice(-1)[0];
        const pending = last ? /^(?:poll_\d+_)?(.*)$/.exec(last.call_id)![1]! : '';
        const still = running.get(pending);
        if (still) return { items: [poll(pending, still.session)] };
        const reply = await answer({ at: req.at, results, text: '' }, req);
        const calls = callsOf(reply);
        if (calls === null) return textOf(reply);
        return {
          items: calls.map((c, i) =>
            c.name === 'Bash'
              ? { type: 'function_call', id: `fc_${c.id}_${i}`, call_id: c.id, name: 'exec_command', arguments: JSON.stringify({ cmd: c.input.command, login: false, yield_time_ms: 30_000 }), status: 'completed' }
              : { type: 'custom_tool_call', id: `ctc_${c.id}_${i}`, call_id: c.id, name: 'apply_patch', input: patchOf(c), status: 'completed' },
          ),
        };
      }),
    run: (o) => runCodex({ cwd: o.cwd, prompt: o.prompt, api: o.api, home: o.home, env: o.env, sandbox: 'danger-full-access', timeoutMs: o.timeoutMs, onSpawn: o.onSpawn }),
  };
}

// ---------------------------------------------------------------------------------------------
// Gemini CLI: its function responses carry no id the model gave; they answer the last calls in order.

/** A shell command's output as Gemini CLI returns it (`<untrusted_context>` around `Output: …`, `Exit Code: …`): the output's lines as printed. */
const shellText = (s: string): string => s.replace(/^<\/?untrusted_context>$/gm, '').replace(/^Output: /m, '');

function geminiWire(): Wire {
  let last: string[] = [];
  return {
    client: 'gemini',
    init: ['--gemini'],
    texts: geminiRequestTexts,
    prepareHome: (home) => void geminiHome(home),
    start: (answer) =>
      startFakeGeminiApi(async (req) => {
        const responses = geminiToolResponses(req);
        const mine = last.length > 0 && responses.length >= last.length ? responses.slice(-last.length) : [];
        const results = mine.map((r, i) => ({ id: last[i]!, text: shellText(r.output ?? r.error ?? ''), isError: r.error !== undefined }));
        const reply = await answer({ at: req.at, results, text: geminiRequestText(req) }, req);
        const calls = callsOf(reply);
        if (calls === null) return textOf(reply);
        last = calls.map((c) => c.id);
        return {
          calls: calls.map((c) =>
            c.name === 'Bash'
              ? { call: 'run_shell_command', args: { command: c.input.command, description: 'swarm step' } }
              : c.name === 'Write'
                ? { call: 'write_file', args: { file_path: c.input.file_path, content: c.input.content } }
                : { call: 'replace', args: { file_path: c.input.file_path, old_string: c.input.old_string, new_string: c.input.new_string, instruction: 'swarm edit' } },
          ),
        };
      }),
    run: (o) => runGemini({ cwd: o.cwd, prompt: o.prompt, api: o.api, home: o.home, env: o.env, timeoutMs: o.timeoutMs, onSpawn: o.onSpawn }),
  };
}

// ---------------------------------------------------------------------------------------------
// Copilot CLI and OpenCode: Chat Completions, tool results by tool_call_id.

function chatResults(req: ApiRequest, reads: Set<string>): AgentView['results'] {
  return chatToolResults(req)
    .filter((r) => !reads.has(r.tool_call_id))
    .map((r) => ({ id: r.tool_call_id, text: r.text, isError: FAILED.test(r.text.split('\n', 1)[0] ?? '') }));
}

function copilotWire(): Wire {
  return {
    client: 'copilot',
    init: ['--copilot'],
    texts: chatRequestTexts,
    start: (answer) =>
      startFakeChatApi(
        async (req) => {
          const reply = await answer({ at: req.at, results: chatResults(req, new Set()), text: '' }, req);
          const calls = callsOf(reply);
          if (calls === null) return textOf(reply);
          return {
            calls: calls.map((c): ChatCall => {
              if (c.name === 'Bash') return { id: c.id, name: 'bash', arguments: { command: c.input.command, description: 'swarm step', mode: 'sync', initial_wait: SHELL_TIMEOUT_S } };
              if (c.name === 'Edit') return { id: c.id, name: 'edit', arguments: { path: c.input.file_path, old_str: c.input.old_string, new_str: c.input.new_string } };
              const old = fs.existsSync(c.input.file_path) ? fs.readFileSync(c.input.file_path, 'utf8') : null;
              // `create` writes no missing folder: the model's `mkdir -p` first, done here.
              if (old === null) fs.mkdirSync(path.dirname(c.input.file_path), { recursive: true });
              return old === null || old === '' ? { id: c.id, name: 'create', arguments: { path: c.input.file_path, file_text: c.input.content } } : { id: c.id, name: 'edit', arguments: { path: c.input.file_path, old_str: old, new_str: c.input.content } };
            }),
          };
        },
        { model: COPILOT_MODEL },
      ),
    run: (o) => runCopilot({ cwd: o.cwd, prompt: o.prompt, api: o.api, home: o.home, env: o.env, timeoutMs: o.timeoutMs, onSpawn: o.onSpawn }),
  };
}

function opencodeWire(): Wire {
  /** The ids of the `read` calls the wire made itself, and the agent's edit calls waiting on them. */
  const reads = new Set<string>();
  let held: { ids: string[]; calls: ChatCall[] } | null = null;
  let n = 0;
  return {
    client: 'opencode',
    init: ['--opencode'],
    texts: chatRequestTexts,
    start: (answer) =>
      startFakeChatApi(async (req) => {
        if (held !== null) {
          const got = new Set(chatToolResults(req).map((r) => r.tool_call_id));
          const h = held;
          if (h.ids.every((id) => got.has(id))) {
            held = null;
            return { calls: h.calls };
          }
        }
        const reply = await answer({ at: req.at, results: chatResults(req, reads), text: '' }, req);
        const calls = callsOf(reply);
        if (calls === null) return textOf(reply);
        const out = calls.map((c): ChatCall => {
          if (c.name === 'Bash') return { id: c.id, name: 'bash', arguments: { command: c.input.command, description: 'swarm step', timeout: SHELL_TIMEOUT_S * 1000 } };
          if (c.name === 'Write') return { id: c.id, name: 'write', arguments: { filePath: c.input.file_path, content: c.input.content } };
          return { id: c.id, name: 'edit', arguments: { filePath: c.input.file_path, oldString: c.input.old_string, newString: c.input.new_string } };
        });
        // OpenCode edits (and overwrites) only a file read since it last changed: read those first.
        const existing = calls.filter((c) => c.name !== 'Bash' && fs.existsSync(c.input.file_path));
        if (existing.length === 0) return { calls: out };
        const readCalls = existing.map((c): ChatCall => ({ id: `read_${++n}_${path.basename(c.input.file_path).replace(/\W/g, '_')}`, name: 'read', arguments: { filePath: c.input.file_path } }));
        for (const r of readCalls) reads.add(r.id!);
        held = { ids: readCalls.map((r) => r.id!), calls: out };
        return { calls: readCalls };
      }),
    run: (o) => runOpencode({ cwd: o.cwd, prompt: o.prompt, api: o.api, home: o.home, env: o.env, timeoutMs: o.timeoutMs, onSpawn: o.onSpawn }),
  };
}

/** Whether the client's pinned release is installed here (`npm run test:setup` installs them all). */
export function installed(client: SwarmClient): boolean {
  const find = { 'claude-code': claudeBinary, codex: codexBinary, gemini: geminiBinary, copilot: copilotBinary, opencode: opencodeBinary }[client];
  return find() !== null;
}

/** A wire for one session of `client` (each keeps its session's state). */
export function wireFor(client: SwarmClient): Wire {
  switch (client) {
    case 'claude-code':
      return claudeWire;
    case 'codex':
      return codexWire();
    case 'gemini':
      return geminiWire();
    case 'copilot':
      return copilotWire();
    case 'opencode':
      return opencodeWire();
  }
}
