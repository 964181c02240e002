/**
 * The bridge's translations (`koor-cli hook <client>`): a client's hook input → the
 * Claude-Code-shaped hook inputs Koor's endpoint takes (none, one, or one per file an edit touches),
 * and Koor's Claude-Code-shaped replies → what that client reads on the hook's stdout. Pure
 * functions, so each mapping is tested on its own.
 *
 * Sources: Claude Code — test/helpers/CLAUDE-CODE-FACTS.md (verified against the real client).
 * Cursor — cursor.com/docs/agent/hooks: common input `conversation_id`, `generation_id`,
 * `workspace_roots`; `preToolUse` → `{permission, user_message, agent_message}`; `sessionStart` and
 * `postToolUse` → `{additional_context}`; `stop` → `{followup_message}` (auto-submitted as the next
 * user message, at most 5 in a row); `beforeSubmitPrompt` → `{continue}` only. Codex — verified
 * with the real codex-cli 0.169.0 (test/helpers/CODEX-FACTS.md): Claude-Code-shaped input and
 * output; an output member outside the event's schema fails the hook (a deny with an extra member
 * was ignored and the tool ran), so only listed fields are printed; edits are `apply_patch` with
 * the patch text in `tool_input.command`, shell commands `Bash` with the command there; Codex fires
 * SessionEnd too.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type Client = 'claude-code' | 'cursor' | 'codex';
export const CLIENTS: readonly Client[] = ['claude-code', 'cursor', 'codex'];

type Obj = Record<string, unknown>;
/** The shell tool as Claude Code's hooks name it, and Codex's (`exec_command`) likewise. */
export const SHELL_TOOL = 'Bash';
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The repository a directory is in: the nearest ancestor holding `.git` (a clone or a worktree), else the directory. */
export function repoRootOf(dir: string): string {
  let d = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(path.join(d, '.git'))) return d;
    const up = path.dirname(d);
    if (up === d) return path.resolve(dir);
    d = up;
  }
}

// ---------------------------------------------------------------------------------------------
// Input.

/** What to send Koor for one client hook call. */
export interface Plan {
  /** Claude-Code-shaped hook inputs, in order; empty: nothing to ask (the reply is `none`). */
  inputs: Obj[];
  /** The client's event, for the reply. */
  event: string;
  /** The directory the session works in (for the repository root). */
  cwd: string;
}

