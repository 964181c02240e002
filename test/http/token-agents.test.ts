import t from 'tap';
import { startTestServer } from '../helpers/server.js';

/**
 * Created tokens and the agents they own: an agent token registers agents and acts as
 * them — and only them — with X-Koor-Instance; a coding-agent session belongs to the token that
 * bound it; scopes reach leases (files), tasks by id and messages.
 */

const SERVER = 'owner-test-token';
type Reply = { status: number; body: any };

async function setup(t: Tap.Test) {
  const s = await startTestServer(t, { authToken: SERVER });
  const call = async (method: string, path: string, token: string, body?: unknown, instance?: string, extra: Record<string, string> = {}): Promise<Reply> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(instance ? { 'x-koor-instance': instance } : {}), ...extra };
    const r = await fetch(`${s.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
  };
  const token = async (name: string, role: string, scopes?: string[]) => {
    const r = await call('POST', '/api/tokens', SERVER, { name, role, ...(scopes ? { scopes } : {}) });
    if (r.status !== 200) throw new Error(`token ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token as string;
  };
  const register = async (tok: string, name: string, workspace = '') => {
    const r = await call('POST', '/api/instances/register', tok, { name, workspace });
    if (r.status !== 200) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as { id: string; token: string };
  };
  return { s, call, token, register };
}

t.test('an agent token acts as the agents it registered, and only them', async (t) => {
  const { call, token, register } = await setup(t);
  const [a, b, boss, reader] = [await token('ann', 'agent'), await token('bob', 'agent'), await token('boss', 'admin'), await token('look', 'reader')];
  const a1 = await register(a, 'a1');
  const b1 = await register(b, 'b1');

  t.equal((await call('POST', `/api/instances/${a1.id}/heartbeat`, a, undefined, a1.id)).status, 200, 'its own agent: heartbeat');
  const lease = await call('POST', '/api/leases', a, { resources: ['src/a.ts'] }, a1.id);
  t.same([lease.status, lease.body.holder], [200, a1.id], 'a lease held by its agent');
  t.equal((await call('POST', '/api/messages', a, { to: ['b1'], body: 'hi' }, a1.id)).body.from, a1.id, 'a message from its agent');

  const refusal = (agent: string) => ({ error: `agent token may not act as agent ${agent}: this token did not register it; act as your own agent with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)`, code: 403 });
  t.same(await call('POST', `/api/instances/${b1.id}/heartbeat`, a, undefined, b1.id), { status: 403, body: refusal('b1') }, "another token's agent: refused");
  t.same(await call('GET', '/api/state', a, undefined, b1.id), { status: 403, body: refusal('b1') }, 'refused whatever the route');
  t.same(await call('GET', '/api/state', a, undefined, 'no-such-agent'), { status: 403, body: refusal('no-such-agent') }, 'an unknown agent: refused, not ignored');

  // Without an agent a created token may not act as the operator.
  t.same(await call('POST', '/api/messages', a, { to: ['b1'], body: 'hi' }), { status: 403, body: { error: 'agent token may not send messages without acting as an agent: give one with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)', code: 403 } });
  t.same(await call('GET', '/api/messages/1', reader), { status: 403, body: { error: 'reader token may not read messages', code: 403 } });
  t.equal((await call('GET', '/api/messages/1', b, undefined, b1.id)).status, 200, 'its recipient reads it');
  t.equal((await call('POST', '/api/leases', a, { resources: ['src/b.ts'] })).status, 400, 'a lease needs an agent');

  // An admin token acts as any agent; a reader's X-Koor-Instance does not make it one.
  t.equal((await call('POST', `/api/instances/${b1.id}/heartbeat`, boss, undefined, b1.id)).status, 200, 'a created admin token: any agent');
  t.equal((await call('GET', '/api/state', reader, undefined, b1.id)).status, 200, 'a reader reads');
  t.same(await call('POST', `/api/instances/${b1.id}/heartbeat`, reader, undefined, b1.id), { status: 403, body: { error: 'reader token may not heartbeat for agents', code: 403 } });
  // An instance token names its own agent: X-Koor-Instance does not change it.
  t.equal((await call('POST', `/api/instances/${b1.id}/heartbeat`, a1.token, undefined, b1.id)).status, 403);
});

