/**
 * The Gemini CLI adapter on its own (cli/hooks/clients/gemini.ts): Gemini's hook input (as the
 * real client 0.61.0 sends it: test/helpers/GEMINI-FACTS.md) → the Claude-Code-shaped input Koor
 * takes, Koor's replies → what Gemini reads on the hook's stdout, and the .gemini/settings.json
 * that `init --gemini` writes, merged with the user's own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Obj } from '../../cli/hooks/clients/adapter.js';
import { gemini, GEMINI_ALLOWED_ENV, GEMINI_PRE_TOOLS, geminiHooks, sessionCommand } from '../../cli/hooks/clients/gemini.js';
import { adapterOf } from '../../cli/hooks/clients/index.js';
import { isKoorHook } from '../../cli/hooks/files.js';

const SID = 'd3675981-b792-4711-9025-57409dea9fc8';
/** The fields every Gemini hook input has (a real capture's, paths shortened). */
const base = { session_id: SID, transcript_path: '/h/.gemini/tmp/proj/chats/session-d3675981.jsonl', cwd: '/repo', timestamp: '2026-11-29T08:45:56.431Z' };
const plan = (input: Obj) => gemini.plan({ ...base, ...input }, '/elsewhere');
const koor = { session_id: SID, transcript_path: base.transcript_path, cwd: '/repo' };

t.test('the registry knows it: koor-cli hook gemini, init --gemini', async (t) => {
  t.equal(adapterOf('gemini'), gemini);
  t.equal(gemini.title, 'Gemini CLI');
});

t.test('Gemini input → Claude Code input', async (t) => {
  t.same(plan({ hook_event_name: 'SessionStart', source: 'startup' }).inputs, [{ ...koor, hook_event_name: 'SessionStart', source: 'startup' }]);
  t.same(plan({ hook_event_name: 'BeforeAgent', prompt: 'Do things' }), { inputs: [{ ...koor, hook_event_name: 'UserPromptSubmit', prompt: 'Do things' }], event: 'BeforeAgent', cwd: '/repo' }, 'a prompt');
  t.same(
    plan({ hook_event_name: 'BeforeTool', tool_name: 'write_file', tool_input: { file_path: 'a.txt', content: 'hi\n' } }).inputs,
    [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: '/repo/a.txt' } }],
    'write_file: a Write of the file, resolved against cwd, without its content',
  );
  t.same(
    plan({ hook_event_name: 'BeforeTool', tool_name: 'replace', tool_input: { file_path: '/abs/src/app.ts', old_string: 'a', new_string: 'b', instruction: 'x' } }).inputs,
    [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { file_path: '/abs/src/app.ts' } }],
    'replace: an Edit',
  );
  t.same(
    plan({ hook_event_name: 'BeforeTool', tool_name: 'run_shell_command', tool_input: { command: 'npm test', description: 'tests' } }).inputs,
    [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'npm test' } }],
    'the shell: a Bash command (its agent busy until it ends)',
  );
  t.match(plan({ hook_event_name: 'BeforeTool', tool_name: 'run_shell_command', tool_input: { command: 'serve', is_background: true } }).inputs, [{ tool_input: { command: 'serve', run_in_background: true } }], 'a background command returns at once');
  t.same(plan({ hook_event_name: 'BeforeTool', tool_name: 'read_file', tool_input: { file_path: 'a.txt' } }).inputs, [], 'not an edit nor the shell: nothing to ask');
  t.same(plan({ hook_event_name: 'BeforeTool', tool_name: 'write_file', tool_input: { content: 'x' } }).inputs, [], 'an edit naming no file: nothing to guard');

  const after = (tool_name: string, tool_input: Obj) => plan({ hook_event_name: 'AfterTool', tool_name, tool_input, tool_response: { llmContent: 'Successfully created…', returnDisplay: { fileDiff: '…' } } }).inputs;
  t.same(after('write_file', { file_path: 'a.txt', content: 'hi' }), [{ ...koor, hook_event_name: 'PostToolUse', tool_name: 'Write', tool_input: { file_path: '/repo/a.txt' }, tool_response: {} }], "an edit: what it touched (auto-lease), not the tool's output");
  t.match(after('run_shell_command', { command: 'git pull' }), [{ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'git pull' } }], 'the shell command ended');
  t.match(after('read_file', { file_path: 'a.txt' }), [{ hook_event_name: 'PostToolUse', tool_name: 'read_file', tool_input: { file_path: 'a.txt' } }], 'any other tool: a sign of life, and a place for news');

  t.same(plan({ hook_event_name: 'AfterAgent', prompt: 'Do things', prompt_response: 'Done.', stop_hook_active: false }).inputs, [{ ...koor, hook_event_name: 'Stop', stop_hook_active: false, last_assistant_message: 'Done.' }]);
  t.match(plan({ hook_event_name: 'AfterAgent', prompt: 'p', prompt_response: 'x', stop_hook_active: true }).inputs, [{ hook_event_name: 'Stop', stop_hook_active: true }], 'the turn a block continued');
  t.same(plan({ hook_event_name: 'SessionEnd', reason: 'exit' }).inputs, [{ ...koor, hook_event_name: 'SessionEnd', reason: 'exit' }]);
  t.same(plan({ hook_event_name: 'BeforeModel', llm_request: {} }).inputs, [], 'events Koor has no use for are not sent');
  t.equal(gemini.plan({ hook_event_name: 'SessionEnd', session_id: SID }, '/elsewhere').cwd, '/elsewhere', 'no cwd in the input: the bridge’s');
});

