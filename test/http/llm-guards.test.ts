import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO } from '../helpers/paths.js';
import { startTestServer } from '../helpers/server.js';

/**
 * The LLM budgets' guards: who may charge whose budget (POST /api/llm/usage and OTLP /v1/logs, by agent,
 * by the token that bound a session, by a scoped token's projects), no negative spend, a bounded
 * OTLP export (partialSuccess past it), the claim refusal's Retry-After (the budget period's end),
 * GET /api/budgets on the running spend the 429 uses, and a scoped token's budgets.
 */

const SERVER = 'llm-guards-token';
type Reply = { status: number; body: any; headers: Headers };

async function setup(t: Tap.Test) {
  const s = await startTestServer(t, { authToken: SERVER });
  const call = async (method: string, p: string, token: string, body?: unknown, instance?: string, extra: Record<string, string> = {}): Promise<Reply> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(instance ? { 'x-koor-instance': instance } : {}), ...extra };
    const r = await fetch(`${s.url}${p}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text, headers: r.headers };
  };
  const token = async (name: string, role: string, scopes?: string[]) => {
    const r = await call('POST', '/api/tokens', SERVER, { name, role, ...(scopes ? { scopes } : {}) });
    if (r.status !== 200) throw new Error(`token ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token as string;
  };
  const register = async (tok: string, name: string) => {
    const r = await call('POST', '/api/instances/register', tok, { name });
    if (r.status !== 200) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as { id: string; token: string };
  };
  return { s, call, token, register };
}

const LOGS = fs
  .readFileSync(path.join(REPO, 'test', 'fixtures', 'otlp', 'claude-code-2.1.328.txt'), 'utf8')
  .split('\n')
  .find((l) => l.startsWith('POST /v1/logs '))!
  .replace(/^POST \/v1\/logs \S+ /, '');
const CAPTURED_SESSION = 'f94fbb42-d721-4a21-bd37-1f0dd60dbe62';

/** An OTLP export of `n` api_request records of a session (sequence numbers 1..n). */
function apiRequests(n: number, session: string, extra: Array<{ key: string; value: Record<string, unknown> }> = []): string {
  const attr = (key: string, value: Record<string, unknown>) => ({ key, value });
  const logRecords = Array.from({ length: n }, (_, i) => ({
    body: { stringValue: 'claude_code.api_request' },
    attributes: [
      attr('event.name', { stringValue: 'api_request' }),
      attr('session.id', { stringValue: session }),
      attr('event.sequence', { intValue: i + 1 }),
      attr('model', { stringValue: 'claude-haiku-4-5' }),
      attr('input_tokens', { intValue: 10 }),
      attr('output_tokens', { intValue: 1 }),
      attr('cost_usd', { doubleValue: 0.001 }),
      ...extra,
    ],
  }));
  return JSON.stringify({ resourceLogs: [{ resource: { attributes: [attr('service.name', { stringValue: 'claude-code' })] }, scopeLogs: [{ logRecords }] }] });
}

t.test('POST /api/llm/usage: an agent charges only itself, a scoped token only its projects, nothing negative', async (t) => {
  const { call, token, register } = await setup(t);
  const [a, b, scoped] = [await token('ann', 'agent'), await token('bob', 'agent'), await token('web', 'agent', ['project:web'])];
  const a1 = await register(a, 'a1');
  const b1 = await register(b, 'b1');
  const rec = (extra: Record<string, unknown>) => ({ provider: 'anthropic', model: 'claude-haiku-4-5', tokens_in: 10, tokens_out: 1, ...extra });

  const other = { error: 'agent token may not record LLM usage for another agent', code: 403 };
  t.same([(await call('POST', '/api/llm/usage', a, rec({ instance_id: b1.id }), a1.id)).status, (await call('POST', '/api/llm/usage', a, rec({ instance_id: b1.id }), a1.id)).body], [403, other], "ann's agent charging bob's: refused");
  t.same((await call('POST', '/api/llm/usage', a1.token, rec({ instance_id: b1.id }))).body, other, 'an instance token for another agent: refused');
  t.same((await call('POST', '/api/llm/usage', a, rec({ instance_id: b1.id }))).body, other, 'a token without an agent naming one: refused');
  t.equal((await call('POST', '/api/llm/usage', a, rec({ instance_id: a1.id }), a1.id)).status, 200, 'its own agent by id');
  t.equal((await call('POST', '/api/llm/usage', a1.token, rec({}))).status, 200, 'an instance token: itself');
  t.equal((await call('POST', '/api/llm/usage', SERVER, rec({ instance_id: b1.id }))).status, 200, 'the operator charges any agent');
  const usage = (await call('GET', '/api/llm/usage', SERVER)).body as Array<{ instance_id: string }>;
  t.same(usage.map((r) => r.instance_id).sort(), [a1.id, a1.id, b1.id].sort(), 'nothing charged to bob but by the operator');

  // Negative spend would un-charge a budget: refused, the member named.
  for (const [member, body] of [
    ['cost_usd', rec({ cost_usd: -5 })],
    ['tokens_in', rec({ tokens_in: -1000 })],
    ['cache_read_tokens', rec({ cache_read_tokens: -1 })],
    ['usage.output_tokens', { provider: 'anthropic', model: 'm', usage: { output_tokens: -3 } }],
  ] as const) {
    const r = await call('POST', '/api/llm/usage', a, body, a1.id);
    t.equal(r.status, 400, `negative ${member}: 400`);
    t.match(r.body.error, new RegExp(`^${member.replace('.', '\\.')}: `), `the error names ${member}`);
  }

  // A scoped token: its projects only.
  t.same((await call('POST', '/api/llm/usage', scoped, rec({ project: 'shop' }))).body, { error: 'agent token may not record LLM usage outside its scopes: project shop', code: 403 });
  t.equal((await call('POST', '/api/llm/usage', scoped, rec({ project: 'web' }))).status, 200, 'in scope');
});

