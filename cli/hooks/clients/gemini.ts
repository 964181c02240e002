/**
 * Gemini CLI, verified with the real @google/gemini-cli 0.61.0 (test/helpers/GEMINI-FACTS.md):
 * command hooks under `hooks` in `.gemini/settings.json` (Claude Code's layout: event → groups of
 * `{matcher, hooks: [{type: "command", command, timeout (ms)}]}`), each given a JSON input on
 * stdin (`session_id`, `transcript_path`, `cwd`, `hook_event_name`, `timestamp`, …) and answering
 * JSON on stdout. Its events map onto Claude Code's: SessionStart → SessionStart, BeforeAgent →
 * UserPromptSubmit, BeforeTool → PreToolUse, AfterTool → PostToolUse, AfterAgent → Stop,
 * SessionEnd → SessionEnd. Its edit tools are `write_file` and `replace` (`file_path`, as the
 * model wrote it: relative to `cwd` or absolute), its shell tool `run_shell_command` (`command`).
 * Answers: BeforeTool `{decision: "deny", reason}` blocks the tool (the model reads
 * `Tool execution blocked: <reason>` as the call's error); `hookSpecificOutput.additionalContext`
 * of SessionStart, BeforeAgent and AfterTool reaches the next request as `<hook_context>…`;
 * AfterAgent `{decision: "block", reason}` continues the session with the reason as a user message.
 * `init --gemini` writes .gemini/settings.json, command hooks through the bridge
 * `koor-hook gemini`.
 */
import path from 'node:path';
import { planJson } from '../file-plan.js';
import { BRIDGE_TIMEOUT_S, hookCommand, HOOK_ENV, mergeHookMap, objectAt, readJsonFile, withKey, type JsonFile } from '../files.js';
import { isObj, said, SHELL_TOOL, str } from '../translate.js';
import type { ClientAdapter, ClientPlanOptions, FilePlan, Obj, Plan } from './adapter.js';

/** Gemini's edit tools → the Claude Code tool Koor hears (both name their file `file_path`). */
const GEMINI_EDIT_TOOLS: Readonly<Record<string, string>> = { write_file: 'Write', replace: 'Edit' };
const GEMINI_SHELL_TOOL = 'run_shell_command';
/**
 * The tools whose BeforeTool Koor hears: the edits it guards and the shell, whose commands hold the
 * session's agent busy until their AfterTool. A matcher is a regular expression tested against the
 * tool name, unanchored: anchored here so that no other tool matches by a substring.
 */
export const GEMINI_PRE_TOOLS = `^(${[...Object.keys(GEMINI_EDIT_TOOLS), GEMINI_SHELL_TOOL].join('|')})$`;

/**
 * The variable the model's own `koor-cli` commands get the session id in, so that they act as the
 * session's agent (cli/core/http.ts sessionAgent). Gemini's shell tool names no session (its
 * commands get GEMINI_CLI=1 only), so the BeforeTool answer of a shell command that runs koor-cli
 * prefixes it with `export <this>=<session id>;` (Gemini runs the changed command and tells the
 * model, in ~12 tokens, that a hook changed its input). The name koor-cli reads today for a hook
 * session of any client (Koor's hook protocol is Claude Code's).
 */
const SESSION_ENV = 'CLAUDE_CODE_SESSION_ID';

/**
 * The variables koor-cli reads that Gemini must pass to the hooks and the shell tool: it strips
 * variables named like secrets (`*TOKEN*`, …) when `security.environmentVariableRedaction` is on,
 * and every variable not allowed when it runs in GitHub Actions (GITHUB_SHA set); the names in
 * `allowed` always pass.
 */
export const GEMINI_ALLOWED_ENV: readonly string[] = [...HOOK_ENV, 'KOOR_SERVER', 'KOOR_CA_FILE'];

const SETTINGS = path.join('.gemini', 'settings.json');

