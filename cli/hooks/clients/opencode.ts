/**
 * OpenCode, verified with the real opencode-ai 1.18.33 (test/helpers/OPENCODE-FACTS.md). OpenCode
 * has no command or HTTP hooks: it loads a project's JavaScript plugins (`.opencode/plugins/*.js`)
 * into its own process, and their hook functions run around each tool call, prompt and session
 * event. `init --opencode` writes one such plugin, `.opencode/plugins/koor.js` (./opencode-plugin.ts
 * holds its text), which asks Koor's endpoint itself over HTTP: no process starts per tool call.
 *
 * The plugin's translation, OpenCode → Claude Code's hook protocol, is also this adapter's `plan`
 * (and the plugin's actions on Koor's replies its `reply`), so `koor-cli hook opencode` takes one
 * plugin hook call as JSON on stdin — `{hook, sessionID, directory, tool?, args?, parts?, event?}` —
 * and answers what the plugin would do: `{error}` (throw: the call is refused with this message),
 * `{append}` (added to the tool's output or the user message), `{context}` (SessionStart's
 * orientation, shown with the first prompt). The unit test holds both to the same cases.
 */
import path from 'node:path';
import { CliError } from '../../core.js';
import { isObj, patchFiles, said, SHELL_TOOL, str } from '../translate.js';
import type { ClientAdapter, ClientPlanOptions, FilePlan, Obj, Plan } from './adapter.js';
import { objectAt, readJsonFile, readTextIfPresent, withKey } from '../files.js';
import { planJson } from '../file-plan.js';
import { PLUGIN_MARK, pluginText } from './opencode-plugin.js';

/** OpenCode's edit tools naming one file (`args.filePath`) → the Claude Code tool Koor hears. */
const OPENCODE_EDIT_TOOLS: Readonly<Record<string, string>> = { write: 'Write', edit: 'Edit', multiedit: 'Edit' };
/** Its edit tools taking a patch (`args.patchText`, Codex's format): `apply_patch` is what GPT models get instead of edit/write. */
const OPENCODE_PATCH_TOOLS: readonly string[] = ['apply_patch', 'patch'];
const OPENCODE_SHELL_TOOL = 'bash';

/**
 * An OpenCode tool call as Claude Code's hooks name it, one per file of a patch; before it runs
 * (`after` false) only the edits and the shell concern Koor.
 */
export function toolCalls(tool: string, args: unknown, cwd: string, after: boolean): { tool_name: string; tool_input: Obj }[] {
  const a = isObj(args) ? args : {};
  const as = Object.hasOwn(OPENCODE_EDIT_TOOLS, tool) ? OPENCODE_EDIT_TOOLS[tool] : undefined;
  const file = str(a.filePath);
  if (as !== undefined && file !== undefined) return [{ tool_name: as, tool_input: { file_path: path.resolve(cwd, file) } }];
  if (OPENCODE_PATCH_TOOLS.includes(tool)) return patchFiles(String(a.patchText ?? a.patch ?? ''), cwd).map((f) => ({ tool_name: 'Edit', tool_input: { file_path: f } }));
  if (tool === OPENCODE_SHELL_TOOL) return [{ tool_name: SHELL_TOOL, tool_input: { command: typeof a.command === 'string' ? a.command : '', ...(typeof a.timeout === 'number' ? { timeout: a.timeout } : {}) } }];
  return after ? [{ tool_name: tool, tool_input: a }] : [];
}

/** The text of a user message's parts (Koor's own synthetic part left out). */
function promptOf(parts: unknown): string {
  if (!Array.isArray(parts)) return '';
  return parts
    .filter((x): x is Obj => isObj(x) && x.type === 'text' && typeof x.text === 'string' && x.synthetic !== true)
    .map((x) => x.text as string)
    .join('\n');
}

/** One plugin hook call (the JSON `koor-cli hook opencode` reads) → the Claude-Code-shaped inputs the plugin posts. */
function planOpencode(input: Obj, fallbackCwd: string): Plan {
  const hook = str(input.hook) ?? '';
  const cwd = str(input.directory) ?? fallbackCwd;
  const base: Obj = { session_id: str(input.sessionID) ?? '', transcript_path: null, cwd };
  const plan = (inputs: Obj[]): Plan => ({ inputs: inputs.map((i) => ({ ...base, ...i })), event: hook, cwd });
  const tool = str(input.tool) ?? '';
  const callId = str(input.callID) === undefined ? {} : { tool_use_id: input.callID };
  switch (hook) {
    case 'session.created': {
      // A task tool's sub-session is its parent's: nothing starts.
      const info = isObj(input.info) ? input.info : {};
      return plan(str(info.parentID) !== undefined ? [] : [{ hook_event_name: 'SessionStart', source: 'startup' }]);
    }
    case 'chat.message':
      return plan([{ hook_event_name: 'UserPromptSubmit', prompt: promptOf(input.parts) }]);
    case 'tool.execute.before':
      return plan(toolCalls(tool, input.args, cwd, false).map((c) => ({ hook_event_name: 'PreToolUse', ...c, ...callId })));
    case 'tool.execute.after':
      return plan(toolCalls(tool, input.args, cwd, true).map((c) => ({ hook_event_name: 'PostToolUse', ...c, tool_response: {}, ...callId })));
    case 'session.deleted':
    case 'dispose':
      return plan([{ hook_event_name: 'SessionEnd', reason: 'other' }]);
    default:
      return plan([]);
  }
}