/** Paths a Codex `apply_patch` patch touches (added, updated, deleted, moved to), resolved against cwd. */
export function patchFiles(patch: string, cwd: string): string[] {
  const out: string[] = [];
  for (const m of patch.matchAll(/^\*\*\* (?:(?:Add|Update|Delete) File|Move to): (.+?)\s*$/gm)) {
    const p = path.resolve(cwd, m[1]!);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** Cursor's edit tools (the names differ between releases); anything else is not guarded. */
const CURSOR_EDIT_TOOL = /^(write|edit|strreplace|str_replace|search_replace|multiedit|multi_edit|delete|delete_file|edit_file|editnotebook|edit_notebook|notebookedit|applypatch|apply_patch)$/i;
const FILE_KEYS = ['file_path', 'path', 'target_file', 'filePath', 'target_notebook', 'notebook_path'];

function filePathOf(toolInput: unknown, cwd: string): string | undefined {
  let ti = toolInput;
  if (typeof ti === 'string') {
    try {
      ti = JSON.parse(ti);
    } catch {
      return undefined;
    }
  }
  if (!isObj(ti)) return undefined;
  for (const k of FILE_KEYS) {
    const v = str(ti[k]);
    if (v !== undefined) return path.resolve(cwd, v);
  }
  return undefined;
}

/** A session id for Cursor input that names none: stable per workspace. */
export function workspaceSessionId(root: string): string {
  return `cursor-${createHash('sha256').update(root).digest('hex').slice(0, 16)}`;
}

function planCursor(input: Obj, fallbackCwd: string): Plan {
  const event = str(input.hook_event_name) ?? '';
  const roots = Array.isArray(input.workspace_roots) ? input.workspace_roots.filter((r): r is string => typeof r === 'string' && r !== '') : [];
  const cwd = str(input.cwd) ?? roots[0] ?? fallbackCwd;
  const base: Obj = {
    session_id: str(input.conversation_id) ?? str(input.session_id) ?? workspaceSessionId(repoRootOf(roots[0] ?? cwd)),
    transcript_path: str(input.transcript_path) ?? null,
    cwd,
  };
  const one = (hook_event_name: string, more: Obj = {}): Plan => ({ inputs: [{ ...base, hook_event_name, ...more }], event, cwd });
  const toolUse = str(input.tool_use_id) === undefined ? {} : { tool_use_id: input.tool_use_id };
  switch (event) {
    case 'sessionStart':
      return one('SessionStart', { source: 'startup' });
    case 'beforeSubmitPrompt':
      // A sign of life only: its reply cannot carry context, so a digest asked for here (a
      // UserPromptSubmit) would move the session's cursors past news the model never sees.
      return one('Notification');
    case 'preToolUse':
    case 'postToolUse': {
      const tool = str(input.tool_name) ?? '';
      const file = CURSOR_EDIT_TOOL.test(tool) ? filePathOf(input.tool_input, cwd) : undefined;
      if (event === 'preToolUse') {
        // Koor guards edits only (shell commands are not parsed: the pre-commit guard is the backstop).
        if (file === undefined) return { inputs: [], event, cwd };
        return one('PreToolUse', { tool_name: 'Edit', tool_input: { file_path: file }, ...toolUse });
      }
      const more: Obj = file === undefined ? { tool_name: tool, tool_input: isObj(input.tool_input) ? input.tool_input : {} } : { tool_name: 'Edit', tool_input: { file_path: file } };
      return one('PostToolUse', { ...more, tool_response: {}, ...toolUse });
    }
    case 'afterFileEdit': {
      const file = str(input.file_path);
      if (file === undefined) return { inputs: [], event, cwd };
      return one('PostToolUse', { tool_name: 'Edit', tool_input: { file_path: path.resolve(cwd, file) }, tool_response: {} });
    }
    case 'stop':
      return one('Stop', { stop_hook_active: typeof input.loop_count === 'number' && input.loop_count > 0 });
    case 'sessionEnd':
      return one('SessionEnd', { reason: str(input.reason) ?? 'other' });
    default:
      return { inputs: [], event, cwd };
  }
}

function planCodex(input: Obj, fallbackCwd: string): Plan {
  const event = str(input.hook_event_name) ?? '';
  const cwd = str(input.cwd) ?? fallbackCwd;
  if (event !== 'PreToolUse' && event !== 'PostToolUse') return { inputs: [input], event, cwd };
  const tool = str(input.tool_name) ?? '';
  const ti = isObj(input.tool_input) ? input.tool_input : {};
  if (tool === 'apply_patch') {
    const patch = str(ti.command) ?? str(ti.patch) ?? str(ti.input) ?? '';
    const files = patchFiles(patch, cwd);
    // One question per file the patch touches; each as an Edit of that file, as Claude Code would send it.
    return { inputs: files.map((f) => ({ ...input, tool_name: 'Edit', tool_input: { file_path: f }, ...(event === 'PostToolUse' ? { tool_response: {} } : {}) })), event, cwd };
  }
  const file = str(ti.file_path);
  if (file !== undefined) return { inputs: [{ ...input, tool_input: { ...ti, file_path: path.resolve(cwd, file) } }], event, cwd };
  // A shell command: not guarded (not parsed), but it runs from its PreToolUse to its PostToolUse
  // (Codex fires that when the command exits): Koor holds the agent busy meanwhile, as Claude Code's.
  return { inputs: event === 'PostToolUse' || tool === SHELL_TOOL ? [input] : [], event, cwd };
}

/** What to send Koor for one call of `client`'s hook with this input. */
export function plan(client: Client, input: Obj, fallbackCwd: string): Plan {
  if (client === 'cursor') return planCursor(input, fallbackCwd);
  if (client === 'codex') return planCodex(input, fallbackCwd);
  return { inputs: [input], event: str(input.hook_event_name) ?? '', cwd: str(input.cwd) ?? fallbackCwd };
}

// ---------------------------------------------------------------------------------------------
// Output.

interface Said {
  deny?: string;
  context: string[];
  /** A Stop hook's block: its reason continues the session. */
  block?: string;
}

/** What Koor's replies (Claude-Code-shaped) said, merged: the first deny, every distinct context, a Stop block. */
export function said(replies: readonly Obj[]): Said {
  const out: Said = { context: [] };
  for (const r of replies) {
    const hso = isObj(r.hookSpecificOutput) ? r.hookSpecificOutput : {};
    if (hso.permissionDecision === 'deny' && out.deny === undefined) out.deny = str(hso.permissionDecisionReason) ?? str(r.reason) ?? 'Koor denied this edit';
    const ctx = str(hso.additionalContext);
    if (ctx !== undefined && !out.context.includes(ctx)) out.context.push(ctx);
    if (r.decision === 'block' && out.block === undefined && str(r.reason)?.trim()) out.block = str(r.reason);
  }
  return out;
}

/**
 * The client's hook output for Koor's replies; null = print nothing. Claude Code's reply is Koor's
 * own (one call, printed as received); the others are rebuilt from what Koor said, with only the
 * fields their documentation names.
 */
export function reply(client: Client, p: Plan, replies: readonly Obj[]): Obj | null {
  if (client === 'claude-code') return replies[0] ?? null;
  const s = said(replies);
  const context = s.context.length > 0 ? s.context.join('\n') : undefined;
  if (client === 'cursor') {
    switch (p.event) {
      case 'preToolUse':
        return s.deny !== undefined ? { permission: 'deny', user_message: s.deny, agent_message: s.deny } : {};
      case 'sessionStart':
      case 'postToolUse':
        return context !== undefined ? { additional_context: context } : {};
      case 'beforeSubmitPrompt':
        // Never blocks a prompt; Cursor has no way to put context beside it.
        return { continue: true };
      case 'stop':
        return s.block !== undefined ? { followup_message: s.block } : {};
      default:
        return {};
    }
  }
  // Codex: Claude Code's shape, nothing it does not list (an unknown field fails the hook).
  switch (p.event) {
    case 'PreToolUse':
      if (s.deny !== undefined) return { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: s.deny } };
      return null;
    case 'SessionStart':
    case 'UserPromptSubmit':
    case 'PostToolUse':
      return context !== undefined ? { hookSpecificOutput: { hookEventName: p.event, additionalContext: context } } : null;
    case 'Stop':
      return s.block !== undefined ? { decision: 'block', reason: s.block } : null;
    default:
      return null;
  }
}

/** The output when Koor could not be asked (fail-open): the client's "go on". */
export function failOpen(client: Client, p: Plan): Obj | null {
  if (client !== 'cursor') return null;
  return p.event === 'beforeSubmitPrompt' ? { continue: true } : {};
}
