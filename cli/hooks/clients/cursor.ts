/**
 * Cursor, from its documentation (cursor.com/docs/agent/hooks; its agent is not published where a
 * test could run it): common input `conversation_id`, `generation_id`, `workspace_roots`;
 * `preToolUse` → `{permission, user_message, agent_message}`; `sessionStart` and `postToolUse` →
 * `{additional_context}`; `stop` → `{followup_message}` (auto-submitted as the next user message,
 * at most 5 in a row); `beforeSubmitPrompt` → `{continue}` only. `init --cursor` writes
 * .cursor/hooks.json, command hooks through the bridge `koor-hook cursor`.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { hookCommand } from '../files.js';
import { hookFile } from '../file-plan.js';
import { filePathOf, isObj, repoRootOf, said, str } from '../translate.js';
import type { ClientAdapter, Obj, Plan } from './adapter.js';

/** Cursor's edit tools (the names differ between releases); anything else is not guarded. */
const CURSOR_EDIT_TOOL = /^(write|edit|strreplace|str_replace|search_replace|multiedit|multi_edit|delete|delete_file|edit_file|editnotebook|edit_notebook|notebookedit|applypatch|apply_patch)$/i;
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

/**
 * Cursor (.cursor/hooks.json): command hooks through the bridge. preToolUse has no matcher (tool
 * names differ between releases): the bridge asks Koor only about edits. beforeSubmitPrompt is left
 * out on purpose: its output cannot add context, so a digest answered there would be lost.
 */
function cursorHooks(): Record<string, unknown[]> {
  const bridge = (): Obj => ({ command: hookCommand('cursor') });
  return {
    sessionStart: [bridge()],
    preToolUse: [bridge()],
    postToolUse: [bridge()],
    stop: [bridge()],
    sessionEnd: [bridge()],
  };
}

export const cursor: ClientAdapter = {
  name: 'cursor',
  title: 'Cursor',
  initHelp: 'Also install Cursor hooks (.cursor/hooks.json)',
  plan: planCursor,
  reply(p: Plan, replies: readonly Obj[]): Obj | null {
    const s = said(replies);
    const context = s.context.length > 0 ? s.context.join('\n') : undefined;
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
  },
  failOpen: (p) => (p.event === 'beforeSubmitPrompt' ? { continue: true } : {}),
  files: (root, cwd, o) => [hookFile(root, cwd, path.join('.cursor', 'hooks.json'), o.install ? cursorHooks() : null, 'flat', { version: 1 })],
};