t.test('OTLP /v1/logs: a token charges only sessions of agents it may act as; negative costs ignored; koor.project in scope', async (t) => {
  const { call, token, register } = await setup(t);
  const [a, b, scoped] = [await token('ann', 'agent'), await token('bob', 'agent'), await token('web', 'agent', ['project:web'])];
  const b1 = await register(b, 'b1');
  const post = (tok: string, body: string, instance?: string) => call('POST', '/v1/logs', tok, body, instance);
  // Ann's token binds the captured session through a hook.
  const hook = await call('POST', '/api/hooks/claude-code', a, { session_id: CAPTURED_SESSION, hook_event_name: 'UserPromptSubmit', cwd: '/w/shop', prompt: 'go' }, undefined, { 'x-koor-repo-root': '/w/shop' });
  t.equal(hook.status, 200);
  const annAgent = (await call('GET', `/api/hooks/claude-code/sessions/${CAPTURED_SESSION}`, a)).body.instance_id as string;

  const bob = await post(b, LOGS);
  t.same(
    [bob.status, bob.body],
    [200, { partialSuccess: { rejectedLogRecords: 1, errorMessage: '1 records of sessions bound to agents this token may not act as' }, recorded: 0, duplicates: 0 }],
    "bob's token reporting ann's session: refused in partialSuccess",
  );
  t.same((await post(b, LOGS, b1.id)).body.recorded, 1, "bob's agent reporting it: charged to bob's agent itself");
  t.same((await call('GET', `/api/llm/usage?instance=${annAgent}`, SERVER)).body, [], "nothing on ann's agent");
  const ann = await post(a, LOGS.replace('"event.sequence","value":{"intValue":6}', '"event.sequence","value":{"intValue":7}'));
  t.same(ann.body, { partialSuccess: {}, recorded: 1, duplicates: 0 }, "ann's token: its session");
  t.equal((await call('GET', `/api/llm/usage?instance=${annAgent}`, SERVER)).body.length, 1);
  t.same((await post(b, apiRequests(1, 'not-bound-yet'))).body, { partialSuccess: {}, recorded: 1, duplicates: 0 }, 'an unbound session: the session only');
  t.match((await call('GET', '/api/llm/usage?limit=1', SERVER)).body[0], { instance_id: '', session_id: 'not-bound-yet' });

  // Negative costs and tokens are ignored: priced from the tokens, never reported as given.
  const neg = await post(SERVER, apiRequests(1, 'neg', [{ key: 'cost_usd', value: { doubleValue: -50 } }, { key: 'input_tokens', value: { intValue: -7 } }]));
  t.equal(neg.body.recorded, 1);
  t.match((await call('GET', '/api/llm/usage?limit=1', SERVER)).body[0], { session_id: 'neg', tokens_in: 0, cost_source: 'priced' });

  // A scoped token: koor.project must be one of its projects.
  const shop = apiRequests(1, 's1', [{ key: 'koor.project', value: { stringValue: 'shop' } }]);
  t.same((await post(scoped, shop)).body, { error: 'agent token may not send telemetry outside its scopes: project shop', code: 403 });
  t.equal((await post(scoped, apiRequests(1, 's1', [{ key: 'koor.project', value: { stringValue: 'web' } }]))).body.recorded, 1);
});

t.test('OTLP /v1/logs: at most 1,000 api_request records an export, the rest rejected in partialSuccess', async (t) => {
  const { call } = await setup(t);
  const r = await call('POST', '/v1/logs', SERVER, apiRequests(1003, 'big'));
  t.same(r.body, { partialSuccess: { rejectedLogRecords: 3, errorMessage: '3 usage records past the 1000 an export may carry' }, recorded: 1000, duplicates: 0 });
  t.equal((await call('GET', '/api/llm/usage/summary?group_by=model', SERVER)).body.total.request_count, 1000, 'stored across writer calls');
  const again = await call('POST', '/v1/logs', SERVER, apiRequests(1000, 'big'));
  t.same(again.body, { partialSuccess: {}, recorded: 0, duplicates: 1000 }, 'a retried export: duplicates across the chunks');
});

