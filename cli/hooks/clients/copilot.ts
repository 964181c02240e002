/**
 * GitHub Copilot CLI, verified with the real @github/copilot 1.0.102 (test/helpers/COPILOT-FACTS.md).
 * Copilot reads every `.github/hooks/*.json` of a trusted folder; `init --copilot` writes
 * `.github/hooks/koor.json`, command hooks through the bridge `koor-hook copilot`. The events
 * are given in their PascalCase spelling, which Copilot accepts beside its camelCase one: only then
 * does a hook's input name its event (`hook_event_name`, `session_id`, `cwd`, … — a camelCase
 * hook's input names none) and its tools by Claude Code's names (`create` → `Write`, `edit` and
 * `apply_patch` → `Edit`, `bash` → `Bash`, `view` → `Read`), which the matcher is tested against,
 * whole. Its tool input stays Copilot's: `create`/`edit` name their file `path` (absolute, or
 * relative to `cwd`), `apply_patch`'s input is the patch text itself, `bash` has `command`, `mode`
 * (`async`: it runs in the background) and `initial_wait` (s). Its answers are Copilot's own flat
 * ones: PreToolUse `{permissionDecision: "deny", permissionDecisionReason}` refuses the tool (a
 * whole patch), the model reading `Denied by preToolUse hook: <reason>` as the tool's result;
 * `{additionalContext}` of SessionStart (a user message before the prompt), UserPromptSubmit (a
 * `<system_reminder>` after it) and PostToolUse (after the tool's result) reaches the next request;
 * Stop `{decision: "block", reason}` continues the session with the reason as the next prompt.
 * Copilot refuses a tool whose PreToolUse hook fails (an exit status other than 0 and 2, e.g. 127
 * when koor-cli is not on PATH): the hooks end in `|| true`, so a missing bridge lets the session
 * go on, as the bridge itself does.
 */
import path from 'node:path';
import { hookFile } from '../file-plan.js';
import { BRIDGE_TIMEOUT_S, hookCommand } from '../files.js';
import { isObj, patchFiles, said, SHELL_TOOL, str } from '../translate.js';
import type { ClientAdapter, Obj, Plan } from './adapter.js';

/** The file `init --copilot` writes (Copilot loads every *.json there). */
export const COPILOT_HOOKS_FILE = path.join('.github', 'hooks', 'koor.json');

/** The edit tools Koor guards, as Copilot names them to PascalCase hooks (create → Write; edit, apply_patch → Edit). */
const COPILOT_EDIT_TOOLS: readonly string[] = ['Edit', 'Write'];

/** The tools whose PreToolUse Koor hears: the edits it guards, and the shell, whose commands hold the agent busy till their PostToolUse. */
export const COPILOT_PRE_TOOLS = [...COPILOT_EDIT_TOOLS, SHELL_TOOL].join('|');

/**
 * The bridge as Copilot runs it: a failing PreToolUse hook refuses the tool, so a missing
 * `koor-hook` (exit 127) must not fail the hook.
 */
export const COPILOT_BRIDGE = `${hookCommand('copilot')} || true`;

/** A Copilot edit's files, absolute: `path` of create/edit, or those an apply_patch patch (a string input) touches. */
function editedFiles(toolInput: unknown, cwd: string): string[] {
  if (typeof toolInput === 'string') return patchFiles(toolInput, cwd);
  if (!isObj(toolInput)) return [];
  const file = str(toolInput.path) ?? str(toolInput.file_path);
  return file === undefined ? [] : [path.resolve(cwd, file)];
}

/** A shell command as Claude Code's Bash would give it: its command, in the background when async, its wait (ms) as the timeout. */
function shellInput(ti: unknown): Obj {
  const o = isObj(ti) ? ti : {};
  const wait = typeof o.initial_wait === 'number' && Number.isFinite(o.initial_wait) && o.initial_wait > 0 ? { timeout: Math.ceil(o.initial_wait * 1000) } : {};
  return { command: str(o.command) ?? '', ...(o.mode === 'async' ? { run_in_background: true } : wait) };
}