t.test('Koor replies → Gemini output', async (t) => {
  const deny = { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'Koor: src/app.ts is leased by agent bob' } };
  const ctx = (s: string) => ({ hookSpecificOutput: { hookEventName: 'PostToolUse', additionalContext: s } });
  const edit = plan({ hook_event_name: 'BeforeTool', tool_name: 'replace', tool_input: { file_path: 'src/app.ts' } });
  t.same(gemini.reply(edit, [deny]), { decision: 'deny', reason: 'Koor: src/app.ts is leased by agent bob' }, 'a deny with its reason (the model reads "Tool execution blocked: <reason>")');
  t.same(gemini.reply(edit, [{}]), {}, 'allowed: go on');
  for (const [event, input] of [
    ['SessionStart', { source: 'startup' }],
    ['BeforeAgent', { prompt: 'p' }],
    ['AfterTool', { tool_name: 'write_file', tool_input: { file_path: 'a' } }],
  ] as const) {
    const p = plan({ hook_event_name: event, ...input });
    t.same(gemini.reply(p, [ctx('Koor:\n- 1 new message')]), { hookSpecificOutput: { hookEventName: event, additionalContext: 'Koor:\n- 1 new message' } }, `${event}: the news as additionalContext`);
    t.same(gemini.reply(p, [{}]), {}, `${event}: nothing new, nothing added`);
  }
  const stop = plan({ hook_event_name: 'AfterAgent', prompt_response: 'x' });
  t.same(gemini.reply(stop, [{ decision: 'block', reason: 'news' }]), { decision: 'block', reason: 'news' }, 'AfterAgent: a block continues the session');
  t.same(gemini.reply(stop, [{}]), {});
  t.same(gemini.reply(plan({ hook_event_name: 'SessionEnd', reason: 'exit' }), [{}]), {});
  t.same(gemini.failOpen(edit), {}, 'fail-open: {} (an empty stdout would make Gemini read the stderr note as its answer)');
});

