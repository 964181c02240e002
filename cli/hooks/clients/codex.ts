/**
 * Codex, verified with the real codex-cli 0.169.0 (test/helpers/CODEX-FACTS.md): Claude-Code-shaped
 * input and output; an output member outside the event's schema fails the hook (a deny with an
 * extra member was ignored and the tool ran), so only listed fields are printed; edits are
 * `apply_patch` with the patch text in `tool_input.command`, shell commands `Bash` with the command
 * there; Codex fires SessionEnd too. `init --codex` writes .codex/hooks.json, command hooks through
 * the bridge `koor-hook codex`.
 */
import path from 'node:path';
import { hookFile } from '../file-plan.js';
import { BRIDGE_TIMEOUT_S, hookCommand } from '../files.js';
import { isObj, patchFiles, said, SHELL_TOOL, str } from '../translate.js';
import type { ClientAdapter, Obj, Plan } from './adapter.js';

/**
 * The tools whose PreToolUse Koor hears from Codex: `apply_patch` (which `Edit` and `Write` match
 * too) and its shell tool (`exec_command`, hooked as `Bash`), whose PostToolUse comes when the
 * command exits, however many times the model polled it meanwhile (test/helpers/CODEX-FACTS.md).
 * Each shell command then starts the bridge once more (0.10–0.12 s here: a Node start, one request).
 */
const CODEX_PRE_TOOLS = `apply_patch|Edit|Write|${SHELL_TOOL}`;

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

/**
 * Codex (.codex/hooks.json in the repository root, a project config layer): command hooks only
 * (Codex has no HTTP hooks), all through the bridge. Verified with the real client
 * (test/helpers/CODEX-FACTS.md): `codex exec` fires all six events; its edits are `apply_patch`
 * calls, which a matcher of `apply_patch`, `Edit` or `Write` catches (one group: one call), its
 * shell commands `Bash` (held busy from PreToolUse to PostToolUse, as Claude Code's); Codex caps a
 * SessionEnd hook at 3 s (it warns at every start about a longer timeout).
 */
const CODEX_SESSION_END_TIMEOUT_S = 3;
function codexHooks(): Record<string, unknown[]> {
  const bridge = { type: 'command', command: hookCommand('codex'), timeout: BRIDGE_TIMEOUT_S };
  return {
    SessionStart: [{ hooks: [bridge] }],
    UserPromptSubmit: [{ hooks: [bridge] }],
    PreToolUse: [{ matcher: CODEX_PRE_TOOLS, hooks: [bridge] }],
    PostToolUse: [{ hooks: [bridge] }],
    Stop: [{ hooks: [bridge] }],
    SessionEnd: [{ hooks: [{ ...bridge, timeout: CODEX_SESSION_END_TIMEOUT_S }] }],
  };
}

export const codex: ClientAdapter = {
  name: 'codex',
  title: 'Codex',
  initHelp: 'Also install Codex hooks (.codex/hooks.json; Codex runs them in a trusted project once they are reviewed: see --trust)',
  plan: planCodex,
  reply(p: Plan, replies: readonly Obj[]): Obj | null {
    const s = said(replies);
    const context = s.context.length > 0 ? s.context.join('\n') : undefined;
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
  },
  failOpen: () => null,
  files: (root, cwd, o) => [hookFile(root, cwd, path.join('.codex', 'hooks.json'), o.install ? codexHooks() : null, 'groups', {})],
};
