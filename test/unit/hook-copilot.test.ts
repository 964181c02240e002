/**
 * The GitHub Copilot CLI adapter on its own (cli/hooks/clients/copilot.ts): Copilot's hook input
 * (as the real client 1.0.102 sends it to hooks named in PascalCase: test/helpers/COPILOT-FACTS.md)
 * → the Claude-Code-shaped input Koor takes, Koor's replies → what Copilot reads on the hook's
 * stdout, and the .github/hooks/koor.json that `init --copilot` writes, merged with the user's own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Obj } from '../../cli/hooks/clients/adapter.js';
import { COPILOT_BRIDGE, COPILOT_HOOKS_FILE, COPILOT_PRE_TOOLS, copilot, copilotHooks } from '../../cli/hooks/clients/copilot.js';
import { adapterOf } from '../../cli/hooks/clients/index.js';
import { isKoorHook } from '../../cli/hooks/files.js';

const SID = 'f80e03b2-8c84-42ae-9467-d7ebbd516c8a';
/** The fields every input has (a real capture's; the timestamp an ISO string for PascalCase hooks). */
const base = { session_id: SID, timestamp: '2026-11-29T08:56:37.391Z', cwd: '/repo' };
const plan = (input: Obj) => copilot.plan({ ...base, ...input }, '/elsewhere');
const koor = { session_id: SID, transcript_path: null, cwd: '/repo' };
const PATCH = '*** Begin Patch\n*** Add File: added.txt\n+added\n*** Update File: src/app.ts\n@@\n-export const app = 1;\n+export const app = 5;\n*** End Patch\n';

t.test('the registry knows it: koor-cli hook copilot, init --copilot', async (t) => {
  t.equal(adapterOf('copilot'), copilot);
  t.equal(copilot.title, 'GitHub Copilot CLI');
});

t.test('Copilot input → Claude Code input', async (t) => {
  t.same(plan({ hook_event_name: 'SessionStart', source: 'new', initial_prompt: 'Do it' }), { inputs: [{ ...koor, hook_event_name: 'SessionStart', source: 'startup' }], event: 'SessionStart', cwd: '/repo' }, 'a new session starts');
  t.same(plan({ hook_event_name: 'SessionStart', source: 'resume' }).inputs, [{ ...koor, hook_event_name: 'SessionStart', source: 'resume' }]);
  t.same(plan({ hook_event_name: 'UserPromptSubmit', prompt: 'Do it' }).inputs, [{ ...koor, hook_event_name: 'UserPromptSubmit', prompt: 'Do it' }]);

  t.same(
    plan({ hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { path: '/repo/new.txt', file_text: 'new file\n' } }).inputs,
    [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: '/repo/new.txt' } }],
    'create (Write to hooks): its path as file_path, without its content',
  );
  t.same(
    plan({ hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { path: 'free.txt', old_str: 'x', new_str: 'y' } }).inputs,
    [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { file_path: '/repo/free.txt' } }],
    'edit: a relative path resolved against cwd',
  );
  t.same(
    plan({ hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: PATCH }).inputs.map((i) => i.tool_input),
    [{ file_path: '/repo/added.txt' }, { file_path: '/repo/src/app.ts' }],
    'apply_patch (an Edit whose input is the patch text): one Edit per file it touches',
  );
  t.same(
    plan({ hook_event_name: 'PostToolUse', tool_name: 'Edit', tool_input: PATCH, tool_result: { result_type: 'success', text_result_for_llm: 'Added 1 file(s)' } }).inputs,
    [
      { ...koor, hook_event_name: 'PostToolUse', tool_name: 'Edit', tool_input: { file_path: '/repo/added.txt' }, tool_response: {} },
      { ...koor, hook_event_name: 'PostToolUse', tool_name: 'Edit', tool_input: { file_path: '/repo/src/app.ts' }, tool_response: {} },
    ],
    'after a patch: each file edited',
  );
  t.same(
    plan({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'npm test', description: 'test', initial_wait: 120 } }).inputs,
    [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'npm test', timeout: 120_000 } }],
    'a shell command: Bash, held busy up to its wait',
  );
  t.same(
    plan({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'npm run dev', mode: 'async', detach: false } }).inputs[0]!.tool_input,
    { command: 'npm run dev', run_in_background: true },
    'async: in the background (it holds nothing)',
  );
  t.same(
    plan({ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'true', description: 'noop' }, tool_result: { result_type: 'success', text_result_for_llm: '\n<shellId: 0 completed with exit code 0>' } }).inputs,
    [{ ...koor, hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'true' }, tool_response: {} }],
  );
  t.same(plan({ hook_event_name: 'PreToolUse', tool_name: 'Read', tool_input: { path: '/repo/a.txt' } }).inputs, [], 'another tool: nothing to guard');
  t.same(
    plan({ hook_event_name: 'PostToolUse', tool_name: 'Read', tool_input: { path: '/repo/a.txt' }, tool_result: { result_type: 'success', text_result_for_llm: 'x\n' } }).inputs,
    [{ ...koor, hook_event_name: 'PostToolUse', tool_name: 'Read', tool_input: { path: '/repo/a.txt' }, tool_response: {} }],
    'after another tool: a chance for news',
  );
  t.same(plan({ hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: 'echo not a patch' }).inputs, [], 'an edit naming no file: nothing to ask');
  t.same(
    plan({ hook_event_name: 'PostToolUseFailure', tool_name: 'Bash', tool_input: { command: 'sleep 99' }, error: 'stopped' }).inputs,
    [{ ...koor, hook_event_name: 'PostToolUseFailure', tool_name: 'Bash', tool_input: { command: 'sleep 99' }, error: 'stopped' }],
    'a shell command that failed to run ends its busy time',
  );
  t.same(plan({ hook_event_name: 'PostToolUseFailure', tool_name: 'Edit', tool_input: { path: '/repo/missing.txt' }, error: 'ENOENT' }).inputs, []);
  const stop = { transcript_path: '/h/.copilot/session-state/s/events.jsonl', stop_reason: 'end_turn' };
  t.same(plan({ hook_event_name: 'Stop', ...stop, stop_hook_active: false }).inputs, [{ ...koor, transcript_path: stop.transcript_path, hook_event_name: 'Stop', stop_hook_active: false }]);
  t.match(plan({ hook_event_name: 'Stop', ...stop, stop_hook_active: true }).inputs, [{ stop_hook_active: true }], 'a stop after a block');
  t.same(plan({ hook_event_name: 'SessionEnd', reason: 'complete' }).inputs, [{ ...koor, hook_event_name: 'SessionEnd', reason: 'complete' }]);
  t.same(plan({ hook_event_name: 'Notification', message: 'x' }).inputs, [], 'events Koor has no use for are not sent');
  t.same(copilot.plan({ hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { path: 'a' } }, '/x').inputs, [], 'no session id: nothing to ask');
  t.equal(copilot.plan({ hook_event_name: 'UserPromptSubmit', session_id: SID, prompt: 'p' }, '/x').cwd, '/x', 'no cwd: the bridge’s');
});

