/**
 * What `koor-cli init --claude-code/--cursor/--codex` writes into a client's hook settings, and
 * how it merges with what is there: Koor's entries are recognised by what they run (an HTTP hook
 * whose URL path holds `/api/hooks/`, a command starting `koor-cli hook` or `koor-cli wait --hook`)
 * so a rerun replaces them in place, `--remove` takes them out, and everything else (the user's own
 * hooks, other keys, their order, the file's indentation) stays as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from '../core.js';
import { SHELL_TOOL } from './translate.js';

/** The environment variables the hooks pass to Koor (HTTP hooks interpolate only these). */
export const HOOK_ENV = ['KOOR_TOKEN', 'KOOR_AGENT_NAME', 'KOOR_PROJECT', 'KOOR_REPO_ROOT'] as const;

/** Where a client's hooks post to: the one endpoint, Claude-Code-shaped input for every client. */
export const HOOK_PATH = '/api/hooks/claude-code';

/**
 * The tools whose PreToolUse Koor hears from Claude Code: the edit tools it guards, and the shell,
 * whose commands may run for minutes without a hook (Koor holds the agent busy, not stale, meanwhile).
 */
export const CLAUDE_PRE_TOOLS = `Edit|Write|MultiEdit|NotebookEdit|${SHELL_TOOL}`;

/**
 * The tools whose PreToolUse Koor hears from Codex: `apply_patch` (which `Edit` and `Write` match
 * too) and its shell tool (`exec_command`, hooked as `Bash`), whose PostToolUse comes when the
 * command exits, however many times the model polled it meanwhile (test/helpers/CODEX-FACTS.md).
 * Each shell command then starts the bridge once more (0.10–0.12 s here: a Node start, one request).
 */
export const CODEX_PRE_TOOLS = `apply_patch|Edit|Write|${SHELL_TOOL}`;

/** A Koor hook entry: what Koor wrote (and may rewrite or remove), whatever its version. */
export function isKoorHook(h: unknown): boolean {
  if (h === null || typeof h !== 'object') return false;
  const o = h as Record<string, unknown>;
  if (typeof o.url === 'string') {
    let p: string;
    try {
      p = new URL(o.url).pathname;
    } catch {
      p = o.url;
    }
    if (p.includes('/api/hooks/')) return true;
  }
  return typeof o.command === 'string' && /^koor-cli (hook|wait --hook)(\s|$)/.test(o.command.trim());
}

// ---------------------------------------------------------------------------------------------
// JSON files, written back in their own style.

type Obj = Record<string, unknown>;

export interface JsonFile {
  rel: string;
  file: string;
  /** The text as read; null when the file does not exist. */
  before: string | null;
  doc: Obj;
  /** The indentation the file uses (JSON.stringify's `space`): '' for a one-line file. */
  indent: string;
  /** The file ends with a newline. */
  eol: boolean;
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reads a JSON object file (absent or blank = {}); anything else is refused, nothing is touched. */
export function readJsonFile(root: string, rel: string, cwd: string): JsonFile {
  const file = path.join(root, rel);
  const shown = path.relative(cwd, file) || rel;
  let before: string | null = null;
  try {
    before = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`cannot read ${shown}: ${(e as Error).message}`);
  }
  let doc: Obj = {};
  let indent = '  ';
  let eol = true;
  if (before !== null && before.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(before);
    } catch (e) {
      throw new CliError(`invalid JSON in ${shown}: ${(e as Error).message}; not touching it`);
    }
    if (!isObj(parsed)) throw new CliError(`${shown} is not a JSON object; not touching it`);
    doc = parsed;
    const m = /\n([ \t]+)["}\]]/.exec(before);
    indent = m ? m[1]! : before.trim().includes('\n') ? '  ' : '';
    eol = before.endsWith('\n');
  }
  return { rel: shown, file, before, doc, indent, eol };
}