function planCopilot(input: Obj, fallbackCwd: string): Plan {
  const event = str(input.hook_event_name) ?? '';
  const cwd = str(input.cwd) ?? fallbackCwd;
  const base: Obj = { session_id: str(input.session_id) ?? str(input.sessionId) ?? '', transcript_path: str(input.transcript_path) ?? null, cwd };
  const as = (hook_event_name: string, more: Obj = {}): Obj => ({ ...base, hook_event_name, ...more });
  const one = (hook_event_name: string, more: Obj = {}): Plan => ({ inputs: [as(hook_event_name, more)], event, cwd });
  const none: Plan = { inputs: [], event, cwd };
  if (base.session_id === '') return none;
  const tool = str(input.tool_name) ?? '';
  switch (event) {
    case 'SessionStart':
      return one('SessionStart', { source: input.source === 'resume' ? 'resume' : 'startup' });
    case 'UserPromptSubmit':
      return one('UserPromptSubmit', { prompt: typeof input.prompt === 'string' ? input.prompt : '' });
    case 'PreToolUse':
    case 'PostToolUse': {
      const post = event === 'PostToolUse' ? { tool_response: {} } : {};
      if (COPILOT_EDIT_TOOLS.includes(tool)) {
        // One question per file the edit touches (an apply_patch may touch several), each as an Edit of that file.
        const files = editedFiles(input.tool_input, cwd);
        return { inputs: files.map((f) => as(event, { tool_name: tool === 'Write' ? 'Write' : 'Edit', tool_input: { file_path: f }, ...post })), event, cwd };
      }
      if (tool === SHELL_TOOL) return one(event, { tool_name: SHELL_TOOL, tool_input: shellInput(input.tool_input), ...post });
      // Another tool: nothing to guard before it; after it, a chance to hear the news.
      return event === 'PreToolUse' ? none : one(event, { tool_name: tool, tool_input: isObj(input.tool_input) ? input.tool_input : {}, ...post });
    }
    case 'PostToolUseFailure':
      // A shell command that failed to run ends here (it holds its session busy till then).
      return tool === SHELL_TOOL ? one('PostToolUseFailure', { tool_name: SHELL_TOOL, tool_input: shellInput(input.tool_input), error: str(input.error) ?? '' }) : none;
    case 'Stop':
      return one('Stop', { stop_hook_active: input.stop_hook_active === true });
    case 'SessionEnd':
      return one('SessionEnd', { reason: str(input.reason) ?? 'other' });
    default:
      return none;
  }
}

/** Copilot's answer for Koor's replies: only the members its documentation names; null (print nothing) is "go on". */
function replyCopilot(p: Plan, replies: readonly Obj[]): Obj | null {
  const s = said(replies);
  const context = s.context.length > 0 ? s.context.join('\n') : undefined;
  switch (p.event) {
    case 'PreToolUse':
      return s.deny !== undefined ? { permissionDecision: 'deny', permissionDecisionReason: s.deny } : null;
    case 'SessionStart':
    case 'UserPromptSubmit':
    case 'PostToolUse':
      return context !== undefined ? { additionalContext: context } : null;
    case 'Stop':
      return s.block !== undefined ? { decision: 'block', reason: s.block } : null;
    default:
      return null;
  }
}

/** Koor's hooks in .github/hooks/koor.json (flat entries; `timeoutSec` in seconds). */
export function copilotHooks(): Record<string, unknown[]> {
  const bridge = (matcher?: string): Obj => ({ type: 'command', command: COPILOT_BRIDGE, ...(matcher !== undefined ? { matcher } : {}), timeoutSec: BRIDGE_TIMEOUT_S });
  return {
    SessionStart: [bridge()],
    UserPromptSubmit: [bridge()],
    PreToolUse: [bridge(COPILOT_PRE_TOOLS)],
    PostToolUse: [bridge()],
    PostToolUseFailure: [bridge(SHELL_TOOL)],
    Stop: [bridge()],
    SessionEnd: [bridge()],
  };
}

export const copilot: ClientAdapter = {
  name: 'copilot',
  title: 'GitHub Copilot CLI',
  initHelp: 'Also install GitHub Copilot CLI hooks (.github/hooks/koor.json; Copilot runs them in a trusted folder: trust it in copilot, or run copilot -p with COPILOT_ALLOW_ALL=true or --trust-folder)',
  installNote: 'Copilot CLI runs .github/hooks only in a trusted folder: trust this one when copilot asks (or run copilot with --trust-folder, or COPILOT_ALLOW_ALL=true)',
  plan: planCopilot,
  reply: replyCopilot,
  failOpen: () => null,
  files: (root, cwd, o) => [hookFile(root, cwd, COPILOT_HOOKS_FILE, o.install ? copilotHooks() : null, 'flat', { version: 1 })],
  // Copilot reads its OpenTelemetry settings from the environment only, and exports traces (a span per request to the model).
  telemetryNote: (server, token) =>
    `Copilot CLI takes its telemetry settings from its environment only: start it with OTEL_EXPORTER_OTLP_ENDPOINT=${server}${token ? ' OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $KOOR_TOKEN"' : ''}`,
};