t.test('a budget refusal says when its period ends; a total cap says no Retry-After; GET /api/budgets on the running spend', async (t) => {
  const { call, register } = await setup(t);
  const ann = await register(SERVER, 'ann');
  for (const title of ['a', 'b']) t.equal((await call('POST', '/api/tasks', SERVER, { project: 'shop', title })).status, 200);
  t.equal((await call('PUT', '/api/budgets/project:shop', SERVER, { usd: 1, period: 'day' })).status, 200);
  t.equal((await call('POST', '/api/llm/usage', ann.token, { provider: 'anthropic', model: 'claude-haiku-4-5', project: 'shop', cost_usd: 2 })).status, 200);
  const before = Date.now();
  const day = await call('POST', '/api/tasks/claim', ann.token, { project: 'shop' });
  const after = Date.now();
  t.equal(day.status, 429);
  const midnight = (ms: number) => Math.ceil((Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth(), new Date(ms).getUTCDate() + 1) - ms) / 1000);
  const retry = Number(day.headers.get('retry-after'));
  t.ok(retry <= midnight(before) && retry >= midnight(after), `Retry-After ${retry}: the seconds to the next UTC midnight`);

  t.equal((await call('DELETE', '/api/budgets/project:shop', SERVER)).status, 200);
  t.equal((await call('PUT', '/api/budgets/agent:ann', SERVER, { usd: 1, period: 'total' })).status, 200);
  t.equal((await call('POST', '/api/llm/usage', ann.token, { provider: 'anthropic', model: 'claude-haiku-4-5', cost_usd: 0.5 })).status, 200);
  const total = await call('POST', '/api/tasks/claim', ann.token, { project: 'shop' });
  t.same([total.status, total.headers.get('retry-after')], [429, null], 'a total cap never ends: no Retry-After');

  // The agent leaves: its name no longer finds its records, but the budget's spend stands (as the
  // gate sees it) — GET /api/budgets says what the 429 says.
  t.equal((await call('DELETE', `/api/instances/${ann.id}`, SERVER)).status, 200);
  t.match((await call('GET', '/api/budgets', SERVER)).body, [{ scope: 'agent:ann', spent_usd: 2.5, status: 'exceeded', fill: 2.5 }]);
  const ann2 = await register(SERVER, 'ann');
  t.equal((await call('POST', '/api/tasks/claim', ann2.token, { project: 'shop' })).status, 429, 'a new ann: still refused');
});

t.test('GET /api/budgets: ?scope= narrows; a scoped token reads its projects only, never a silently empty list', async (t) => {
  const { call, token } = await setup(t);
  const [scoped, reader] = [await token('web', 'reader', ['project:web']), await token('look', 'reader')];
  for (const scope of ['project:web', 'project:shop', 'global']) t.equal((await call('PUT', `/api/budgets/${scope}`, SERVER, { usd: 5 })).status, 200);
  t.same(((await call('GET', '/api/budgets', reader)).body as any[]).map((b) => b.scope), ['global', 'project:shop', 'project:web'], 'an unscoped token: all');
  t.same(((await call('GET', '/api/budgets?scope=global', reader)).body as any[]).map((b) => b.scope), ['global'], '?scope= narrows');
  const refused = (what: string) => ({ error: `reader token may not read budgets outside its scopes: ${what}`, code: 403 });
  t.same((await call('GET', '/api/budgets', scoped)).body, refused('every project'), 'a scoped token: refused the whole list');
  t.same((await call('GET', '/api/budgets?scope=project:shop', scoped)).body, refused('project shop'), 'another project: refused');
  t.same((await call('GET', '/api/budgets?scope=global', scoped)).body, refused('every project'), 'global: refused');
  t.same(((await call('GET', '/api/budgets?scope=project:web', scoped)).body as any[]).map((b) => b.scope), ['project:web'], 'its project');
});

t.test('GET /api/llm/usage/summary: ?project= narrows it; a scoped token reads only its projects', async (t) => {
  const { call, token } = await setup(t);
  for (const [project, cost] of [['web', 1.5], ['web', 0.25], ['ops', 7]] as const) {
    t.equal((await call('POST', '/api/llm/usage', SERVER, { provider: 'anthropic', model: 'm', tokens_in: 10, tokens_out: 1, cost_usd: cost, project })).status, 200);
  }
  const all = (await call('GET', '/api/llm/usage/summary', SERVER)).body;
  t.same([all.total.request_count, all.total.total_cost_usd], [3, 8.75], 'every project');
  const web = (await call('GET', '/api/llm/usage/summary?project=web', SERVER)).body;
  t.same([web.total.request_count, web.total.total_cost_usd, Object.keys(web.groups)], [2, 1.75, ['web']], 'one project');
  const scoped = await token('web', 'reader', ['project:web']);
  t.same(await call('GET', '/api/llm/usage/summary', scoped).then((r) => [r.status, r.body]), [403, { error: 'reader token may not read LLM usage outside its scopes: every project', code: 403 }], 'not every project');
  t.same(await call('GET', '/api/llm/usage/summary?project=ops', scoped).then((r) => r.status), 403, 'not another project');
  t.same((await call('GET', '/api/llm/usage/summary?project=web', scoped)).body.total.request_count, 2, 'its own');
});