t.test('Koor’s replies → Copilot output', async (t) => {
  const p = (event: string) => ({ inputs: [], event, cwd: '/repo' });
  const deny = (r: string) => ({ hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: r } });
  const ctx = (event: string, s: string) => ({ hookSpecificOutput: { hookEventName: event, additionalContext: s } });
  t.same(copilot.reply(p('PreToolUse'), [{}, deny('Koor: src/app.ts is leased by agent bob')]), { permissionDecision: 'deny', permissionDecisionReason: 'Koor: src/app.ts is leased by agent bob' }, 'a deny in Copilot’s flat form');
  t.equal(copilot.reply(p('PreToolUse'), [{}, {}]), null, 'allowed: nothing printed');
  for (const event of ['SessionStart', 'UserPromptSubmit', 'PostToolUse']) {
    t.same(copilot.reply(p(event), [ctx(event, 'a'), ctx(event, 'b')]), { additionalContext: 'a\nb' }, `${event}: the context`);
    t.equal(copilot.reply(p(event), [{}]), null, `${event}: quiet, nothing printed`);
  }
  t.same(copilot.reply(p('Stop'), [{ decision: 'block', reason: 'news' }]), { decision: 'block', reason: 'news' });
  t.equal(copilot.reply(p('Stop'), [{}]), null);
  t.equal(copilot.reply(p('SessionEnd'), [{ anything: 1 }]), null);
  t.equal(copilot.failOpen(p('PreToolUse')), null, 'fail-open: print nothing (an empty stdout lets the tool run)');
});

t.test('init --copilot: .github/hooks/koor.json, merged with the user’s own hooks, and taken out again', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-copilot-unit-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const file = path.join(root, COPILOT_HOOKS_FILE);
  const plans = (install: boolean) => copilot.files(root, root, { server: 'http://127.0.0.1:1', install, read: (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null) });
  const write = (install: boolean) => {
    const [one, ...rest] = plans(install);
    t.same(rest, [], 'one file');
    if (one!.text === null) fs.rmSync(one!.file, { force: true });
    else {
      fs.mkdirSync(path.dirname(one!.file), { recursive: true });
      fs.writeFileSync(one!.file, one!.text);
    }
    return one!;
  };

  t.match(write(true), { file, outcome: 'created' });
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  t.same(doc, { version: 1, hooks: copilotHooks() });
  t.same(Object.keys(doc.hooks), ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'Stop', 'SessionEnd'], 'PascalCase events: their input names the event');
  t.match(doc.hooks.PreToolUse, [{ type: 'command', command: COPILOT_BRIDGE, matcher: COPILOT_PRE_TOOLS, timeoutSec: 10 }]);
  t.equal(COPILOT_PRE_TOOLS, 'Edit|Write|Bash');
  t.ok(isKoorHook(doc.hooks.SessionStart[0]), 'recognised as Koor’s');
  t.notMatch(fs.readFileSync(file, 'utf8'), /token|Bearer|127\.0\.0\.1/i, 'no secret, no server: the bridge finds those');
  t.match(write(true), { outcome: 'unchanged' }, 'a rerun changes nothing');

  // The user adds a hook of their own to an event Koor uses and to one it does not.
  const mine = { type: 'command', command: './scripts/lint.sh', timeoutSec: 30 };
  const edited = { ...doc, hooks: { ...doc.hooks, PostToolUse: [mine, ...doc.hooks.PostToolUse], ErrorOccurred: [mine] } };
  fs.writeFileSync(file, JSON.stringify(edited, null, 2) + '\n');
  t.match(write(true), { outcome: 'unchanged' }, 'their hooks beside Koor’s: nothing to change');
  t.match(write(false), { outcome: 'updated' }, '--remove');
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), { version: 1, hooks: { PostToolUse: [mine], ErrorOccurred: [mine] } }, 'only Koor’s entries went');
  fs.writeFileSync(file, JSON.stringify({ version: 1, hooks: {} }));
  t.match(write(true), { outcome: 'updated' });
  t.match(write(false), { outcome: 'removed' }, 'a file left with nothing of the user’s is deleted');
  t.notOk(fs.existsSync(file));
  t.match(write(false), { outcome: 'unchanged' }, 'removing from no file: nothing');
});