/** A shell command that runs koor-cli (a word of the command line, or a path ending in it). */
const RUNS_KOOR_CLI = /(^|[\s;&|(`$/])koor-cli(?=$|[\s;&|)`])/;
/** A session id safe to put in a command line unquoted (Gemini's are UUIDs). */
const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The Claude-Code-shaped tool of a Gemini tool call: name and input (edits: the file, absolute). */
function tool(input: Obj, cwd: string): { tool_name: string; tool_input: Obj; edit: boolean; shell: boolean } {
  const name = str(input.tool_name) ?? '';
  const ti = isObj(input.tool_input) ? input.tool_input : {};
  const as = GEMINI_EDIT_TOOLS[name];
  const file = str(ti.file_path);
  if (as !== undefined && file !== undefined) return { tool_name: as, tool_input: { file_path: path.resolve(cwd, file) }, edit: true, shell: false };
  if (name === GEMINI_SHELL_TOOL) {
    return { tool_name: SHELL_TOOL, tool_input: { command: str(ti.command) ?? '', ...(ti.is_background === true ? { run_in_background: true } : {}) }, edit: false, shell: true };
  }
  return { tool_name: name, tool_input: ti, edit: false, shell: false };
}

function planGemini(input: Obj, fallbackCwd: string): Plan {
  const event = str(input.hook_event_name) ?? '';
  const cwd = str(input.cwd) ?? fallbackCwd;
  const base: Obj = { session_id: input.session_id, transcript_path: str(input.transcript_path) ?? null, cwd };
  const one = (hook_event_name: string, more: Obj = {}): Plan => ({ inputs: [{ ...base, hook_event_name, ...more }], event, cwd });
  switch (event) {
    case 'SessionStart':
      return one('SessionStart', { source: str(input.source) ?? 'startup' });
    case 'BeforeAgent':
      return one('UserPromptSubmit', { prompt: typeof input.prompt === 'string' ? input.prompt : '' });
    case 'BeforeTool': {
      const t = tool(input, cwd);
      // Koor guards edits and holds the agent busy while a shell command runs; other tools: nothing to ask.
      if (!t.edit && !t.shell) return { inputs: [], event, cwd };
      return one('PreToolUse', { tool_name: t.tool_name, tool_input: t.tool_input });
    }
    case 'AfterTool': {
      const t = tool(input, cwd);
      return one('PostToolUse', { tool_name: t.tool_name, tool_input: t.tool_input, tool_response: {} });
    }
    case 'AfterAgent':
      return one('Stop', { stop_hook_active: input.stop_hook_active === true, last_assistant_message: typeof input.prompt_response === 'string' ? input.prompt_response : '' });
    case 'SessionEnd':
      return one('SessionEnd', { reason: str(input.reason) ?? 'other' });
    default:
      return { inputs: [], event, cwd };
  }
}

/**
 * A BeforeTool of a shell command that runs koor-cli: the command as Gemini should run it, with
 * the session id exported first (see SESSION_ENV); null for anything else.
 */
export function sessionCommand(p: Plan): string | null {
  const i = p.inputs[0];
  if (p.event !== 'BeforeTool' || i === undefined || i.tool_name !== SHELL_TOOL) return null;
  const command = isObj(i.tool_input) ? str(i.tool_input.command) : undefined;
  const id = str(i.session_id);
  if (command === undefined || id === undefined || !SAFE_ID.test(id) || !RUNS_KOOR_CLI.test(command)) return null;
  return `export ${SESSION_ENV}=${id}; ${command}`;
}

/** "Go on", with the session id handed to a koor-cli command of the model's. */
function goOn(p: Plan): Obj {
  const command = sessionCommand(p);
  return command === null ? {} : { hookSpecificOutput: { hookEventName: 'BeforeTool', tool_input: { command } } };
}

/**
 * Gemini's answer for Koor's replies. Never nothing: with an empty stdout Gemini reads the hook's
 * stderr as its answer (plain text: a message shown to the user), so "go on" is `{}`.
 */
function replyGemini(p: Plan, replies: readonly Obj[]): Obj {
  const s = said(replies);
  const context = s.context.length > 0 ? s.context.join('\n') : undefined;
  switch (p.event) {
    case 'BeforeTool':
      return s.deny !== undefined ? { decision: 'deny', reason: s.deny } : goOn(p);
    case 'SessionStart':
    case 'BeforeAgent':
    case 'AfterTool':
      return context !== undefined ? { hookSpecificOutput: { hookEventName: p.event, additionalContext: context } } : {};
    case 'AfterAgent':
      return s.block !== undefined ? { decision: 'block', reason: s.block } : {};
    default:
      return {};
  }
}

/**
 * Koor's hooks in Gemini's settings. Its timeouts are in milliseconds; Gemini waits for a
 * SessionEnd hook before it exits (verified with one of 3 s), so that one has the same.
 */
export function geminiHooks(): Record<string, unknown[]> {
  const bridge = { type: 'command', command: hookCommand('gemini'), timeout: BRIDGE_TIMEOUT_S * 1000 };
  return {
    SessionStart: [{ hooks: [bridge] }],
    BeforeAgent: [{ hooks: [bridge] }],
    BeforeTool: [{ matcher: GEMINI_PRE_TOOLS, hooks: [bridge] }],
    AfterTool: [{ hooks: [bridge] }],
    AfterAgent: [{ hooks: [bridge] }],
    SessionEnd: [{ hooks: [bridge] }],
  };
}

/**
 * `security.environmentVariableRedaction.allowed` with Koor's variables added (install) or taken
 * out (remove); every other member kept, and objects Koor's removal leaves empty dropped.
 */
function withAllowed(f: JsonFile, doc: Obj, install: boolean): Obj {
  const security = objectAt(f, doc, 'security', 'security');
  const redaction = security === undefined ? undefined : objectAt(f, security, 'environmentVariableRedaction', 'security.environmentVariableRedaction');
  const list = redaction?.allowed;
  if (list !== undefined && !Array.isArray(list)) return doc; // not a list: the user's business, left as it is
  const before = (list as unknown[] | undefined) ?? [];
  const ours = (v: unknown) => typeof v === 'string' && GEMINI_ALLOWED_ENV.includes(v);
  const after = install ? [...before, ...GEMINI_ALLOWED_ENV.filter((n) => !before.includes(n))] : before.filter((v) => !ours(v));
  if (after.length === before.length && after.every((v, k) => v === before[k])) return doc;
  const nextRedaction = withKey(redaction ?? {}, 'allowed', after.length > 0 || install ? after : undefined);
  const keepRedaction = Object.keys(nextRedaction).length > 0;
  const nextSecurity = withKey(security ?? {}, 'environmentVariableRedaction', keepRedaction ? nextRedaction : undefined);
  return withKey(doc, 'security', Object.keys(nextSecurity).length > 0 ? nextSecurity : undefined);
}

/**
 * `telemetry` with the OpenTelemetry export to Koor (install with --telemetry), or without it
 * (remove: when it names this server); otherwise as it is. Gemini sends OTLP/HTTP JSON only with
 * `otlpProtocol: "http"` (its default is gRPC), to `<otlpEndpoint>/v1/logs`, `/v1/traces` and
 * `/v1/metrics`; `logPrompts: false` keeps the prompts' text out of it.
 */
function withTelemetry(f: JsonFile, doc: Obj, o: ClientPlanOptions): Obj {
  const telemetry = objectAt(f, doc, 'telemetry', 'telemetry');
  if (o.install) return o.telemetry ? withKey(doc, 'telemetry', { ...telemetry, enabled: true, otlpEndpoint: o.server, otlpProtocol: 'http', logPrompts: false }) : doc;
  return telemetry?.otlpEndpoint === o.server ? withKey(doc, 'telemetry', undefined) : doc;
}

/** .gemini/settings.json: Koor's hooks and variables merged in (or taken out), the user's own settings and hooks kept. */
function filesGemini(root: string, cwd: string, o: ClientPlanOptions): FilePlan[] {
  const f = readJsonFile(root, SETTINGS, cwd);
  if (!o.install && f.before === null) return [planJson(f, null)];
  let doc = withKey(f.doc, 'hooks', mergeHookMap(f, objectAt(f, f.doc, 'hooks', 'hooks'), o.install ? geminiHooks() : null, 'hooks', 'groups'));
  doc = withAllowed(f, doc, o.install);
  doc = withTelemetry(f, doc, o);
  return [planJson(f, !o.install && Object.keys(doc).length === 0 ? null : doc)];
}

export const gemini: ClientAdapter = {
  name: 'gemini',
  title: 'Gemini CLI',
  initHelp: 'Also install Gemini CLI hooks (.gemini/settings.json; Gemini runs a project\'s hooks only in a trusted folder: trust it in gemini, or run it with --skip-trust)',
  installNote: "Gemini CLI runs a project's hooks only in a trusted folder: trust this one when gemini asks (or set GEMINI_CLI_TRUST_WORKSPACE=true)",
  plan: planGemini,
  reply: replyGemini,
  failOpen: goOn,
  files: filesGemini,
  // The export's headers come only from the environment (OTEL_EXPORTER_OTLP_HEADERS).
  telemetryNote: (_server, token) => (token ? 'Gemini CLI sends telemetry headers only from its environment: start it with OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $KOOR_TOKEN"' : null),
};
