/**
 * The text of Koor's OpenCode plugin: the file `koor-cli init --opencode` writes to
 * `.opencode/plugins/koor.js` (Kilo: `.kilo/plugins/koor.js`). OpenCode has no command hooks; it
 * loads a project's JavaScript plugins into its own process at start, and a plugin's hook functions
 * run in-process around every tool call (test/helpers/OPENCODE-FACTS.md, verified with the real
 * opencode 1.18.33). So this plugin asks Koor's endpoint itself, over HTTP, from inside the client:
 * no process starts per tool call.
 *
 * What it does, mapped onto Claude Code's hook protocol (POST /api/hooks/claude-code):
 * - `session.created` (a session that has no parent) → SessionStart; the orientation Koor answers
 *   goes into the session's first user message. A task tool's sub-session is its parent's: its
 *   tool calls count as the parent session's.
 * - `chat.message` (a user prompt) → UserPromptSubmit; Koor's news becomes one more (synthetic)
 *   text part of that user message.
 * - `tool.execute.before` of an edit (`write`, `edit`, `multiedit`: `filePath`; `apply_patch`:
 *   every file of its `patchText`) → PreToolUse as an Edit/Write of each file (the held ones asked
 *   first, so a refused patch leases nothing); a refusal throws Koor's reason, which OpenCode hands
 *   the model as the tool call's result (the tool does not run). The shell tool (`bash`) →
 *   PreToolUse Bash, which holds the agent busy while the command runs.
 * - `tool.execute.after` of any tool → PostToolUse; Koor's news is appended to the tool's output,
 *   which the model reads in its next request. A failed `bash` call (its part in state `error`) →
 *   PostToolUseFailure.
 * - `session.deleted`, and the plugin's `dispose` (OpenCode awaits it at exit) → SessionEnd: the
 *   session's agent goes, with its leases.
 * - `shell.env` → the shell tool's commands get CLAUDE_CODE_SESSION_ID (the session), so the model's
 *   own `koor-cli` calls act as the session's agent, and KOOR_SERVER when unset.
 *
 * No secret in the file: the token is read when the plugin runs, from KOOR_TOKEN or the user's Koor
 * config (where `koor-cli config set token` puts it), as koor-cli does. Any failure — no server, an
 * error status, a reply past TIMEOUT_MS — lets the session go on as if Koor had nothing to say;
 * after a timeout Koor is not asked again for QUIET_MS.
 */

/** Marks the file as Koor's: init rewrites or removes only a file that starts with it. */
export const PLUGIN_MARK = '// Koor plugin for';

export interface PluginParams {
  /** The Koor server's base URL, no trailing slash (KOOR_SERVER overrides it at run time). */
  server: string;
  /** The repository's project as init found it (X-Koor-Repository); '' or absent: none. */
  repository?: string;
  /** Which client loads it: X-Koor-Client, and the agent names it derives. */
  client: string;
  /** For people: `OpenCode`. */
  title: string;
}