t.test('hooks: a session belongs to the token that bound it; koor-cli acts as its agent with that token', async (t) => {
  const { call, token, register } = await setup(t);
  const [a, b] = [await token('ann', 'agent'), await token('bob', 'agent')];
  const hook = (tok: string, session: string, event: string, instance?: string) =>
    call('POST', '/api/hooks/claude-code', tok, { session_id: session, hook_event_name: event, cwd: '/w/web', prompt: 'go' }, instance, { 'x-koor-repo-root': '/w/web' });

  t.equal((await hook(a, 'sess-a', 'UserPromptSubmit')).status, 200, 'bound by ann');
  const bound = await call('GET', '/api/hooks/claude-code/sessions/sess-a', a);
  t.equal(bound.status, 200);
  // What koor-cli does inside the session: its agent by the session, then X-Koor-Instance.
  t.equal((await call('GET', '/api/inbox', a, undefined, bound.body.instance_id)).status, 200, "ann's token acts as the session's agent");
  t.equal((await call('GET', '/api/inbox', b, undefined, bound.body.instance_id)).status, 403, "bob's does not");

  const other = { error: "agent token may not call hooks for another agent's session", code: 403 };
  t.same(await hook(b, 'sess-a', 'UserPromptSubmit'), { status: 403, body: other }, "bob's token driving ann's session: refused");
  t.same(await hook(b, 'sess-a', 'SessionEnd'), { status: 403, body: other }, 'nor may it end it');
  // An edit ann's session holds the file of is answered from what the server keeps: not for bob either.
  const edit = (tok: string, tool_name: string) =>
    call('POST', '/api/hooks/claude-code', tok, { session_id: 'sess-a', hook_event_name: 'PreToolUse', cwd: '/w/web', tool_name, tool_input: { file_path: '/w/web/a.ts' } }, undefined, { 'x-koor-repo-root': '/w/web' });
  for (let i = 0; i < 2; i++) t.same(await edit(a, 'Edit'), { status: 200, body: {} }, 'ann edits a.ts, leased to her session at the first edit');
  t.same(await edit(b, 'Edit'), { status: 403, body: other }, "bob's token editing through ann's session: refused");
  t.same(await edit(b, 'Read'), { status: 403, body: other }, 'or reading through it');
  t.equal((await call('GET', '/api/hooks/claude-code/sessions/sess-a', a)).status, 200, 'the session lives on');

  // An agent's own instance token binds sessions too, and only it drives them.
  const i1 = await register(b, 'i1');
  t.equal((await hook(i1.token, 'sess-i', 'UserPromptSubmit')).status, 200, 'bound by an instance token');
  t.same(await hook(a, 'sess-i', 'Stop'), { status: 403, body: other });
  t.equal((await hook(i1.token, 'sess-i', 'Stop')).status, 200);
  t.equal((await hook(SERVER, 'sess-i', 'Stop')).status, 200, 'the operator drives any session');

  t.equal((await hook(a, 'sess-a', 'SessionEnd')).status, 200, 'ann ends her session');
  t.equal((await call('GET', '/api/hooks/claude-code/sessions/sess-a', a)).status, 404);
});

