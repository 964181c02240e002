/**
 * The bridge's translations on their own (cli/hooks/translate.ts and each client's adapter in
 * cli/hooks/clients/): Codex patches to the files they touch, Cursor input to Claude Code's shape,
 * and Koor's replies to each client's output.
 */
import t from 'tap';
import type { Obj, Plan } from '../../cli/hooks/clients/adapter.js';
import { workspaceSessionId } from '../../cli/hooks/clients/cursor.js';
import { adapterOf } from '../../cli/hooks/clients/index.js';
import { patchFiles, said } from '../../cli/hooks/translate.js';

const plan = (client: string, input: Obj, cwd: string): Plan => adapterOf(client)!.plan(input, cwd);
const reply = (client: string, p: Plan, replies: readonly Obj[]): Obj | null => adapterOf(client)!.reply(p, replies);
import { hookCommand, isKoorHook } from '../../cli/hooks/files.js';

t.test('patchFiles: every file an apply_patch adds, updates, deletes or moves to, once, resolved against cwd', async (t) => {
  const patch = ['*** Begin Patch', '*** Add File: new.txt', '+a', '*** Update File: src/x.ts', '*** Move to: src/y.ts', '@@', '*** Delete File: /abs/old.txt', '*** Update File: src/x.ts', '*** End Patch'].join('\n');
  t.same(patchFiles(patch, '/repo'), ['/repo/new.txt', '/repo/src/x.ts', '/repo/src/y.ts', '/abs/old.txt']);
  t.same(patchFiles('echo hi', '/repo'), []);
});

t.test('cursor input → Claude Code input', async (t) => {
  const base = { conversation_id: 'c', workspace_roots: ['/w'] };
  t.match(plan('cursor', { ...base, hook_event_name: 'preToolUse', tool_name: 'StrReplace', tool_input: { path: 'a/b.ts' } }, '/x').inputs, [{ hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { file_path: '/w/a/b.ts' }, session_id: 'c', cwd: '/w' }]);
  t.same(plan('cursor', { ...base, hook_event_name: 'preToolUse', tool_name: 'Shell', tool_input: { command: 'ls' } }, '/x').inputs, [], 'not an edit');
  t.match(plan('cursor', { ...base, hook_event_name: 'afterFileEdit', file_path: '/w/f.ts', edits: [] }, '/x').inputs, [{ hook_event_name: 'PostToolUse', tool_name: 'Edit', tool_input: { file_path: '/w/f.ts' } }]);
  t.match(plan('cursor', { ...base, hook_event_name: 'stop', loop_count: 2 }, '/x').inputs, [{ hook_event_name: 'Stop', stop_hook_active: true }], 'a follow-up stop is an active stop hook');
  t.match(plan('cursor', { ...base, hook_event_name: 'sessionEnd', reason: 'user_close' }, '/x').inputs, [{ hook_event_name: 'SessionEnd', reason: 'user_close' }]);
  t.match(plan('cursor', { ...base, hook_event_name: 'beforeSubmitPrompt', prompt: 'p' }, '/x').inputs, [{ hook_event_name: 'Notification' }], 'a sign of life, not a digest its reply could not carry');
  const noId = plan('cursor', { hook_event_name: 'sessionStart', workspace_roots: ['/nonexistent/ws'] }, '/x').inputs[0]!;
  t.equal(noId.session_id, workspaceSessionId('/nonexistent/ws'), 'no id in the input: stable per workspace');
  t.match(noId.session_id, /^cursor-[0-9a-f]{16}$/);
  t.same(plan('cursor', { hook_event_name: 'afterAgentThought', text: 'x' }, '/x').inputs, [], 'events Koor has no use for are not sent');
});

t.test('replies → client output', async (t) => {
  const deny = { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'R' } };
  const ctx = (s: string) => ({ hookSpecificOutput: { hookEventName: 'PostToolUse', additionalContext: s } });
  t.same(said([{}, deny, { ...deny, hookSpecificOutput: { ...deny.hookSpecificOutput, permissionDecisionReason: 'later' } }]).deny, 'R', 'the first deny');
  t.same(said([ctx('a'), ctx('b'), ctx('a')]).context, ['a', 'b'], 'each distinct context once');

  const cursorPre = { inputs: [], event: 'preToolUse', cwd: '/' };
  t.same(reply('cursor', cursorPre, [deny]), { permission: 'deny', user_message: 'R', agent_message: 'R' });
  t.same(reply('cursor', cursorPre, [{}]), {});
  t.same(reply('cursor', { inputs: [], event: 'beforeSubmitPrompt', cwd: '/' }, [ctx('x')]), { continue: true }, 'a prompt is never blocked');
  t.same(reply('cursor', { inputs: [], event: 'stop', cwd: '/' }, [{ decision: 'block', reason: '  ' }]), {}, 'a blank reason is no follow-up');

  const codexPost = { inputs: [], event: 'PostToolUse', cwd: '/' };
  t.same(reply('codex', codexPost, [ctx('a'), ctx('b')]), { hookSpecificOutput: { hookEventName: 'PostToolUse', additionalContext: 'a\nb' } }, 'one context per file, joined');
  t.equal(reply('codex', codexPost, [{ systemMessage: 'x', continue: true }]), null, 'nothing Koor said that Codex needs: no output');
  t.same(reply('codex', { inputs: [], event: 'Stop', cwd: '/' }, [{ decision: 'block', reason: 'news' }]), { decision: 'block', reason: 'news' });
  t.same(reply('claude-code', { inputs: [], event: 'Stop', cwd: '/' }, [{ anything: 1 }]), { anything: 1 }, 'Claude Code: as Koor said it');
});

t.test('isKoorHook: by the URL path or the command, nothing else', async (t) => {
  t.ok(isKoorHook({ type: 'http', url: 'https://koor.example/base/api/hooks/claude-code' }));
  t.ok(isKoorHook({ type: 'command', command: 'koor-cli hook codex' }), 'what init wrote before koor-hook');
  t.ok(isKoorHook({ type: 'command', command: 'koor-hook gemini' }));
  t.equal(hookCommand('gemini', 'linux'), 'koor-hook gemini');
  t.equal(hookCommand('gemini', 'win32'), 'koor-cli hook gemini', 'Windows may have no bash: the Node bridge');
  t.ok(isKoorHook({ type: 'command', command: hookCommand('codex', 'win32') }));
  t.ok(isKoorHook({ type: 'command', command: 'koor-hook copilot || true' }));
  t.notOk(isKoorHook({ type: 'command', command: 'koor-hooks x' }));
  t.ok(isKoorHook({ type: 'command', command: ' koor-cli wait --hook --timeout 60' }));
  t.ok(isKoorHook({ command: 'koor-cli hook cursor' }), "Cursor's entries have no type");
  t.notOk(isKoorHook({ type: 'command', command: 'koor-cli lease guard' }));
  t.notOk(isKoorHook({ type: 'command', command: 'echo koor-cli hook' }));
  t.notOk(isKoorHook({ type: 'http', url: 'http://x/api/other' }));
  t.notOk(isKoorHook('koor-cli hook claude-code'));
});