t.test("the model's own koor-cli commands get the session id", async (t) => {
  const shell = (command: string, session_id: unknown = SID) => gemini.plan({ ...base, session_id, hook_event_name: 'BeforeTool', tool_name: 'run_shell_command', tool_input: { command } }, '/x');
  const changed = (command: string) => ({ hookSpecificOutput: { hookEventName: 'BeforeTool', tool_input: { command } } });
  t.same(gemini.reply(shell('koor-cli inbox'), [{}]), changed(`export CLAUDE_CODE_SESSION_ID=${SID}; koor-cli inbox`));
  t.same(gemini.failOpen(shell('cd src && koor-cli lease check a.ts')), changed(`export CLAUDE_CODE_SESSION_ID=${SID}; cd src && koor-cli lease check a.ts`), 'also when Koor could not be asked');
  t.equal(sessionCommand(shell('/opt/bin/koor-cli inbox')), `export CLAUDE_CODE_SESSION_ID=${SID}; /opt/bin/koor-cli inbox`, 'by its path');
  t.equal(sessionCommand(shell('x=$(koor-cli inbox)')), `export CLAUDE_CODE_SESSION_ID=${SID}; x=$(koor-cli inbox)`, 'in a command substitution');
  t.same(gemini.reply(shell('npm test'), [{}]), {}, 'any other command: as the model wrote it');
  t.same(gemini.reply(shell('echo koor-cli-docs'), [{}]), {}, 'a word that only starts with koor-cli');
  t.same(gemini.reply(shell('koor-cli inbox', 'x; rm -rf /'), [{}]), {}, 'a session id unsafe on a command line: unchanged');
  t.same(gemini.reply(plan({ hook_event_name: 'AfterTool', tool_name: 'run_shell_command', tool_input: { command: 'koor-cli inbox' } }), [{}]), {}, 'only before the command runs');
});

t.test('init --gemini: .gemini/settings.json merged with the user’s settings and hooks, and taken out again', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-gemini-files-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const file = path.join(root, '.gemini', 'settings.json');
  const opts = (install: boolean) => ({ server: 'http://127.0.0.1:1', install, read: () => null });
  const write = (plans: ReturnType<typeof gemini.files>) => {
    for (const p of plans) {
      if (p.text === null) fs.rmSync(p.file, { force: true });
      else {
        fs.mkdirSync(path.dirname(p.file), { recursive: true });
        fs.writeFileSync(p.file, p.text);
      }
    }
  };

  const [created] = gemini.files(root, root, opts(true));
  t.match(created, { file, outcome: 'created' });
  const doc = JSON.parse(created!.text!);
  t.same(doc.hooks, geminiHooks());
  t.same(Object.keys(doc.hooks), ['SessionStart', 'BeforeAgent', 'BeforeTool', 'AfterTool', 'AfterAgent', 'SessionEnd']);
  t.same(doc.hooks.BeforeTool, [{ matcher: GEMINI_PRE_TOOLS, hooks: [{ type: 'command', command: 'koor-hook gemini', timeout: 10_000 }] }], 'a bare koor-hook; the timeout in ms');
  t.ok(['write_file', 'replace', 'run_shell_command'].every((n) => new RegExp(GEMINI_PRE_TOOLS).test(n)));
  t.notOk(['read_file', 'write_file_x', 'run_shell_command2', 'replace_all'].some((n) => new RegExp(GEMINI_PRE_TOOLS).test(n)), 'anchored');
  t.ok(Object.values(doc.hooks).every((groups) => (groups as any[]).every((g) => g.hooks.every(isKoorHook))), 'recognised as Koor’s on a rerun');
  t.same(doc.security, { environmentVariableRedaction: { allowed: [...GEMINI_ALLOWED_ENV] } }, 'Koor’s variables reach the hooks even where Gemini strips variables');
  t.notMatch(created!.text!, /Bearer|tok-|127\.0\.0\.1/, 'no secret, no server in the file');

  // The user's own settings and hooks, then init again: theirs kept, Koor's once.
  const mine = { type: 'command', command: './scripts/lint.sh' };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        model: { name: 'gemini-2.5-pro' },
        hooks: { ...doc.hooks, AfterTool: [{ matcher: 'write_file', hooks: [mine] }, ...doc.hooks.AfterTool], Notification: [{ hooks: [mine] }] },
        security: { auth: { selectedType: 'gemini-api-key' }, environmentVariableRedaction: { enabled: true, allowed: ['MY_VAR', 'KOOR_TOKEN'] } },
      },
      null,
      4,
    ) + '\n',
  );
  const [merged] = gemini.files(root, root, opts(true));
  t.equal(merged!.outcome, 'updated');
  const m = JSON.parse(merged!.text!);
  t.same(m.model, { name: 'gemini-2.5-pro' });
  t.same(m.hooks.AfterTool, [{ matcher: 'write_file', hooks: [mine] }, ...geminiHooks().AfterTool!], 'the user’s hook kept, Koor’s once');
  t.same(m.hooks.Notification, [{ hooks: [mine] }]);
  t.same(m.security.auth, { selectedType: 'gemini-api-key' });
  t.same(m.security.environmentVariableRedaction, { enabled: true, allowed: ['MY_VAR', 'KOOR_TOKEN', ...GEMINI_ALLOWED_ENV.filter((n) => n !== 'KOOR_TOKEN')] });
  t.match(merged!.text!, /\n {4}"model"/, 'the file’s own indentation');
  write([merged!]);
  t.equal(gemini.files(root, root, opts(true))[0]!.outcome, 'unchanged', 'a rerun changes nothing');

  // init --remove --gemini: Koor's hooks and variables out, the rest as it was.
  const [removed] = gemini.files(root, root, opts(false));
  t.equal(removed!.outcome, 'updated');
  const r = JSON.parse(removed!.text!);
  t.same(r.hooks, { AfterTool: [{ matcher: 'write_file', hooks: [mine] }], Notification: [{ hooks: [mine] }] });
  t.same(r.security, { auth: { selectedType: 'gemini-api-key' }, environmentVariableRedaction: { enabled: true, allowed: ['MY_VAR'] } });

  // A file that held only Koor's: removed whole.
  fs.rmSync(file);
  write(gemini.files(root, root, opts(true)));
  t.match(gemini.files(root, root, opts(false)), [{ file, text: null, outcome: 'removed' }]);
  fs.rmSync(file);
  t.match(gemini.files(root, root, opts(false)), [{ file, text: null, outcome: 'unchanged' }], 'nothing there: nothing to do');

  fs.writeFileSync(file, '{"hooks": []}');
  t.throws(() => gemini.files(root, root, opts(true)), /"hooks" in .* is not an object/, 'a file Koor cannot merge is refused, untouched');
});