/** The plugin module's text (an ES module without dependencies: OpenCode runs it in its Bun). */
export function pluginText(p: PluginParams): string {
  return `${PLUGIN_MARK} ${p.title}, written by \`koor-cli init --${p.client}\`: rerun it to update this file,
// \`koor-cli init --remove --${p.client}\` to remove it. It tells the Koor server about this session's
// prompts, edits, shell commands and end, refuses an edit of a file another agent holds, and adds
// what concerns this agent to the model's context. No secret here: the token comes from KOOR_TOKEN
// or the user's Koor config when it runs. Whatever goes wrong, the session goes on without Koor.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SERVER = ${JSON.stringify(p.server)};
const REPOSITORY = ${JSON.stringify(p.repository ?? '')};
const CLIENT = ${JSON.stringify(p.client)};
const HOOK_PATH = '/api/hooks/claude-code';
/** After a timeout, Koor is not asked again for this long. */
const QUIET_MS = 15000;
/** The edit tools and the Claude Code tool each is asked about as (their file: args.filePath). */
const EDITS = { write: 'Write', edit: 'Edit', multiedit: 'Edit' };
/** The edit tools whose args.patchText names the files (Codex's patch format). */
const PATCHES = ['apply_patch', 'patch'];
const SHELL = 'bash';
/** The variable koor-cli reads a hook session's id from, to act as its agent. */
const SESSION_ENV = 'CLAUDE_CODE_SESSION_ID';

const env = (k) => (typeof process.env[k] === 'string' ? process.env[k].replace(/[\\r\\n]/g, '').trim() : '');
/** A reply later than this is not waited for (the server holds news answered late for the next one); KOOR_TIMEOUT (seconds) shortens it. */
const TIMEOUT_MS = Number(env('KOOR_TIMEOUT')) > 0 ? Math.min(Number(env('KOOR_TIMEOUT')) * 1000, 5000) : 5000;

function userConfig() {
  const xdg = env('XDG_CONFIG_HOME');
  const file = xdg !== '' && path.isAbsolute(xdg) ? path.join(xdg, 'koor', 'config.json')
    : process.platform === 'win32' && env('APPDATA') !== '' ? path.join(env('APPDATA'), 'koor', 'config.json')
    : path.join(env('HOME') || os.homedir(), '.config', 'koor', 'config.json');
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8'));
    return v !== null && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

/** The nearest directory at or above dir holding .git, else dir. */
function repoRootOf(dir) {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) return path.resolve(dir);
  }
}

/** Files an apply_patch patch touches (added, updated, deleted, moved to), absolute. */
function patchFiles(patch, cwd) {
  const out = [];
  for (const m of String(patch).matchAll(/^\\*\\*\\* (?:(?:Add|Update|Delete) File|Move to): (.+?)\\s*$/gm)) {
    const f = path.resolve(cwd, m[1]);
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

/** A tool call as Claude Code's hooks name it: [{tool_name, tool_input}], one per file of a patch; [] when Koor has no business with it before it runs. */
function toolCalls(tool, args, cwd, after) {
  const a = args !== null && typeof args === 'object' ? args : {};
  if (Object.hasOwn(EDITS, tool) && typeof a.filePath === 'string' && a.filePath !== '') return [{ tool_name: EDITS[tool], tool_input: { file_path: path.resolve(cwd, a.filePath) } }];
  if (PATCHES.includes(tool)) return patchFiles(a.patchText ?? a.patch ?? '', cwd).map((f) => ({ tool_name: 'Edit', tool_input: { file_path: f } }));
  if (tool === SHELL) return [{ tool_name: 'Bash', tool_input: { command: typeof a.command === 'string' ? a.command : '', ...(typeof a.timeout === 'number' ? { timeout: a.timeout } : {}) } }];
  return after ? [{ tool_name: tool, tool_input: a }] : [];
}

/** The text of a user message's parts. */
const promptOf = (parts) => (Array.isArray(parts) ? parts.filter((x) => x && x.type === 'text' && typeof x.text === 'string' && !x.synthetic).map((x) => x.text).join('\\n') : '');

/** Koor's reply: a refusal's reason, and its context for the model. */
function said(reply) {
  const h = reply && typeof reply.hookSpecificOutput === 'object' && reply.hookSpecificOutput !== null ? reply.hookSpecificOutput : {};
  const deny = h.permissionDecision === 'deny' ? String(h.permissionDecisionReason || reply.reason || 'Koor refused this edit') : undefined;
  const context = typeof h.additionalContext === 'string' && h.additionalContext.trim() !== '' ? h.additionalContext : undefined;
  return { deny, context };
}

export const KoorPlugin = async ({ directory, worktree }) => {
  const cwd = directory || worktree || process.cwd();
  const root = env('KOOR_REPO_ROOT') || repoRootOf(cwd);
  const project = env('KOOR_PROJECT') || REPOSITORY || path.basename(root);
  const server = (env('KOOR_SERVER') || SERVER).replace(/\\/+$/, '');
  let config = null;
  const token = () => env('KOOR_TOKEN') || String((config ??= userConfig()).token || '');
  let quietUntil = 0;
  /** Session → its parent (task sub-sessions). */
  const parents = new Map();
  /** Root session → { chain: its calls in order, start: its SessionStart, orientation: not yet shown, ended }. */
  const sessions = new Map();
  const rootOf = (id) => {
    for (let i = 0; parents.has(id) && i < 32; i++) id = parents.get(id);
    return id;
  };

  function headers(id) {
    const h = { 'content-type': 'application/json', 'x-koor-client': CLIENT, 'x-koor-repo-root': root };
    const t = token();
    if (t !== '') h.authorization = \`Bearer \${t}\`;
    // Named for the client and the session's random tail (OpenCode's ids begin with the time).
    h['x-koor-agent-name'] = env('KOOR_AGENT_NAME') || \`\${CLIENT}-\${path.basename(root).slice(0, 64)}-\${id.replace(/[^A-Za-z0-9]/g, '').slice(-8)}\`;
    if (env('KOOR_PROJECT') !== '') h['x-koor-project'] = env('KOOR_PROJECT');
    if (REPOSITORY !== '') h['x-koor-repository'] = REPOSITORY;
    return h;
  }

  /** One request to Koor; its JSON reply, or null whatever went wrong (the session goes on). */
  async function post(id, urlPath, body) {
    if (Date.now() < quietUntil) return null;
    try {
      const r = await fetch(server + urlPath, { method: 'POST', headers: headers(id), body: JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS) });
      const text = await r.text();
      if (r.status < 200 || r.status > 299) return null;
      const v = text.trim() === '' ? {} : JSON.parse(text);
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null;
    } catch (e) {
      if (e && (e.name === 'TimeoutError' || e.name === 'AbortError')) quietUntil = Date.now() + QUIET_MS;
      return null;
    }
  }

  /** Koor's replies to these hook inputs of session id, asked in order (an edit stops at the first refusal). */
  async function askAll(id, inputs) {
    const replies = [];
    for (const input of inputs) {
      const r = await post(id, HOOK_PATH, { session_id: id, transcript_path: null, cwd, ...input });
      if (r === null) break;
      replies.push(r);
      if (said(r).deny !== undefined) break;
    }
    return replies;
  }

  /** The session's state; calls of one session run one after another, in the order they came. */
  function session(id) {
    let s = sessions.get(id);
    if (s === undefined) {
      s = { chain: Promise.resolve(), start: null, orientation: null, ended: false };
      sessions.set(id, s);
    }
    return s;
  }
  function inOrder(id, fn) {
    const s = session(id);
    const run = s.chain.then(fn, fn);
    s.chain = run.then(() => undefined, () => undefined);
    return run;
  }
  /** SessionStart, once per session (source "resume" for one the plugin did not see created). */
  function start(id, source) {
    const s = session(id);
    s.start ??= inOrder(id, async () => {
      const [r] = await askAll(id, [{ hook_event_name: 'SessionStart', source }]);
      s.orientation = r === undefined ? null : (said(r).context ?? null);
    });
    return s.start;
  }
  async function end(id) {
    const s = sessions.get(id);
    if (s === undefined || s.ended) return;
    s.ended = true;
    await inOrder(id, () => askAll(id, [{ hook_event_name: 'SessionEnd', reason: 'other' }]));
  }

  /** An edit touching several files: the files another agent holds asked first, so a refusal comes before any is leased. */
  async function heldFirst(id, calls) {
    if (calls.length < 2) return calls;
    const rel = (c) => path.relative(root, c.tool_input.file_path).split(path.sep).join('/');
    const paths = calls.map(rel);
    if (paths.some((p) => p === '' || p.startsWith('..') || path.isAbsolute(p))) return calls;
    const held = await (async () => {
      if (Date.now() < quietUntil) return null;
      try {
        const r = await fetch(server + '/api/leases/check', { method: 'POST', headers: headers(id), body: JSON.stringify({ paths, project }), signal: AbortSignal.timeout(TIMEOUT_MS) });
        return r.status === 200 ? await r.json() : null;
      } catch {
        return null;
      }
    })();
    if (!Array.isArray(held)) return calls;
    const leased = new Set(held.map((h) => h && h.path));
    return [...calls.filter((_, k) => leased.has(paths[k])), ...calls.filter((_, k) => !leased.has(paths[k]))];
  }

  return {
    event: async ({ event }) => {
      try {
        const p = event && event.properties ? event.properties : {};
        if (event.type === 'session.created') {
          const info = p.info || {};
          if (typeof info.parentID === 'string' && info.parentID !== '') parents.set(info.id, info.parentID);
          else if (typeof info.id === 'string') await start(info.id, 'startup');
        } else if (event.type === 'session.deleted') {
          const info = p.info || {};
          if (typeof info.id === 'string' && !parents.has(info.id)) await end(info.id);
        } else if (event.type === 'message.part.updated') {
          const part = p.part || {};
          if (part.type === 'tool' && part.tool === SHELL && part.state && part.state.status === 'error') {
            const id = rootOf(part.sessionID);
            if (sessions.has(id)) {
              const [call] = toolCalls(SHELL, part.state.input, cwd, true);
              await inOrder(id, () => askAll(id, [{ hook_event_name: 'PostToolUseFailure', ...call, tool_use_id: part.callID, error: String(part.state.error || '') }]));
            }
          }
        }
      } catch {
        // fail open
      }
    },

    'chat.message': async (input, output) => {
      try {
        const id = rootOf(input.sessionID);
        await start(id, 'resume');
        const texts = await inOrder(id, async () => {
          const s = session(id);
          const out = s.orientation !== null ? [s.orientation] : [];
          s.orientation = null;
          const [r] = await askAll(id, [{ hook_event_name: 'UserPromptSubmit', prompt: promptOf(output.parts) }]);
          const context = r === undefined ? undefined : said(r).context;
          if (context !== undefined) out.push(context);
          return out;
        });
        if (texts.length > 0 && output.message) {
          output.parts.push({ id: \`prt_koor\${Date.now().toString(36)}\${Math.random().toString(36).slice(2, 8)}\`, sessionID: input.sessionID, messageID: output.message.id, type: 'text', text: texts.join('\\n\\n'), synthetic: true });
        }
      } catch {
        // fail open
      }
    },

    'tool.execute.before': async (input, output) => {
      let deny;
      try {
        const calls = toolCalls(input.tool, output.args, cwd, false);
        if (calls.length > 0) {
          const id = rootOf(input.sessionID);
          await start(id, 'resume');
          const replies = await inOrder(id, async () => askAll(id, (await heldFirst(id, calls)).map((c) => ({ hook_event_name: 'PreToolUse', ...c, tool_use_id: input.callID }))));
          deny = replies.map((r) => said(r).deny).find((d) => d !== undefined);
        }
      } catch {
        deny = undefined;
      }
      // OpenCode hands the model this message as the call's result; the tool does not run.
      if (deny !== undefined) throw new Error(deny);
    },

    'tool.execute.after': async (input, output) => {
      try {
        const id = rootOf(input.sessionID);
        if (!sessions.has(id)) return;
        const calls = toolCalls(input.tool, input.args, cwd, true);
        const replies = await inOrder(id, () => askAll(id, calls.map((c) => ({ hook_event_name: 'PostToolUse', ...c, tool_response: {}, tool_use_id: input.callID }))));
        const contexts = [...new Set(replies.map((r) => said(r).context).filter((c) => c !== undefined))];
        if (contexts.length > 0 && output && typeof output.output === 'string') output.output += \`\\n\\n\${contexts.join('\\n')}\`;
      } catch {
        // fail open
      }
    },

    'shell.env': async (input, output) => {
      try {
        if (typeof input.sessionID === 'string' && input.sessionID !== '') output.env[SESSION_ENV] = rootOf(input.sessionID);
        if (env('KOOR_SERVER') === '') output.env.KOOR_SERVER = server;
      } catch {
        // fail open
      }
    },

    dispose: async () => {
      try {
        await Promise.all([...sessions.keys()].map((id) => end(id)));
      } catch {
        // fail open
      }
    },
  };
};
`;
}
