/**
 * `koor-cli hook <client>`, run as a subprocess with hook input on stdin: fail-open (no
 * server, a server that never answers, an error status → exit 0, no output, bounded time), and
 * what it sends and prints. The recorder here stands in for the network peer only, to see the
 * request the bridge makes; Koor's own answers are tested where the endpoint is built.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { cleanEnv, nodeCommand, tempDir } from '../helpers/server.js';
import { CLI_JS, runPiped, type PipedRun } from './helpers.js';

function bridge(client: string, input: string, env: Record<string, string>, cwd: string): Promise<PipedRun> {
  const [cmd, args] = nodeCommand(CLI_JS, ['hook', client]);
  return runPiped(cmd, args, input, { env: cleanEnv(env), cwd, killMs: 20_000 });
}

interface Call {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** A peer on 127.0.0.1 that records each request and answers what `answer` says (status, JSON; null: never). */
async function peer(t: { teardown(fn: () => unknown): void }, answer: (c: Call) => { status: number; body: unknown } | null) {
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // recorded as text
      }
      const c: Call = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      calls.push(c);
      const a = answer(c);
      if (a === null) return; // hangs
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls };
}

/** A port nothing listens on. */
async function closedPort(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

const SESSION_START = JSON.stringify({ session_id: 'sess-1', transcript_path: '/tmp/x.jsonl', cwd: '/tmp', hook_event_name: 'SessionStart', source: 'startup' });

t.test('fail-open: server down → exit 0 at once, nothing on stdout (Cursor: {}), one line on stderr', async (t) => {
  const cwd = tempDir(t);
  const server = await closedPort();
  const r = await bridge('claude-code', SESSION_START, { KOOR_SERVER: server }, cwd);
  t.equal(r.code, 0);
  t.equal(r.stdout, '');
  t.match(r.stderr, /^koor: hook not delivered \(request failed: .*ECONNREFUSED.*\); the session goes on\n$/);
  t.ok(r.ms < 3_000, `quick (${r.ms} ms)`);

  const c = await bridge('cursor', JSON.stringify({ hook_event_name: 'preToolUse', conversation_id: 'c1', workspace_roots: [cwd], tool_name: 'Write', tool_input: { file_path: 'a.txt' } }), { KOOR_SERVER: server }, cwd);
  t.same([c.code, c.stdout], [0, '{}\n'], 'Cursor wants JSON on every path: {} lets the edit go on');
  const cx = await bridge('codex', JSON.stringify({ hook_event_name: 'UserPromptSubmit', session_id: 's', cwd, prompt: 'hi' }), { KOOR_SERVER: server }, cwd);
  t.same([cx.code, cx.stdout], [0, ''], 'Codex: no output is success');
});

t.test('fail-open: a server that never answers is given up after ~5 s; an error status or a non-JSON reply is ignored', async (t) => {
  const cwd = tempDir(t);
  const slow = await peer(t, () => null);
  const r = await bridge('claude-code', SESSION_START, { KOOR_SERVER: slow.url }, cwd);
  t.equal(r.code, 0);
  t.equal(r.stdout, '');
  t.match(r.stderr, /timeout/);
  t.ok(r.ms >= 4_500 && r.ms < 7_500, `bounded (${r.ms} ms)`);
  t.equal(slow.calls.length, 1);

  const failing = await peer(t, () => ({ status: 500, body: { hookSpecificOutput: { hookEventName: 'SessionStart', additionalContext: 'must not show' } } }));
  const e = await bridge('claude-code', SESSION_START, { KOOR_SERVER: failing.url }, cwd);
  t.same([e.code, e.stdout], [0, ''], "a 500's body is not the hook's output");
  t.match(e.stderr, /HTTP 500/);

  const text = await peer(t, () => ({ status: 200, body: 'not json' }));
  const n = await bridge('claude-code', SESSION_START, { KOOR_SERVER: text.url }, cwd);
  t.same([n.code, n.stdout], [0, '']);

  const bad = await bridge('claude-code', 'not json', { KOOR_SERVER: text.url }, cwd);
  t.same([bad.code, bad.stdout], [0, '']);
  t.match(bad.stderr, /hook input is not JSON/);
  t.equal(text.calls.length, 1, 'bad input is not sent');
});

t.test('claude-code: the input goes as received with the X-Koor headers from the environment, the reply comes back as is', async (t) => {
  const cwd = tempDir(t);
  const ctx = { hookSpecificOutput: { hookEventName: 'SessionStart', additionalContext: 'koor: 1 unread message' } };
  const p = await peer(t, () => ({ status: 200, body: ctx }));
  const r = await bridge('claude-code', SESSION_START, { KOOR_SERVER: p.url, KOOR_TOKEN: 'tok-1', KOOR_AGENT_NAME: 'alice', KOOR_PROJECT: 'web', KOOR_REPO_ROOT: '/src/repo', CLAUDE_PROJECT_DIR: '/ignored' }, cwd);
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), ctx);
  t.equal(r.stderr, '');
  const c = p.calls[0]!;
  t.same([c.method, c.url], ['POST', '/api/hooks/claude-code']);
  t.same(c.body, JSON.parse(SESSION_START));
  t.equal(c.headers.authorization, 'Bearer tok-1');
  t.equal(c.headers['x-koor-agent-name'], 'alice');
  t.equal(c.headers['x-koor-project'], 'web');
  t.equal(c.headers['x-koor-repo-root'], '/src/repo');
  t.equal(c.headers['x-koor-client'], 'claude-code', 'the client it bridges (the default agent name says it)');
  t.equal(c.headers['content-type'], 'application/json');

  // Without KOOR_REPO_ROOT: the client's project dir; no token or name: no such headers; no
  // KOOR_PROJECT: the repository's project (no repository there: its folder name).
  const r2 = await bridge('claude-code', SESSION_START, { KOOR_SERVER: p.url, CLAUDE_PROJECT_DIR: '/nonexistent/work/proj' }, cwd);
  t.equal(r2.code, 0);
  const c2 = p.calls[1]!;
  t.equal(c2.headers['x-koor-repo-root'], '/nonexistent/work/proj');
  t.equal(c2.headers['x-koor-project'], 'proj');
  for (const h of ['authorization', 'x-koor-agent-name']) t.notOk(h in c2.headers, `no ${h}`);
});