/** What the plugin does with Koor's replies: throw (`error`), add to the output (`append`), keep the orientation (`context`); null: nothing. */
function replyOpencode(p: Plan, replies: readonly Obj[]): Obj | null {
  const s = said(replies);
  const context = s.context.length > 0 ? s.context.join('\n') : undefined;
  switch (p.event) {
    case 'tool.execute.before':
      return s.deny !== undefined ? { error: s.deny } : null;
    case 'tool.execute.after':
    case 'chat.message':
      return context !== undefined ? { append: context } : null;
    case 'session.created':
      return context !== undefined ? { context } : null;
    default:
      return null;
  }
}

/**
 * The plugin file of a client loading OpenCode plugins from `<dir>/plugins/` (OpenCode's
 * `.opencode`, Kilo's `.kilo`): written whole (install) or deleted (remove), and only when it is
 * Koor's (it begins with PLUGIN_MARK): a file of the user's by that name is refused, not replaced.
 */
function pluginFile(root: string, cwd: string, rel: string, o: ClientPlanOptions, params: { client: string; title: string }): FilePlan {
  const file = path.join(root, rel);
  const shown = path.relative(cwd, file) || rel;
  const before = readTextIfPresent(file, shown);
  const ours = before !== null && before.startsWith(PLUGIN_MARK);
  if (!o.install) return ours ? { file, text: null, outcome: 'removed', mode: 0o644 } : { file, text: before, outcome: 'unchanged', mode: 0o644 };
  if (before !== null && !ours) throw new CliError(`${shown} is not Koor's plugin; not touching it (move it away and rerun)`);
  const text = pluginText({ server: o.server, ...(o.repository ? { repository: o.repository } : {}), ...params });
  return { file, text, outcome: before === null ? 'created' : before === text ? 'unchanged' : 'updated', mode: 0o644 };
}

/** The project's OpenCode configuration, where its OpenTelemetry export is turned on. */
const OPENCODE_CONFIG = 'opencode.json';

/**
 * `init --opencode --telemetry`: `experimental.openTelemetry: true` in the project's opencode.json
 * (the rest kept); with --remove too, taken out again (the file removed if nothing else is left).
 * The exporter's endpoint comes from the environment only (telemetryNote).
 */
function telemetryFile(root: string, cwd: string, o: ClientPlanOptions): FilePlan[] {
  if (!o.telemetry) return [];
  if (readTextIfPresent(path.join(root, 'opencode.jsonc'), 'opencode.jsonc') !== null) throw new CliError('this project configures OpenCode in opencode.jsonc: add "experimental": {"openTelemetry": true} there by hand');
  const f = readJsonFile(root, OPENCODE_CONFIG, cwd);
  const experimental = objectAt(f, f.doc, 'experimental', 'experimental') ?? {};
  const next = withKey(experimental, 'openTelemetry', o.install ? true : undefined);
  const doc = withKey(f.doc, 'experimental', Object.keys(next).length > 0 ? next : undefined);
  return [planJson(f, !o.install && Object.keys(doc).length === 0 ? null : doc)];
}

/** The adapter of a client that loads OpenCode plugins from `<configDir>/plugins/` (`telemetry`: it exports spans Koor reads). */
export function pluginAdapter(a: { name: string; title: string; configDir: string; initHelp: string; telemetry?: boolean }): ClientAdapter {
  return {
    name: a.name,
    title: a.title,
    initHelp: a.initHelp,
    installNote: `${a.title} installs its plugin package the first time it starts here with a plugin (once per machine and clone, some seconds)`,
    plan: planOpencode,
    reply: replyOpencode,
    failOpen: () => null,
    files: (root, cwd, o) => [pluginFile(root, cwd, path.join(a.configDir, 'plugins', 'koor.js'), o, { client: a.name, title: a.title }), ...(a.telemetry ? telemetryFile(root, cwd, o) : [])],
    ...(a.telemetry
      ? {
          // The exporter's endpoint and headers come from the environment; spans carry whole prompts unless cut.
          telemetryNote: (server: string, token: boolean) =>
            `${a.title} takes its exporter's settings from its environment only: start it with OTEL_EXPORTER_OTLP_ENDPOINT=${server} OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=200${token ? ' OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $KOOR_TOKEN"' : ''} (the limit keeps whole prompts out of the spans)`,
        }
      : {}),
  };
}

/** Where OpenCode loads a project's plugins from (`.opencode/plugin/` works too). */
export const OPENCODE_PLUGIN = path.join('.opencode', 'plugins', 'koor.js');

export const opencode: ClientAdapter = pluginAdapter({
  name: 'opencode',
  title: 'OpenCode',
  configDir: '.opencode',
  initHelp: 'Also install the OpenCode plugin (.opencode/plugins/koor.js: it calls the server from inside OpenCode, no token in the file)',
  telemetry: true,
});
