/**
 * What `koor-cli init --claude-code/--cursor/--codex` writes into a client's hook settings, and
 * how it merges with what is there: Koor's entries are recognised by what they run (an HTTP hook
 * whose URL path holds `/api/hooks/`, a command starting `koor-hook`, `koor-cli hook` or `koor-cli wait --hook`)
 * so a rerun replaces them in place, `--remove` takes them out, and everything else (the user's own
 * hooks, other keys, their order, the file's indentation) stays as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from '../core.js';
import { isObj } from './translate.js';

/** The environment variables the hooks pass to Koor (HTTP hooks interpolate only these). */
export const HOOK_ENV = ['KOOR_TOKEN', 'KOOR_AGENT_NAME', 'KOOR_PROJECT', 'KOOR_REPO_ROOT'] as const;

/**
 * The command hook of a client: koor-hook (cli/koor-hook.sh), which asks the resident helper in a
 * few milliseconds and falls back to `koor-cli hook <client>`, a Node start. On Windows, where
 * there may be no bash, the Node bridge itself (the same answers, slower).
 */
export function hookCommand(client: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? `koor-cli hook ${client}` : `koor-hook ${client}`;
}

/** Where a client's hooks post to: the one endpoint, Claude-Code-shaped input for every client. */
export const HOOK_PATH = '/api/hooks/claude-code';

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
  return typeof o.command === 'string' && /^koor-(cli (hook|wait --hook)|hook)(\s|$)/.test(o.command.trim());
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


/** A file's text, or null when it does not exist; any other failure is refused, naming the file as `shown`. */
export function readTextIfPresent(file: string, shown: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`cannot read ${shown}: ${(e as Error).message}`);
    return null;
  }
}

/** Reads a JSON object file (absent or blank = {}); anything else is refused, nothing is touched. */
export function readJsonFile(root: string, rel: string, cwd: string): JsonFile {
  const file = path.join(root, rel);
  const shown = path.relative(cwd, file) || rel;
  const before = readTextIfPresent(file, shown);
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
// What every client's hooks share.

/** The bridge's own budget is ~5 s; the client's limit is above it so the bridge always answers. */
export const BRIDGE_TIMEOUT_S = 10;
/** How long the background wake-up waits for news before it ends quietly (it is restarted at every Stop). */
export const WAKE_TIMEOUT_S = 3600;
