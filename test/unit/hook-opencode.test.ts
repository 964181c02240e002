/**
 * The OpenCode adapter on its own (cli/hooks/clients/opencode.ts) and the plugin it writes
 * (./opencode-plugin.ts), loaded here as OpenCode loads it (an ES module whose exported function
 * returns its hooks) and driven with the inputs the real opencode 1.18.33 passes
 * (test/helpers/OPENCODE-FACTS.md) against a recording stand-in for Koor: what it posts (the same
 * Claude-Code-shaped inputs as the adapter's `plan`), its headers (no token in the file: KOOR_TOKEN
 * or the user's config), what it does with Koor's replies (a refusal thrown, news appended), and
 * that it fails open. Also the file `init --opencode` writes and removes.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import type { Obj } from '../../cli/hooks/clients/adapter.js';
import { adapterOf } from '../../cli/hooks/clients/index.js';
import { kilo } from '../../cli/hooks/clients/kilo.js';
import { opencode, OPENCODE_PLUGIN, toolCalls } from '../../cli/hooks/clients/opencode.js';
import { PLUGIN_MARK, pluginText } from '../../cli/hooks/clients/opencode-plugin.js';

const SID = 'ses_dd97dbb88ffeQvIU4D6dLe8upx';
const koor = { session_id: SID, transcript_path: null, cwd: '/repo' };
const plan = (input: Obj) => opencode.plan({ sessionID: SID, directory: '/repo', ...input }, '/elsewhere');
const PATCH = '*** Begin Patch\n*** Add File: src/new.ts\n+x\n*** Update File: src/app.ts\n@@\n-a\n+b\n*** End Patch';

t.test('the registry knows it: koor-cli hook opencode, init --opencode; and Kilo Code, built on OpenCode: init --kilo', async (t) => {
  t.equal(adapterOf('opencode'), opencode);
  t.equal(opencode.title, 'OpenCode');
  t.equal(adapterOf('kilo'), kilo);
  t.equal(kilo.title, 'Kilo Code');
});

t.test('an OpenCode hook call → Claude Code input (the plugin posts the same: see below)', async (t) => {
  t.same(plan({ hook: 'session.created', info: { id: SID } }).inputs, [{ ...koor, hook_event_name: 'SessionStart', source: 'startup' }]);
  t.same(plan({ hook: 'session.created', info: { id: 'ses_child', parentID: SID } }).inputs, [], "a task tool's sub-session starts nothing (its calls are its parent's)");
  t.same(plan({ hook: 'chat.message', parts: [{ type: 'text', text: 'Do it' }, { type: 'text', text: 'Koor: …', synthetic: true }] }).inputs, [{ ...koor, hook_event_name: 'UserPromptSubmit', prompt: 'Do it' }], 'a prompt, without Koor’s own part');
  t.same(
    plan({ hook: 'tool.execute.before', tool: 'write', callID: 'call_1', args: { filePath: 'src/a.ts', content: 'x' } }).inputs,
    [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: '/repo/src/a.ts' }, tool_use_id: 'call_1' }],
    'write: a Write of the file, resolved against the session’s directory, without its content',
  );
  t.same(plan({ hook: 'tool.execute.before', tool: 'edit', args: { filePath: '/abs/b.ts', oldString: 'a', newString: 'b' } }).inputs, [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { file_path: '/abs/b.ts' } }], 'edit: an Edit');
  t.same(
    plan({ hook: 'tool.execute.before', tool: 'apply_patch', args: { patchText: PATCH } }).inputs.map((i) => i.tool_input),
    [{ file_path: '/repo/src/new.ts' }, { file_path: '/repo/src/app.ts' }],
    'apply_patch (what GPT models get): each file of the patch',
  );
  t.same(plan({ hook: 'tool.execute.before', tool: 'bash', args: { command: 'npm test', timeout: 60000, description: 'x' } }).inputs, [{ ...koor, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'npm test', timeout: 60000 } }], 'the shell: a Bash command (its agent busy till it ends)');
  t.same(plan({ hook: 'tool.execute.before', tool: 'read', args: { filePath: 'a' } }).inputs, [], 'before any other tool: nothing to ask');
  t.same(plan({ hook: 'tool.execute.after', tool: 'write', args: { filePath: 'a.ts' } }).inputs, [{ ...koor, hook_event_name: 'PostToolUse', tool_name: 'Write', tool_input: { file_path: '/repo/a.ts' }, tool_response: {} }]);
  t.same(plan({ hook: 'tool.execute.after', tool: 'read', args: { filePath: 'a' } }).inputs, [{ ...koor, hook_event_name: 'PostToolUse', tool_name: 'read', tool_input: { filePath: 'a' }, tool_response: {} }], 'after any tool: a sign of life and a place for news');
  t.same(plan({ hook: 'dispose' }).inputs, [{ ...koor, hook_event_name: 'SessionEnd', reason: 'other' }]);
  t.same(plan({ hook: 'session.deleted' }).inputs, [{ ...koor, hook_event_name: 'SessionEnd', reason: 'other' }]);
  t.same(plan({ hook: 'shell.env' }).inputs, [], 'nothing to ask');
  t.same(toolCalls('write', { content: 'x' }, '/repo', false), [], 'an edit naming no file: nothing to guard');
});

t.test("Koor's replies → what the plugin does", async (t) => {
  const deny = { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'Koor: src/a.ts is leased by agent bob' } };
  const ctx = (text: string) => ({ hookSpecificOutput: { hookEventName: 'PostToolUse', additionalContext: text } });
  const p = (hook: string) => plan({ hook, tool: 'write', args: { filePath: 'a' } });
  t.same(opencode.reply(p('tool.execute.before'), [{}, deny]), { error: 'Koor: src/a.ts is leased by agent bob' }, 'a refusal: thrown, its message the tool result');
  t.equal(opencode.reply(p('tool.execute.before'), [{}]), null, 'allowed: nothing');
  t.same(opencode.reply(p('tool.execute.after'), [ctx('Koor: news'), ctx('Koor: news')]), { append: 'Koor: news' }, 'news: appended to the output, once');
  t.same(opencode.reply(p('chat.message'), [ctx('Koor: news')]), { append: 'Koor: news' });
  t.same(opencode.reply(p('session.created'), [ctx('Koor: you are agent a')]), { context: 'Koor: you are agent a' }, 'the orientation, kept for the first prompt');
  t.equal(opencode.reply(p('tool.execute.after'), [{}]), null);
  t.equal(opencode.failOpen(p('tool.execute.before')), null);
});

// ---------------------------------------------------------------------------------------------
// The plugin itself.

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** A stand-in for Koor: records each request; `answer` decides the reply (null: never answers). */
async function fakeKoor(t: { teardown(fn: () => unknown): void }, answer: (s: Seen) => unknown): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const s = { path: req.url ?? '', headers: req.headers, body: raw === '' ? null : JSON.parse(raw) };
      seen.push(s);
      const a = answer(s);
      if (a !== null) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