t.test('scopes reach leases, tasks by id and messages', async (t) => {
  const { call, token, register } = await setup(t);
  const scoped = await token('web', 'agent', ['project:web', 'path:shared/**']);
  const me = await register(scoped, 'w1', '/w/web');
  const as = (method: string, path: string, body?: unknown) => call(method, path, scoped, body, me.id);
  const out = (action: string, what: string) => ({ error: `agent token may not ${action} outside its scopes: ${what}`, code: 403 });

  // Leases: every file of its project, or a file under a path: scope in any project.
  const mine = await as('POST', '/api/leases', { resources: ['web/a.ts', 'shared/x.ts'] });
  t.equal(mine.status, 200, 'its own project (web): any file');
  t.match(mine.body, { project: 'web' });
  t.equal((await as('POST', '/api/leases', { resources: ['ops/a.ts'] })).status, 200, 'a folder named ops is still a file of web');
  t.same(await as('POST', '/api/leases', { project: 'ops', resources: ['b.ts'] }), { status: 403, body: out('take leases', 'b.ts in project ops') }, 'project ops: outside');
  t.same(await as('POST', '/api/leases', { project: 'ops', resources: ['shared/y.ts', 'b.ts'] }), { status: 403, body: out('take leases', 'b.ts in project ops') }, 'one file out: all refused');
  t.equal((await as('POST', '/api/leases', { project: 'ops', resources: ['shared/y.ts'] })).status, 200, 'a path: scope reaches its files in any project');
  t.same((await call('GET', '/api/leases/check?path=b.ts&project=ops', SERVER)).body, [], 'and nothing taken');

  const ops = await register(SERVER, 'o1', '/w/ops');
  const theirs = (await call('POST', '/api/leases', SERVER, { resources: ['z.ts'] }, ops.id)).body;
  t.match(theirs, { project: 'ops' }, "an agent's leases are in its project");
  t.same(await as('GET', `/api/leases/${theirs.id}`), { status: 403, body: out('read leases', 'z.ts in project ops') });
  t.equal((await as('GET', `/api/leases/${mine.body.id}`)).status, 200, 'its own');
  t.same(await as('GET', '/api/leases'), { status: 403, body: out('list leases', 'every project') }, 'every lease: not narrowed');
  t.equal((await as('GET', `/api/leases?holder=${me.id}`)).status, 200, 'its own leases');
  t.equal((await as('GET', '/api/leases?resource=web/a.ts')).status, 200, 'a file of its project');
  t.equal((await as('GET', '/api/leases?project=web')).status, 200, 'its project');
  t.same(await as('GET', '/api/leases?project=ops'), { status: 403, body: out('list leases', 'project ops') });
  t.same(await as('GET', '/api/leases/check?path=z.ts&project=ops'), { status: 403, body: out('check leases', 'z.ts in project ops') });
  t.same(await as('POST', '/api/leases/check', { project: 'ops', paths: ['shared/y.ts', 'z.ts'] }), { status: 403, body: out('check leases', 'z.ts in project ops') });
  t.same((await as('GET', '/api/leases/check?path=z.ts')).body, [], "its own project's z.ts is free: ops's lease is another repository's");

  // Tasks by id: only its projects'.
  const opsTask = (await call('POST', '/api/tasks', SERVER, { project: 'ops', title: 'x' })).body;
  const webTask = (await call('POST', '/api/tasks', SERVER, { project: 'web', title: 'y' })).body;
  t.same(await as('GET', `/api/tasks/${opsTask.id}`), { status: 403, body: out('read tasks', 'project ops') });
  t.equal((await as('GET', `/api/tasks/${webTask.id}`)).status, 200);

  // Messages: recipients inside its projects only.
  await register(SERVER, 'webpeer', '/w/web');
  await register(SERVER, 'opspeer', '/w/ops');
  t.equal((await as('POST', '/api/messages', { to: ['webpeer'], body: 'hi' })).status, 200, 'an agent of web');
  t.equal((await as('POST', '/api/messages', { to: ['project:web'], body: 'hi' })).status, 200, 'project:web');
  for (const [to, entry] of [[['opspeer'], 'to opspeer'], [['project:ops'], 'project ops'], ['*', 'every project'], [['webpeer', 'opspeer'], 'to opspeer']] as const) {
    t.same(await as('POST', '/api/messages', { to, body: 'hi' }), { status: 403, body: out('send messages', entry) }, `to ${JSON.stringify(to)}`);
  }

  t.same((await call('POST', '/api/tokens', SERVER, { name: 'bad', role: 'agent', scopes: ['path:['] })).status, 400, 'a path scope is a path glob');
});

