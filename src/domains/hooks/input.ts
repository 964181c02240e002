import path from 'node:path';
import type { HookSession } from '../../../schemas/rpc/writer.js';
import { HOOK_BUSY_MAX_MS, type HookBusy } from '../../../schemas/rpc/writer-hooks.js';
import type { Role } from '../../identity.js';
import { INSTANCE_FIELD_MAX_BYTES } from '../../shared/limits.js';
import { clipUtf8 } from '../instances/fields.js';
import { HOOK_SHELL_BUSY_DEFAULT_MS } from '../../shared/limits-features.js';

/**
 * What a hook's request says — its input, its headers' context, its caller — and what is read
 * off it without the database: the file an edit names, the shell command a session runs, the
 * name of an agent its client did not name.
 */

/** The tools that change a file, and where their input names it (Claude Code's documented tool inputs). */
export const EDIT_TOOLS: Readonly<Record<string, string>> = { Edit: 'file_path', Write: 'file_path', MultiEdit: 'file_path', NotebookEdit: 'notebook_path' };
/** The shell tool, whose commands (a build, a test run) may run for minutes without a hook. */
export const SHELL_TOOL = 'Bash';

/** A hook's answer (Claude Code's hook output); NOTHING: nothing to say, the tool goes ahead. */
export type HookOutput = Record<string, unknown>;
export const NOTHING: HookOutput = {};

/** The part of a hook's input Koor reads (Claude Code's documented hook input; other members are ignored). */
export interface HookInput {
  session_id: string;
  hook_event_name: string;
  cwd?: string;
  tool_name?: string;
  tool_input?: Record<string, unknown>;
  stop_hook_active?: boolean;
  source?: string;
}

/** What the installer passes in headers: the agent's name, its project, the repository root on its machine. */
export interface HookContext {
  agentName: string;
  project: string;
  repoRoot: string;
  client: string;
  /** Who calls: the operator drives any session; a token, only the sessions of agents it registered. */
  caller: HookCaller;
  /** When the hook's request arrived (performance.now()): a digest answered late is also held for the next one. */
  arrivedMs: number;
}

export interface HookCaller {
  role: Role;
  /** The created token calling (null: the server token, an instance token, open mode). */
  tokenId: string | null;
  /** The agent the caller acts as, if any. */
  instanceId: string | null;
  /** A scoped token's scopes (null: what its role reaches): the session's project and auto-leased files stay inside them. */
  scopes: readonly string[] | null;
}

/**
 * What a session's agent records as the token that bound it (its instance's `token_id`): a created
 * token's id — that token then acts as the agent with X-Koor-Instance too —, `instance:<id>` for
 * an agent's own instance token, null for the operator. Only the same owner drives the session.
 */
export const ownerOf = (c: HookCaller): string | null => c.tokenId ?? (c.role !== 'admin' && c.instanceId !== null ? `instance:${c.instanceId}` : null);

/** Whether `c` may drive a session of agent `instanceId` that the owner `boundBy` bound (null: not known here): the operator, that agent, or that owner. */
export const drives = (c: HookCaller, instanceId: string, boundBy: string | null): boolean =>
  c.role === 'admin' || c.instanceId === instanceId || (boundBy !== null && ownerOf(c) === boundBy);

/** A relative path with a `.`, `..` or empty segment (a slash first, last or doubled): path.resolve normalizes it. */
const PATH_TO_NORMALIZE = /(^|\/)\.{1,2}(\/|$)|\/\/|\/$|^\//;

/** A path Claude Code gave (absolute, or relative to the session's cwd) relative to the repository root; null outside it. */
export function repoRelative(root: string, cwd: string, file: string): string | null {
  // The usual case, an absolute path under the root with no `.`, `..` or empty segment, needs no resolving.
  if (root.length > 1 && file.length > root.length + 1 && file.charCodeAt(root.length) === 47 && file.startsWith(root)) {
    const rest = file.slice(root.length + 1);
    if (!PATH_TO_NORMALIZE.test(rest) && !root.endsWith('/')) return rest;
  }
  const abs = path.resolve(cwd || root, file);
  const rel = path.relative(root, abs).split(path.sep).join('/');
  if (rel === '' || rel.startsWith('../') || rel === '..' || path.isAbsolute(rel)) return null;
  return rel;
}

/** The file an edit hook names, relative to the session's repository root; null for another tool, or a file outside the root. */
export function editedPath(s: Pick<HookSession, 'repo_root'>, input: HookInput): string | null {
  const field = input.tool_name !== undefined ? EDIT_TOOLS[input.tool_name] : undefined;
  const file = field !== undefined ? input.tool_input?.[field] : undefined;
  if (typeof file !== 'string' || s.repo_root === '') return null;
  return repoRelative(s.repo_root, input.cwd ?? '', file);
}

/**
 * What a hook says of the shell commands its session runs: one starts at PreToolUse, for its own
 * `timeout` (or the client's default) — none when it runs in the background, which returns at
 * once —; one ends at its PostToolUse or PostToolUseFailure (a failure or an interrupt; hooks
 * installed before it was hooked end it at the turn's Stop); none runs at the turn's Stop. Null:
 * nothing to write (anything else, or an end or Stop when `held`, whether a command may be
 * counted, is false).
 */
export function busyChange(input: HookInput, held: boolean): HookBusy | null {
  const event = input.hook_event_name;
  if (event === 'Stop') return held ? 'clear' : null;
  if (input.tool_name !== SHELL_TOOL || input.tool_input?.run_in_background === true) return null;
  if (event === 'PostToolUse' || event === 'PostToolUseFailure') return held ? 'end' : null;
  if (event !== 'PreToolUse') return null;
  const t = input.tool_input?.timeout;
  return { ms: typeof t === 'number' && Number.isFinite(t) && t > 0 ? Math.min(Math.ceil(t), HOOK_BUSY_MAX_MS) : HOOK_SHELL_BUSY_DEFAULT_MS };
}

/**
 * The name of a session's agent when its client gives none: `claude-<repository folder>-<first 8
 * of the session id>`, the folder cut so the name stays within an agent name's limit.
 */
export function derivedName(client: string, repo: string, sessionId: string): string {
  const head = `${client === 'claude-code' ? 'claude' : client}-`;
  const tail = `-${sessionId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8)}`;
  return head + clipUtf8(repo, INSTANCE_FIELD_MAX_BYTES.name - Buffer.byteLength(head) - Buffer.byteLength(tail)) + tail;
}