let loaded = 0;
/** The plugin as init writes it, loaded as OpenCode does (the module's exported function, given the project's directory). */
async function loadPlugin(t: { teardown(fn: () => unknown): void }, server: string, env: Record<string, string | undefined> = {}): Promise<{ hooks: Record<string, any>; root: string }> {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'koor-oc-unit-')));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'shop');
  fs.mkdirSync(path.join(root, '.git'), { recursive: true });
  const file = path.join(dir, `koor-${++loaded}.mjs`);
  fs.writeFileSync(file, pluginText({ server, repository: 'acme.shop', client: 'opencode', title: 'OpenCode' }));
  const saved: Record<string, string | undefined> = {};
  const keys = ['KOOR_TOKEN', 'KOOR_AGENT_NAME', 'KOOR_PROJECT', 'KOOR_REPO_ROOT', 'KOOR_SERVER', 'KOOR_TIMEOUT', 'XDG_CONFIG_HOME', ...Object.keys(env)];
  for (const k of keys) saved[k] = process.env[k];
  t.teardown(() => {
    for (const k of keys) if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  });
  for (const k of keys) delete process.env[k];
  process.env.XDG_CONFIG_HOME = path.join(dir, 'config');
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const fns = Object.values(mod).filter((v) => typeof v === 'function') as Array<(ctx: object) => Promise<Record<string, any>>>;
  if (fns.length !== 1) throw new Error('the plugin module should export exactly one function (OpenCode calls every exported function as a plugin)');
  return { hooks: await fns[0]!({ directory: root, worktree: root, project: { id: 'global' } }), root };
}