t.test('cursor: an edit asked as a Claude Code PreToolUse Edit, a deny answered in Cursor\'s words; context after a tool; a Stop block as a follow-up', async (t) => {
  const root = fs.realpathSync(tempDir(t));
  fs.mkdirSync(path.join(root, '.git'));
  fs.mkdirSync(path.join(root, 'src'));
  const reason = 'src/a.ts is leased by bob (since 10:02, "refactor"); ask: koor-cli send bob …';
  const p = await peer(t, (c) => {
    if (c.body.hook_event_name === 'PreToolUse') return { status: 200, body: { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: reason } } };
    if (c.body.hook_event_name === 'PostToolUse') return { status: 200, body: { hookSpecificOutput: { hookEventName: 'PostToolUse', additionalContext: 'koor: bob edited src/b.ts' } } };
    if (c.body.hook_event_name === 'Stop') return { status: 200, body: { decision: 'block', reason: 'koor: message from bob' } };
    return { status: 200, body: {} };
  });
  const common = { conversation_id: 'conv-9', generation_id: 'g1', workspace_roots: [root], cursor_version: '2.1.0' };
  const env = { KOOR_SERVER: p.url, KOOR_TOKEN: 'tok-c' };

  const pre = await bridge('cursor', JSON.stringify({ ...common, hook_event_name: 'preToolUse', tool_name: 'Write', tool_input: { file_path: 'src/a.ts', contents: 'x' }, tool_use_id: 'tu1', cwd: root }), env, root);
  t.equal(pre.code, 0, pre.stderr);
  t.same(JSON.parse(pre.stdout), { permission: 'deny', user_message: reason, agent_message: reason });
  t.match(p.calls[0]!.body, { session_id: 'conv-9', hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { file_path: path.join(root, 'src/a.ts') }, tool_use_id: 'tu1', cwd: root });
  t.equal(p.calls[0]!.headers['x-koor-repo-root'], root, 'the repository of the workspace');
  t.equal(p.calls[0]!.headers.authorization, 'Bearer tok-c');

  const read = await bridge('cursor', JSON.stringify({ ...common, hook_event_name: 'preToolUse', tool_name: 'Read', tool_input: { file_path: 'src/a.ts' } }), env, root);
  t.same([read.code, read.stdout], [0, '{}\n'], 'not an edit: Koor is not asked');
  t.equal(p.calls.length, 1);

  const post = await bridge('cursor', JSON.stringify({ ...common, hook_event_name: 'postToolUse', tool_name: 'Shell', tool_input: { command: 'ls' }, tool_output: '…' }), env, root);
  t.same(JSON.parse(post.stdout), { additional_context: 'koor: bob edited src/b.ts' });
  t.match(p.calls[1]!.body, { hook_event_name: 'PostToolUse', tool_name: 'Shell', tool_input: { command: 'ls' } });

  const stop = await bridge('cursor', JSON.stringify({ ...common, hook_event_name: 'stop', status: 'completed', loop_count: 0 }), env, root);
  t.same(JSON.parse(stop.stdout), { followup_message: 'koor: message from bob' });
  t.match(p.calls[2]!.body, { hook_event_name: 'Stop', stop_hook_active: false });

  const start = await bridge('cursor', JSON.stringify({ hook_event_name: 'sessionStart', session_id: 's-77', is_background_agent: false, composer_mode: 'agent', workspace_roots: [root] }), env, root);
  t.same([start.code, start.stdout], [0, '{}\n'], 'no context: {}');
  t.match(p.calls[3]!.body, { hook_event_name: 'SessionStart', session_id: 's-77', source: 'startup' });
});

