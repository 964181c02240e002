/**
 * The harness that drives the real Claude Code client (test/helpers/claude-code.ts) works: the
 * pinned client, offline against the scripted fake Messages API, runs the tool the fake model
 * calls; a PreToolUse HTTP hook that denies stops it and its reason reaches the model; context a
 * UserPromptSubmit hook adds reaches the model. Skips with the reason when the client could not be
 * installed (`npm run test:setup`). Each run takes about a second.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { claudeCode, claudeTempDir, requestText, runClaude, startFakeApi, toolResults } from '../helpers/claude-code.js';

/** One run of the client; far above the ~1 s it takes. */
const RUN_MS = 30_000;

interface HookCall {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** A hook endpoint on 127.0.0.1 that records each call and answers `answer`'s JSON. */
async function hookServer(tt: { teardown(fn: () => unknown): void }, answer: (call: HookCall) => object) {
  const calls: HookCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call = { url: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
      calls.push(call);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(call)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tt.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls };
}

const cc = claudeCode();
if ('skip' in cc) t.plan(0, cc.skip);
else {
  t.test('a Write the fake model asks for writes the file, and the model is sent its result', async (t) => {
    const cwd = claudeTempDir(t);
    const file = path.join(cwd, 'hello.txt');
    const api = await startFakeApi(t, [{ tool: 'Write', input: { file_path: file, content: 'hello\n' } }, 'Written.']);
    const r = await runClaude({ cwd, prompt: 'Write hello.txt', api, timeoutMs: RUN_MS });
    t.equal(r.code, 0, r.stderr);
    t.equal(fs.readFileSync(file, 'utf8'), 'hello\n');
    t.equal(r.json?.result, 'Written.', 'the last scripted text is the result');
    t.equal(r.json?.session_id, r.sessionId, '--session-id names the session');
    const turns = api.agentRequests();
    t.equal(turns.length, 2, 'one request per turn');
    t.match(requestText(turns[0]), /Write hello\.txt/, 'the prompt reached the model');
    t.match(toolResults(turns[1]), [{ is_error: undefined, text: /File created successfully/ }]);
  });

  t.test('a PreToolUse HTTP hook that denies stops the Write, and its reason reaches the model', async (t) => {
    const cwd = claudeTempDir(t);
    const file = path.join(cwd, 'blocked.txt');
    const hooks = await hookServer(t, () => ({ hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: 'koor: blocked.txt is locked by agent-2' } }));
    const api = await startFakeApi(t, [{ tool: 'Write', input: { file_path: file, content: 'x' } }, 'Understood.']);
    const projectSettings = {
      hooks: { PreToolUse: [{ matcher: 'Write|Edit', hooks: [{ type: 'http', url: `${hooks.url}/api/hooks/claude-code`, headers: { Authorization: 'Bearer $KOOR_TOKEN' }, allowedEnvVars: ['KOOR_TOKEN'], timeout: 5 }] }] },
    };
    const r = await runClaude({ cwd, prompt: 'Write blocked.txt', api, projectSettings, env: { KOOR_TOKEN: 'tok-e2e' }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, r.stderr);
    t.notOk(fs.existsSync(file), 'nothing written');
    t.equal(hooks.calls.length, 1);
    const call = hooks.calls[0];
    t.equal(call.url, '/api/hooks/claude-code');
    t.equal(call.headers.authorization, 'Bearer tok-e2e', 'the header names an allowed env var: interpolated');
    t.equal(call.headers['content-type'], 'application/json');
    t.match(call.body, { session_id: r.sessionId, hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: file, content: 'x' }, cwd, permission_mode: 'acceptEdits' });
    const turns = api.agentRequests();
    t.equal(turns.length, 2);
    t.same(toolResults(turns[1]), [{ tool_use_id: call.body.tool_use_id, is_error: true, text: 'PreToolUse:Write hook error: koor: blocked.txt is locked by agent-2' }]);
    t.match(r.json?.permission_denials, [{ tool_name: 'Write', tool_use_id: call.body.tool_use_id }]);
  });

  t.test('additionalContext from a UserPromptSubmit hook reaches the model with the prompt', async (t) => {
    const cwd = claudeTempDir(t);
    const context = 'koor: 2 unread messages from agent-7';
    const output = JSON.stringify({ hookSpecificOutput: { hookEventName: 'UserPromptSubmit', additionalContext: context } });
    const api = await startFakeApi(t, ['Noted.']);
    const settings = { hooks: { UserPromptSubmit: [{ hooks: [{ type: 'command', command: `printf '%s' '${output}'`, timeout: 10 }] }] } };
    const r = await runClaude({ cwd, prompt: 'What is new?', api, settings, timeoutMs: RUN_MS });
    t.equal(r.code, 0, r.stderr);
    const [turn] = api.agentRequests();
    t.ok(turn, 'the model was asked');
    t.ok(requestText(turn).includes(`UserPromptSubmit hook additional context: ${context}`), 'the context is in the first request, labelled');
    t.notOk(requestText(turn).includes('additionalContext'), 'as text, not as the hook output JSON');
  });
}