t.test('MCP: an agent registered with a created token over MCP is that token’s', async (t) => {
  const { s, call, token } = await setup(t);
  const a = await token('ann', 'agent');
  const b = await token('bob', 'agent');
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const client = new Client({ name: 'owner', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${a}` } } }));
  t.teardown(() => client.close());
  const r = (await client.callTool({ name: 'register_instance', arguments: { name: 'via-mcp' } })) as { content: Array<{ text: string }> };
  const id = (JSON.parse(r.content[0]!.text) as { instance_id: string }).instance_id;
  t.equal((await call('POST', `/api/instances/${id}/activate`, a, undefined, id)).status, 200, 'the token that registered it acts as it');
  t.equal((await call('POST', `/api/instances/${id}/activate`, b, undefined, id)).status, 403, 'another does not');
});

t.test('refusals past the permission table are audited and counted like its own', async (t) => {
  const { s, call, token, register } = await setup(t);
  const made = (await call('POST', '/api/tokens', SERVER, { name: 'ann', role: 'agent' })).body as { id: string; token: string };
  const b = await token('bob', 'agent');
  const b1 = await register(b, 'b1');
  // Raised by the Authenticator (X-Koor-Instance of an agent it did not register) and by a handler (a hook session's owner).
  t.equal((await call('GET', '/api/state', made.token, undefined, b1.id)).status, 403);
  t.equal((await call('POST', '/api/hooks/claude-code', b, { session_id: 'sb', hook_event_name: 'Stop' })).status, 200);
  t.equal((await call('POST', '/api/hooks/claude-code', made.token, { session_id: 'sb', hook_event_name: 'Stop' })).status, 403);
  const entries = await (async () => {
    for (let i = 0; i < 100; i++) {
      const audit = (await call('GET', '/api/audit?action=auth.denied&limit=100', SERVER)).body as Array<{ actor: string; resource: string }>;
      const mine = audit.filter((a) => a.actor === `token:${made.id}`).map((a) => a.resource).sort();
      if (mine.length >= 2) return mine;
      await new Promise((r) => setTimeout(r, 100));
    }
    return [];
  })();
  t.same(entries, ['GET /api/state', 'POST /api/hooks/claude-code'], 'both audited, the route as resource');
  // Counted on the node that refused (in cluster mode, any of them).
  let counted = 0;
  for (const url of s.nodeUrls) counted += Number(/koor_auth_denied_total\{role="agent"\} (\d+)/.exec(await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${SERVER}` } })).text())?.[1] ?? 0);
  t.ok(counted >= 2, `counted: ${counted}`);
});

t.test('hooks stay inside a scoped token: its project, and auto-leases only on files its scopes reach', async (t) => {
  const { call, token } = await setup(t);
  const scoped = await token('web', 'agent', ['project:web', 'path:src/**']);
  const hook = (session: string, event: string, project: string, extra: Record<string, unknown> = {}) =>
    call('POST', '/api/hooks/claude-code', scoped, { session_id: session, hook_event_name: event, cwd: '/w/web', ...extra }, undefined, { 'x-koor-repo-root': '/w/web', 'x-koor-project': project });
  t.same(await hook('s-ops', 'UserPromptSubmit', 'ops', { prompt: 'go' }), { status: 403, body: { error: 'agent token may not bind a coding-agent session outside its scopes: project ops', code: 403 } }, 'another project: refused');
  t.equal((await hook('s-web', 'UserPromptSubmit', 'web', { prompt: 'go' })).status, 200);
  const edit = (file: string) => hook('s-web', 'PreToolUse', 'web', { tool_name: 'Edit', tool_input: { file_path: file } });
  t.equal((await edit('/w/web/src/a.ts')).status, 200);
  t.equal((await edit('/w/web/docs/b.md')).status, 200);
  const held = async (p: string, project: string) => ((await call('GET', `/api/leases/check?path=${p}&project=${project}`, SERVER)).body as unknown[]).length;
  // `project:web` reaches every file of project web (no more web/** folder convention).
  t.equal(await held('src/a.ts', 'web'), 1, 'a file of its project: auto-leased, in its project');
  t.equal(await held('docs/b.md', 'web'), 1, 'any file of its project');
  t.equal(await held('src/a.ts', ''), 0, 'not in the project with no name');
});