t.test('init --gemini --telemetry: the OpenTelemetry export to Koor in the settings, no secret; taken out with the hooks, a telemetry of the user’s own left', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-gemini-otel-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const file = path.join(root, '.gemini', 'settings.json');
  const server = 'http://koor.lan:9800';
  const put = (doc: unknown) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(doc));
  };
  const [p] = gemini.files(root, root, { server, install: true, read: () => null, telemetry: true });
  const doc = JSON.parse(p!.text!);
  t.same(doc.telemetry, { enabled: true, otlpEndpoint: server, otlpProtocol: 'http', logPrompts: false }, 'OTLP/HTTP JSON (its default is gRPC), no prompt text');
  t.notMatch(p!.text!, /Bearer|Authorization/, 'no header in the file: Gemini takes it from OTEL_EXPORTER_OTLP_HEADERS');
  t.equal(gemini.telemetryNote!(server, true), 'Gemini CLI sends telemetry headers only from its environment: start it with OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $KOOR_TOKEN"');
  t.equal(gemini.telemetryNote!(server, false), null, 'no token, nothing to do');

  // Without --telemetry a rerun leaves it; --remove takes it out with the hooks.
  put(doc);
  t.same(JSON.parse(gemini.files(root, root, { server, install: true, read: () => null })[0]!.text ?? fs.readFileSync(file, 'utf8')).telemetry, doc.telemetry);
  t.equal(gemini.files(root, root, { server, install: false, read: () => null })[0]!.text, null, 'only Koor’s in the file: the file goes');
  // A telemetry of the user's own (another endpoint) stays.
  put({ ...doc, telemetry: { enabled: true, target: 'gcp' } });
  t.same(JSON.parse(gemini.files(root, root, { server, install: false, read: () => null })[0]!.text!), { telemetry: { enabled: true, target: 'gcp' } });
});