export function renderJson(f: JsonFile, doc: Obj): string {
  return JSON.stringify(doc, null, f.indent) + (f.eol ? '\n' : '');
}

/** An object member that must be an object when present (else the file is refused). */
export function objectAt(f: JsonFile, parent: Obj, key: string, where: string): Obj | undefined {
  const v = parent[key];
  if (v === undefined) return undefined;
  if (!isObj(v)) throw new CliError(`"${where}" in ${f.rel} is not an object; not touching it`);
  return v;
}

/**
 * `base` with `key` set to `value` (undefined: removed), keeping the order of the other members;
 * a new key goes last.
 */
export function withKey(base: Obj, key: string, value: unknown): Obj {
  const out: Obj = {};
  let placed = false;
  for (const [k, v] of Object.entries(base)) {
    if (k === key) {
      placed = true;
      if (value !== undefined) out[k] = value;
    } else out[k] = v;
  }
  if (!placed && value !== undefined) out[key] = value;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hook maps: { <event>: [ entry, … ] }, an entry being a matcher group (Claude Code, Codex:
// { matcher?, hooks: [hook, …] }) or a hook itself (Cursor: { command, … }).

export type Style = 'groups' | 'flat';

/**
 * One event's list with Koor's hooks taken out and `want` put where Koor's were (at the end when
 * there were none). A group that held only Koor hooks goes away; a group where the user added a
 * hook of their own keeps that hook.
 */
function mergeList(f: JsonFile, list: unknown, want: unknown[], where: string, style: Style): unknown[] {
  if (list !== undefined && !Array.isArray(list)) throw new CliError(`"${where}" in ${f.rel} is not a list; not touching it`);
  const out: unknown[] = [];
  let at = -1;
  for (const entry of (list as unknown[] | undefined) ?? []) {
    if (style === 'flat') {
      if (isKoorHook(entry)) {
        if (at === -1) at = out.length;
      } else out.push(entry);
      continue;
    }
    if (!isObj(entry) || !Array.isArray(entry.hooks)) {
      out.push(entry);
      continue;
    }
    const kept = entry.hooks.filter((h) => !isKoorHook(h));
    if (kept.length === entry.hooks.length) {
      out.push(entry);
      continue;
    }
    if (at === -1) at = out.length;
    if (kept.length > 0) out.push({ ...entry, hooks: kept });
  }
  out.splice(at === -1 ? out.length : at, 0, ...want);
  return out;
}

/**
 * The hook map with Koor's entries replaced by `want` (event → entries; null: Koor's removed).
 * Events keep their order, new ones go last; a list left empty and a map left empty are dropped.
 */
export function mergeHookMap(f: JsonFile, map: Obj | undefined, want: Record<string, unknown[]> | null, where: string, style: Style): Obj | undefined {
  const out: Obj = {};
  const events = [...Object.keys(map ?? {}), ...Object.keys(want ?? {}).filter((e) => !Object.hasOwn(map ?? {}, e))];
  for (const ev of events) {
    const merged = mergeList(f, map?.[ev], want?.[ev] ?? [], `${where}.${ev}`, style);
    const had = map !== undefined && Object.hasOwn(map, ev);
    // A list that was not Koor's stays even when empty; one emptied by taking Koor's out goes.
    if (merged.length > 0 || (had && Array.isArray(map[ev]) && (map[ev] as unknown[]).length === 0)) out[ev] = merged;
  }
  return Object.keys(out).length > 0 || (map !== undefined && Object.keys(map).length === 0) ? out : undefined;
}

// ---------------------------------------------------------------------------------------------
// What each client gets.

export interface HookParams {
  /** The server's base URL, no trailing slash. */
  server: string;
  /**
   * The repository's project (cli/project.ts: its origin remote, else its folder name), written
   * as is: the file is committed, and every clone of the repository has the same. The server takes
   * it when X-Koor-Project ($KOOR_PROJECT) is empty. '' or absent: no such header.
   */
  repository?: string;
}

function httpHook(p: HookParams): Obj {
  return {
    type: 'http',
    url: `${p.server}${HOOK_PATH}`,
    headers: {
      Authorization: 'Bearer $KOOR_TOKEN',
      'X-Koor-Agent-Name': '$KOOR_AGENT_NAME',
      'X-Koor-Project': '$KOOR_PROJECT',
      ...(p.repository ? { 'X-Koor-Repository': p.repository } : {}),
      'X-Koor-Repo-Root': '$KOOR_REPO_ROOT',
    },
    allowedEnvVars: [...HOOK_ENV],
    timeout: 5,
  };
}

/** The bridge's own budget is ~5 s; the client's limit is above it so the bridge always answers. */
const BRIDGE_TIMEOUT_S = 10;
/** How long the background wake-up waits for news before it ends quietly (it is restarted at every Stop). */
export const WAKE_TIMEOUT_S = 3600;

/**
 * Claude Code (.claude/settings.json): HTTP hooks for every event that can be one, the command
 * bridge for SessionStart (HTTP hooks are skipped there), and the background wake-up on Stop.
 */
export function claudeCodeHooks(p: HookParams): Record<string, unknown[]> {
  const http = httpHook(p);
  return {
    SessionStart: [{ hooks: [{ type: 'command', command: 'koor-cli hook claude-code', timeout: BRIDGE_TIMEOUT_S }] }],
    UserPromptSubmit: [{ hooks: [http] }],
    PreToolUse: [{ matcher: CLAUDE_PRE_TOOLS, hooks: [http] }],
    PostToolUse: [{ hooks: [http] }],
    // A shell command that failed or was interrupted ends here (it holds its session busy till then).
    PostToolUseFailure: [{ matcher: SHELL_TOOL, hooks: [http] }],
    Stop: [{ hooks: [http, { type: 'command', command: 'koor-cli wait --hook', asyncRewake: true, timeout: WAKE_TIMEOUT_S }] }],
    SessionEnd: [{ hooks: [http] }],
  };
}

/**
 * Codex (.codex/hooks.json in the repository root, a project config layer): command hooks only
 * (Codex has no HTTP hooks), all through the bridge. Verified with the real client
 * (test/helpers/CODEX-FACTS.md): `codex exec` fires all six events; its edits are `apply_patch`
 * calls, which a matcher of `apply_patch`, `Edit` or `Write` catches (one group: one call), its
 * shell commands `Bash` (held busy from PreToolUse to PostToolUse, as Claude Code's); Codex caps a
 * SessionEnd hook at 3 s (it warns at every start about a longer timeout).
 */
export const CODEX_SESSION_END_TIMEOUT_S = 3;
export function codexHooks(): Record<string, unknown[]> {
  const bridge = { type: 'command', command: 'koor-cli hook codex', timeout: BRIDGE_TIMEOUT_S };
  return {
    SessionStart: [{ hooks: [bridge] }],
    UserPromptSubmit: [{ hooks: [bridge] }],
    PreToolUse: [{ matcher: CODEX_PRE_TOOLS, hooks: [bridge] }],
    PostToolUse: [{ hooks: [bridge] }],
    Stop: [{ hooks: [bridge] }],
    SessionEnd: [{ hooks: [{ ...bridge, timeout: CODEX_SESSION_END_TIMEOUT_S }] }],
  };
}

/**
 * Cursor (.cursor/hooks.json): command hooks through the bridge. preToolUse has no matcher (tool
 * names differ between releases): the bridge asks Koor only about edits. beforeSubmitPrompt is left
 * out on purpose: its output cannot add context, so a digest answered there would be lost.
 */
export function cursorHooks(): Record<string, unknown[]> {
  const bridge = (): Obj => ({ command: 'koor-cli hook cursor' });
  return {
    sessionStart: [bridge()],
    preToolUse: [bridge()],
    postToolUse: [bridge()],
    stop: [bridge()],
    sessionEnd: [bridge()],
  };
}