const created = (id: string, parentID?: string) => ({ event: { type: 'session.created', properties: { sessionID: id, info: { id, ...(parentID ? { parentID } : {}) } } } });
const koorBodies = (seen: Seen[]) => seen.filter((s) => s.path === '/api/hooks/claude-code').map((s) => s.body);

t.test('the plugin file: what init writes, no secret in it', async (t) => {
  const text = pluginText({ server: 'http://127.0.0.1:9800', repository: 'acme.shop', client: 'opencode', title: 'OpenCode' });
  t.ok(text.startsWith(PLUGIN_MARK), 'marked as Koor’s');
  t.match(text, 'const SERVER = "http://127.0.0.1:9800";');
  t.match(text, 'const REPOSITORY = "acme.shop";');
  t.notMatch(text, /Bearer [A-Za-z0-9]/, 'no token');
  t.notMatch(text, /^import .* from '(?!node:)/m, 'imports nothing but node builtins');
});

t.test('the plugin posts what plan says, as its session; news appended, a refusal thrown', async (t) => {
  const deny = { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'Koor: src/held.ts is leased by agent bob since 10:00 UTC' } };
  const fake = await fakeKoor(t, (s) => {
    const b = s.body ?? {};
    if (s.path === '/api/leases/check') return [{ path: 'src/held.ts' }];
    if (b.hook_event_name === 'SessionStart') return { hookSpecificOutput: { hookEventName: 'SessionStart', additionalContext: 'Koor: you are agent oc-a (project acme.shop).' } };
    if (b.hook_event_name === 'PreToolUse' && b.tool_input?.file_path?.endsWith('held.ts')) return deny;
    if (b.hook_event_name === 'PostToolUse' && b.tool_name === 'read') return { hookSpecificOutput: { hookEventName: 'PostToolUse', additionalContext: 'Koor:\n- 1 new message' } };
    return {};
  });
  const { hooks, root } = await loadPlugin(t, fake.url, { KOOR_TOKEN: 'tok-env', KOOR_AGENT_NAME: 'oc-a' });
  const mine = { session_id: SID, transcript_path: null, cwd: root };
  const same = (input: Obj) => opencode.plan({ sessionID: SID, directory: root, ...input }, root).inputs;

  await hooks.event(created(SID));
  await hooks.event(created('ses_child', SID));
  const message = { message: { id: 'msg_1' }, parts: [{ id: 'prt_1', type: 'text', text: 'Do it' }] };
  await hooks['chat.message']({ sessionID: SID }, message);
  t.match(message.parts.at(-1), { type: 'text', synthetic: true, messageID: 'msg_1', sessionID: SID, text: 'Koor: you are agent oc-a (project acme.shop).' }, 'the orientation: one more part of the first user message');
  t.match(message.parts.at(-1)?.id, /^prt_koor/, 'an id after the prompt’s own parts');

  const write = { args: { filePath: 'src/free.ts', content: 'x' } };
  await hooks['tool.execute.before']({ tool: 'write', sessionID: SID, callID: 'call_1' }, write);
  const writeOut = { title: '', output: 'Wrote file successfully.', metadata: {} };
  await hooks['tool.execute.after']({ tool: 'write', sessionID: SID, callID: 'call_1', args: write.args }, writeOut);
  t.equal(writeOut.output, 'Wrote file successfully.', 'nothing to say: the output as it was');

  await t.rejects(hooks['tool.execute.before']({ tool: 'write', sessionID: 'ses_child', callID: 'call_2' }, { args: { filePath: path.join(root, 'src', 'held.ts'), content: 'x' } }), { message: deny.hookSpecificOutput.permissionDecisionReason }, 'a held file: the hook throws Koor’s reason (a sub-session’s call, asked as its parent session)');
  await t.rejects(hooks['tool.execute.before']({ tool: 'apply_patch', sessionID: SID, callID: 'call_3' }, { args: { patchText: '*** Begin Patch\n*** Add File: src/a.ts\n+x\n*** Update File: src/held.ts\n@@\n-a\n+b\n*** End Patch' } }), { message: /leased by agent bob/ }, 'a patch touching it: refused whole');

  const readOut = { title: '', output: '1: x', metadata: {} };
  await hooks['tool.execute.after']({ tool: 'read', sessionID: SID, callID: 'call_4', args: { filePath: 'src/app.ts' } }, readOut);
  t.equal(readOut.output, '1: x\n\nKoor:\n- 1 new message', 'news: after the tool’s output, which the model reads next');

  const shell = { env: {} as Record<string, string> };
  await hooks['shell.env']({ cwd: root, sessionID: 'ses_child', callID: 'call_5' }, shell);
  t.same(shell.env, { CLAUDE_CODE_SESSION_ID: SID, KOOR_SERVER: fake.url }, 'the shell tool’s commands: the (root) session, so koor-cli acts as its agent; the plugin’s server');

  await hooks.dispose();
  await hooks.dispose();
  const bodies = koorBodies(fake.seen);
  t.same(
    bodies,
    [
      ...same({ hook: 'session.created', info: { id: SID } }),
      ...same({ hook: 'chat.message', parts: message.parts }),
      ...same({ hook: 'tool.execute.before', tool: 'write', callID: 'call_1', args: write.args }),
      ...same({ hook: 'tool.execute.after', tool: 'write', callID: 'call_1', args: write.args }),
      { ...mine, hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: path.join(root, 'src', 'held.ts') }, tool_use_id: 'call_2' },
      // The patch: the held file asked first (POST /api/leases/check), and nothing after its refusal.
      { ...mine, hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { file_path: path.join(root, 'src', 'held.ts') }, tool_use_id: 'call_3' },
      ...same({ hook: 'tool.execute.after', tool: 'read', callID: 'call_4', args: { filePath: 'src/app.ts' } }),
      ...same({ hook: 'dispose' }),
    ],
    'every input as the adapter’s plan makes it, in order; SessionEnd once',
  );
  t.same(fake.seen.find((s) => s.path === '/api/leases/check')?.body, { paths: ['src/a.ts', 'src/held.ts'], project: 'acme.shop' }, 'the patch’s files checked in one call first');
  const h = fake.seen[0]!.headers;
  t.match(h, { authorization: 'Bearer tok-env', 'x-koor-client': 'opencode', 'x-koor-agent-name': 'oc-a', 'x-koor-repository': 'acme.shop', 'x-koor-repo-root': root }, 'the headers the bridge sends');
  t.notOk('x-koor-project' in h, 'no project header unless KOOR_PROJECT');
});