t.test('codex: an apply_patch asked about file by file, the first deny answered in Codex\'s schema; nothing Codex does not list', async (t) => {
  const root = fs.realpathSync(tempDir(t));
  fs.mkdirSync(path.join(root, '.git'));
  let checkAnswer: { status: number; body: unknown } = { status: 500, body: { error: 'down' } };
  const p = await peer(t, (c) => {
    if (c.url === '/api/leases/check') return checkAnswer;
    if (c.body.hook_event_name === 'PreToolUse' && c.body.tool_input.file_path?.endsWith('b.py')) {
      return { status: 200, body: { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'b.py is leased by carol' }, suppressOutput: false, extra: 1 } };
    }
    if (c.body.hook_event_name === 'UserPromptSubmit') return { status: 200, body: { hookSpecificOutput: { hookEventName: 'UserPromptSubmit', additionalContext: 'koor: 2 unread', unknownField: true } } };
    return { status: 200, body: {} };
  });
  const patch = '*** Begin Patch\n*** Update File: a.py\n@@\n-x\n+y\n*** Add File: pkg/b.py\n+z\n*** Update File: c.py\n*** End Patch\n';
  const input = { session_id: 'cx-1', transcript_path: null, cwd: root, hook_event_name: 'PreToolUse', model: 'gpt-5', permission_mode: 'default', turn_id: 't1', tool_name: 'apply_patch', tool_input: { command: patch }, tool_use_id: 'call_1' };
  const env = { KOOR_SERVER: p.url };
  const r = await bridge('codex', JSON.stringify(input), env, root);
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'b.py is leased by carol' } }, 'only the fields of Codex\'s schema');
  const hookCalls = () => p.calls.filter((c) => c.url === '/api/hooks/claude-code');
  t.same(p.calls[0]!.body, { paths: ['a.py', 'pkg/b.py', 'c.py'], project: path.basename(root) }, "first, who holds any of its files (repository-relative, in the repository's project)");
  t.same(
    hookCalls().map((c) => c.body.tool_input.file_path),
    [path.join(root, 'a.py'), path.join(root, 'pkg/b.py')],
    'that check failing: one question per file in the patch\'s order, stopping at the first deny',
  );
  t.match(hookCalls()[0]!.body, { session_id: 'cx-1', hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_use_id: 'call_1' });

  // With the check answered: the held file is asked first, so no free file of a refused patch is asked (and auto-leased) before it.
  checkAnswer = { status: 200, body: [{ path: 'pkg/b.py', leases: [{ holder_name: 'carol' }] }] };
  const before = hookCalls().length;
  const again = await bridge('codex', JSON.stringify(input), { KOOR_SERVER: p.url }, root);
  t.same(JSON.parse(again.stdout), { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'b.py is leased by carol' } });
  t.same(hookCalls().slice(before).map((c) => c.body.tool_input.file_path), [path.join(root, 'pkg/b.py')], 'the held file first: refused before any other is asked');

  const n = p.calls.length;
  const bash = await bridge('codex', JSON.stringify({ ...input, tool_name: 'Bash', tool_input: { command: 'rm -rf x' } }), env, root);
  t.same([bash.code, bash.stdout], [0, ''], 'shell commands are not guarded (not parsed)');
  t.same(
    p.calls.slice(n).map((c) => [c.url, c.body.hook_event_name, c.body.tool_name, c.body.tool_input]),
    [['/api/hooks/claude-code', 'PreToolUse', 'Bash', { command: 'rm -rf x' }]],
    'but Koor hears it start (it holds the agent busy till its PostToolUse), as it is: no lease check',
  );

  const prompt = await bridge('codex', JSON.stringify({ session_id: 'cx-1', transcript_path: null, cwd: root, hook_event_name: 'UserPromptSubmit', model: 'gpt-5', turn_id: 't2', prompt: 'go' }), env, root);
  t.same(JSON.parse(prompt.stdout), { hookSpecificOutput: { hookEventName: 'UserPromptSubmit', additionalContext: 'koor: 2 unread' } });
  t.equal(p.calls.at(-1)!.headers['x-koor-repo-root'], root);

  const stop = await bridge('codex', JSON.stringify({ session_id: 'cx-1', transcript_path: null, cwd: root, hook_event_name: 'Stop', model: 'gpt-5', turn_id: 't2', stop_hook_active: false, last_assistant_message: 'done' }), env, root);
  t.same([stop.code, stop.stdout], [0, ''], '{} from Koor: no output');
  t.equal(p.calls.at(-1)!.headers['x-koor-client'], 'codex');
  const end = await bridge('codex', JSON.stringify({ session_id: 'cx-1', transcript_path: null, cwd: root, hook_event_name: 'SessionEnd', reason: 'other' }), env, root);
  t.same([end.code, end.stdout], [0, '']);
  t.match(p.calls.at(-1)!.body, { session_id: 'cx-1', hook_event_name: 'SessionEnd', reason: 'other' }, 'SessionEnd (Codex 0.169 fires it) goes to Koor as it is');
});