t.test("the plugin's token and agent name when the environment names none", async (t) => {
  const fake = await fakeKoor(t, () => ({}));
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'koor-oc-xdg-')));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'koor'));
  fs.writeFileSync(path.join(dir, 'koor', 'config.json'), JSON.stringify({ token: 'tok-user', server: 'http://ignored' }));
  const { hooks } = await loadPlugin(t, fake.url, { XDG_CONFIG_HOME: dir });
  await hooks.event(created(SID));
  t.equal(fake.seen[0]?.headers.authorization, 'Bearer tok-user', "the token of the user's Koor config (where `koor-cli config set token` puts it)");
  t.equal(fake.seen[0]?.headers['x-koor-agent-name'], 'opencode-shop-6dLe8upx', 'named for the client, the repository and the random end of the session id (its start is a time)');
});

t.test('the plugin fails open: no server, an error status, a server that does not answer', async (t) => {
  const { hooks: down } = await loadPlugin(t, 'http://127.0.0.1:9');
  await down.event(created(SID));
  const out = { output: 'ok' };
  await down['tool.execute.before']({ tool: 'write', sessionID: SID, callID: 'c' }, { args: { filePath: 'a.ts' } });
  await down['tool.execute.after']({ tool: 'write', sessionID: SID, callID: 'c', args: { filePath: 'a.ts' } }, out);
  t.equal(out.output, 'ok', 'no server: the tool runs, its output untouched');

  const failing = await fakeKoor(t, () => ({ error: 'x' }));
  const { hooks: errors } = await loadPlugin(t, failing.url);
  await errors.event(created(SID));
  await errors['tool.execute.before']({ tool: 'write', sessionID: SID, callID: 'c' }, { args: { filePath: 'a.ts' } });
  t.pass('a reply that is no hook output: no refusal');

  const silent = await fakeKoor(t, () => null);
  const { hooks: slow } = await loadPlugin(t, silent.url, { KOOR_TIMEOUT: '0.3' });
  const t0 = Date.now();
  await slow.event(created(SID));
  await slow['tool.execute.before']({ tool: 'write', sessionID: SID, callID: 'c' }, { args: { filePath: 'a.ts' } });
  await slow['tool.execute.before']({ tool: 'edit', sessionID: SID, callID: 'd' }, { args: { filePath: 'b.ts' } });
  const ms = Date.now() - t0;
  t.ok(ms < 2000, `a server that does not answer costs one timeout (${ms} ms), not one per call`);
  t.equal(silent.seen.length, 1, 'after it, Koor is not asked for a while');
});

t.test('init --opencode: .opencode/plugins/koor.js written, rewritten, removed; a user’s file of that name refused', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-oc-init-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const opts = (install: boolean, server = 'http://127.0.0.1:9800') => ({ server, repository: 'acme.shop', install, read: () => null });
  const apply = (plans: ReturnType<typeof opencode.files>) => {
    for (const p of plans) {
      if (p.text === null) fs.rmSync(p.file, { force: true });
      else {
        fs.mkdirSync(path.dirname(p.file), { recursive: true });
        fs.writeFileSync(p.file, p.text);
      }
    }
  };
  const file = path.join(root, OPENCODE_PLUGIN);
  t.equal(OPENCODE_PLUGIN, path.join('.opencode', 'plugins', 'koor.js'));
  t.same(opencode.files(root, root, opts(false)).map((p) => p.outcome), ['unchanged'], 'nothing to remove');
  const [first] = opencode.files(root, root, opts(true));
  t.match(first, { file, outcome: 'created', mode: 0o644 });
  apply([first!]);
  t.equal(opencode.files(root, root, opts(true))[0]!.outcome, 'unchanged', 'a rerun changes nothing');
  t.equal(opencode.files(root, root, opts(true, 'http://koor.internal:9800'))[0]!.outcome, 'updated', 'another server: rewritten');
  const [removed] = opencode.files(root, root, opts(false));
  t.match(removed, { file, outcome: 'removed', text: null });
  apply([removed!]);
  fs.writeFileSync(file, 'export const Mine = async () => ({});\n');
  t.throws(() => opencode.files(root, root, opts(true)), { message: /\.opencode\/plugins\/koor\.js is not Koor's plugin; not touching it/ });
  t.same(opencode.files(root, root, opts(false)).map((p) => p.outcome), ['unchanged'], 'nor removed');
});

t.test('init --kilo: the same plugin in .kilo/plugins/koor.js (Kilo does not read .opencode/), naming its client', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-kilo-init-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const [p] = kilo.files(root, root, { server: 'http://127.0.0.1:9800', install: true, read: () => null });
  t.match(p, { file: path.join(root, '.kilo', 'plugins', 'koor.js'), outcome: 'created' });
  t.match(p!.text, /^\/\/ Koor plugin for Kilo Code, written by `koor-cli init --kilo`/);
  t.match(p!.text, 'const CLIENT = "kilo";');
  t.same(kilo.plan({ hook: 'tool.execute.before', sessionID: SID, directory: '/repo', tool: 'write', args: { filePath: 'a.ts' } }, '/x').inputs, opencode.plan({ hook: 'tool.execute.before', sessionID: SID, directory: '/repo', tool: 'write', args: { filePath: 'a.ts' } }, '/x').inputs, "OpenCode's translation");
});
