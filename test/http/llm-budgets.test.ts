import fs from 'node:fs';
import path from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import t from 'tap';
import { REPO } from '../helpers/paths.js';
import { startTestServer, tempDir } from '../helpers/server.js';

/**
 * Provider usage shapes and the price table on POST /api/llm/usage; Claude Code's
 * OpenTelemetry export in (the capture in test/fixtures/otlp, from Claude Code 2.1.328) with
 * retries counted once and records attributed through the hook sessions; budgets, their events,
 * the digest line and the 429 on task claims, and a new period letting claims through.
 */

type Headers = Record<string, string>;
function client(base: string) {
  const call = async (method: string, p: string, body?: unknown, headers: Headers = {}) => {
    const r = await fetch(`${base}${p}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text), text };
  };
  return { call, get: async (p: string) => (await call('GET', p)).body };
}

/** The capture: one `POST <path> <content-type> <body>` per line. */
const CAPTURE = fs
  .readFileSync(path.join(REPO, 'test', 'fixtures', 'otlp', 'claude-code-2.1.328.txt'), 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => {
    const [, p, type] = l.split(' ', 3);
    return { path: p!, type: type!, body: l.slice(`POST ${p} ${type} `.length) };
  });
const LOGS = CAPTURE.find((c) => c.path === '/v1/logs')!.body;
const METRICS = CAPTURE.find((c) => c.path === '/v1/metrics')!.body;
const CAPTURED_SESSION = 'f94fbb42-d721-4a21-bd37-1f0dd60dbe62';

t.test('provider usage shapes, the price table, an unknown model; events from llmcost', async (t) => {
  const dir = tempDir(t);
  const prices = path.join(dir, 'prices.json');
  const s = await startTestServer(t, { llmPrices: prices });
  const { call, get } = client(s.url);

  // Anthropic's usage block as the Messages API returns it, no cost: priced from the defaults.
  const a = await call('POST', '/api/llm/usage', { provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', project: 'shop', usage: { input_tokens: 1000, output_tokens: 200, cache_creation_input_tokens: 400, cache_read_input_tokens: 10_000 } });
  // 1000×3 + 200×15 + 400×3.75 + 10000×0.3 = 10500 µ$
  t.same(a.body, { id: a.body.id, recorded: true, cost_usd: 0.0105, cost_source: 'priced' });
  // OpenAI's: prompt_tokens include the cached ones.
  const o = await call('POST', '/api/llm/usage', { provider: 'openai', model: 'gpt-4o-mini', usage: { prompt_tokens: 1200, completion_tokens: 100, total_tokens: 1300, prompt_tokens_details: { cached_tokens: 200 } } });
  // 1000×0.15 + 100×0.6 + 200×0.075 = 225 µ$
  t.same(o.body, { id: o.body.id, recorded: true, cost_usd: 0.000225, cost_source: 'priced' });
  // Given a cost, the cost stands.
  const given = await call('POST', '/api/llm/usage', { provider: 'openai', model: 'gpt-4o', cost_usd: 0.5, usage: { prompt_tokens: 10, completion_tokens: 5 } });
  t.same(given.body, { id: given.body.id, recorded: true, cost_usd: 0.5, cost_source: 'reported' });
  // An unknown model: tokens recorded, the cost unknown — not 0.
  const u = await call('POST', '/api/llm/usage', { provider: 'acme', model: 'acme-1', usage: { input_tokens: 70, output_tokens: 7 } });
  t.same(u.body, { id: u.body.id, recorded: true, cost_usd: null, cost_source: 'unknown' });
  const wrong = await call('POST', '/api/llm/usage', { provider: 'anthropic', model: 'm', usage: { input_tokens: 'many' } });
  t.same([wrong.status, wrong.body], [400, { error: 'usage.input_tokens: expected integer or null', code: 400 }], 'a known member of the wrong type is named');

  const list = await get('/api/llm/usage');
  t.match(list.find((r: any) => r.id === a.body.id), { tokens_in: 1000, tokens_out: 200, cache_creation_tokens: 400, cache_read_tokens: 10_000, cost_usd: 0.0105, cost_source: 'priced', project: 'shop' });
  t.match(list.find((r: any) => r.id === o.body.id), { tokens_in: 1000, tokens_out: 100, cache_creation_tokens: 0, cache_read_tokens: 200 });
  t.match(list.find((r: any) => r.id === u.body.id), { tokens_in: 70, tokens_out: 7, cost_usd: null, cost_source: 'unknown' });

  // The operator's table: a change applies to the records after it, never to those stored.
  fs.writeFileSync(prices, JSON.stringify({ 'acme-1': { input: 1000, output: 1000 }, 'claude-sonnet-4-5': { input: 6, output: 30, cache_write: 7.5, cache_read: 0.6 } }));
  const a2 = await call('POST', '/api/llm/usage', { provider: 'anthropic', model: 'claude-sonnet-4-5', usage: { input_tokens: 1000, output_tokens: 200, cache_creation_input_tokens: 400, cache_read_input_tokens: 10_000 } });
  t.equal(a2.body.cost_usd, 0.021, 'the new price');
  const u2 = await call('POST', '/api/llm/usage', { provider: 'acme', model: 'ACME-1', usage: { input_tokens: 70, output_tokens: 7 } });
  t.same([u2.body.cost_usd, u2.body.cost_source], [0.077, 'priced'], 'a model the operator added');
  const after = await get('/api/llm/usage');
  t.equal(after.find((r: any) => r.id === a.body.id).cost_usd, 0.0105, 'an older record keeps its cost');
  t.equal(after.find((r: any) => r.id === u.body.id).cost_usd, null, 'and an unknown one stays unknown');

  const events = await get('/api/events/history?topic=llm.usage.recorded');
  t.equal(events.length, 6);
  t.ok(events.every((e: any) => e.source === 'llmcost'), 'llm.usage.recorded comes from llmcost');
  t.match(events.find((e: any) => e.data.id === u.body.id).data, { cost_usd: null, cost_source: 'unknown', tokens_in: 70 });
});

t.test('OTLP/HTTP JSON from Claude Code: api_request → a usage record, retries counted once, attributed when a hook binds the session', async (t) => {
  const s = await startTestServer(t);
  const { call, get } = client(s.url);
  const post = (p: string, body: string, type = 'application/json') => call('POST', p, body, { 'content-type': type });

  // Before any hook has bound the session: the session's own record.
  const r1 = await post('/v1/logs', LOGS);
  t.same([r1.status, r1.body], [200, { partialSuccess: {}, recorded: 1, duplicates: 0 }], 'one api_request among the events; the others ignored');
  const r2 = await post('/v1/logs', LOGS);
  t.same(r2.body, { partialSuccess: {}, recorded: 0, duplicates: 1 }, 'the exporter retried the batch: not counted again');
  t.same((await post('/v1/metrics', METRICS)).body, { partialSuccess: {}, recorded: 0, duplicates: 0 }, 'metrics are accepted');
  const proto = await post('/v1/logs', 'x', 'application/x-protobuf');
  t.same([proto.status, proto.body.error], [400, 'OTLP protobuf is not accepted: export with OTEL_EXPORTER_OTLP_PROTOCOL=http/json']);
  t.equal((await post('/v1/logs', '{"resourceLogs":')).status, 400, 'malformed JSON is a 400');
  t.same((await post('/v1/logs', '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"other.program"}}]}]}]}')).body.recorded, 0, 'other logs: accepted, ignored');

  const list = await get('/api/llm/usage');
  t.equal(list.length, 1);
  t.match(list[0], {
    instance_id: '',
    session_id: CAPTURED_SESSION,
    provider: 'anthropic',
    model: 'claude-sonnet-4-5',
    tokens_in: 1234,
    tokens_out: 321,
    cache_read_tokens: 100,
    cache_creation_tokens: 50,
    cost_usd: 0.011626,
    cost_source: 'reported',
    request_type: 'claude-code',
  });

  // The session's first hook binds it to an agent: the record becomes the agent's, with its project.
  const hook = await call('POST', '/api/hooks/claude-code', { session_id: CAPTURED_SESSION, hook_event_name: 'UserPromptSubmit', cwd: '/home/ann/shop', prompt: 'hi' }, { 'x-koor-repo-root': '/home/ann/shop' });
  t.equal(hook.status, 200);
  const agent = (await get(`/api/hooks/claude-code/sessions/${CAPTURED_SESSION}`)).instance_id as string;
  t.match((await get('/api/llm/usage'))[0], { instance_id: agent, project: 'shop', session_id: CAPTURED_SESSION }, 're-attributed when bound');

  // After binding, a new request of the session is the agent's at once.
  const next = LOGS.replace('"event.sequence","value":{"intValue":6}', '"event.sequence","value":{"intValue":"9"}');
  t.not(next, LOGS);
  t.same((await post('/v1/logs', next)).body.recorded, 1, 'another sequence number is another request (int64 as a string too)');
  t.match((await get('/api/llm/usage'))[0], { instance_id: agent, project: 'shop' });
  t.equal((await get(`/api/llm/usage/summary?group_by=instance`)).groups[agent].request_count, 2);

  // The client flushes its export at exit, possibly after SessionEnd ended the session: still the agent's.
  t.equal((await call('POST', '/api/hooks/claude-code', { session_id: CAPTURED_SESSION, hook_event_name: 'SessionEnd', cwd: '/home/ann/shop', reason: 'other' }, { 'x-koor-repo-root': '/home/ann/shop' })).status, 200);
  t.equal((await call('GET', `/api/hooks/claude-code/sessions/${CAPTURED_SESSION}`)).status, 404, 'the session ended');
  t.same((await post('/v1/logs', LOGS.replace('"event.sequence","value":{"intValue":6}', '"event.sequence","value":{"intValue":10}'))).body.recorded, 1);
  t.match((await get('/api/llm/usage'))[0], { instance_id: agent, project: 'shop' }, 'attributed as the session\'s earlier records were');
});

t.test('budgets: two agents cross a project cap — one warning, one exceeded, a digest line, claims 429 there only, a new period lets them through', async (t) => {
  const dir = tempDir(t);
  let s = await startTestServer(t, { dataDir: dir });
  let { call, get } = client(s.url);
  const as = (id: string): Headers => ({ 'x-koor-instance': id });

  // Ann works in shop through Claude Code's hooks; Ben is registered by hand in shop too.
  const annSession = '0e3c7a52-2222-4c7e-9a55-aaaaaaaaaaaa';
  const hook = () => call('POST', '/api/hooks/claude-code', { session_id: annSession, hook_event_name: 'UserPromptSubmit', cwd: '/home/ann/shop', prompt: 'go on' }, { 'x-koor-repo-root': '/home/ann/shop' });
  t.equal((await hook()).status, 200);
  const ann = (await get(`/api/hooks/claude-code/sessions/${annSession}`)).instance_id as string;
  const ben = (await call('POST', '/api/instances/register', { name: 'ben' })).body.id as string;
  for (const [project, title] of [['shop', 'a'], ['shop', 'b'], ['shop', 'c'], ['blog', 'd']]) t.equal((await call('POST', '/api/tasks', { project, title })).status, 200);

  // Bad budgets are named.
  t.same((await call('PUT', '/api/budgets/team:x', { usd: 1 })).body, { error: 'invalid budget scope "team:x": expected agent:<id|name>, project:<name>, session:<tag> or global', code: 400 });
  t.same((await call('PUT', '/api/budgets/project:shop', { period: 'day' })).body, { error: 'a budget needs usd or tokens', code: 400 });
  t.equal((await call('PUT', '/api/budgets/project:shop', { usd: 1, period: 'hour' })).status, 400);
  t.equal((await call('DELETE', '/api/budgets/project:none')).status, 404);

  const put = await call('PUT', '/api/budgets/project:shop', { usd: 1, period: 'day', warn_at: 0.5 });
  t.match(put.body, { scope: 'project:shop', usd: 1, tokens: null, period: 'day', warn_at: 0.5, spent_usd: 0, status: 'ok' });
  t.equal((await call('PUT', '/api/budgets/project:blog', { tokens: 1_000_000, period: 'month' })).status, 200);

  const spend = (agent: string, cost: number) => call('POST', '/api/llm/usage', { provider: 'anthropic', model: 'claude-haiku-4-5', project: 'shop', cost_usd: cost, tokens_in: 10, tokens_out: 10 }, as(agent));
  t.equal((await spend(ann, 0.3)).status, 200);
  t.same(await get('/api/events/history?topic=budget.*'), [], 'below warn_at: nothing');
  await spend(ben, 0.3); // 0.6: past warn_at
  await spend(ann, 0.1); // 0.7: still a warning, already told
  await spend(ben, 0.4); // 1.1: exceeded
  await spend(ann, 0.2); // 1.3: already told
  const events = await get('/api/events/history?topic=budget.*');
  t.same(
    events.map((e: any) => [e.topic, e.source]),
    [
      ['budget.exceeded', 'budget'],
      ['budget.warning', 'budget'],
    ],
    'one warning, one exceeded (newest first)',
  );
  t.match(events[0].data, { scope: 'project:shop', level: 'exceeded', period: 'day', usd: 1, spent_usd: 1.1 });

  const budgets = await get('/api/budgets');
  t.same(
    budgets.map((b: any) => [b.scope, b.status]),
    [
      ['project:blog', 'ok'],
      ['project:shop', 'exceeded'],
    ],
  );
  t.match(budgets[1], { spent_usd: 1.3, spent_tokens: 100, fill: 1.3 });

  // Claims in shop are refused, for both agents; blog is not capped that way.
  const claim = (agent: string, project: string) => call('POST', '/api/tasks/claim', { project }, as(agent));
  const refused = await claim(ben, 'shop');
  t.same([refused.status, refused.body], [429, { error: 'budget exceeded: project:shop reached its daily cap of $1', code: 429 }]);
  t.equal((await claim(ann, 'shop')).status, 429);
  t.match((await claim(ben, 'blog')).body, { project: 'blog', title: 'd', status: 'claimed' }, 'another project is unaffected');

  // Ann's next hook digest says so, in one line.
  const digest = (await hook()).body.hookSpecificOutput?.additionalContext as string;
  t.match(digest, /Budget exceeded: project:shop spent \$1\.10 of \$1 \(day \d{4}-\d\d-\d\d\); task claims are refused/);
  const enc = new Tiktoken(o200k_base);
  t.ok(enc.encode(digest).length <= 200, `within the digest's budget: ${enc.encode(digest).length} o200k tokens of 200`);
  t.notOk((await hook()).body.hookSpecificOutput, 'once');

  // Raising the cap lets claims through at once; lowering it again refuses them (and says so once more).
  t.match((await call('PUT', '/api/budgets/project:shop', { usd: 5, period: 'day', warn_at: 0.5 })).body, { status: 'ok' });
  t.match((await claim(ann, 'shop')).body, { status: 'claimed' });
  await call('PUT', '/api/budgets/project:shop', { usd: 1, period: 'day', warn_at: 0.5 });
  t.equal((await claim(ann, 'shop')).status, 429);

  // The next day: the period rolled (the server's budget clock a day ahead), claims go through.
  await s.close();
  s = await startTestServer(t, { dataDir: dir, testClockOffsetMs: 86_400_000 });
  ({ call, get } = client(s.url));
  t.match((await claim(ben, 'shop')).body, { project: 'shop', status: 'claimed' }, 'a new period lets claims through');
  t.match((await get('/api/budgets')).find((b: any) => b.scope === 'project:shop'), { spent_usd: 0, status: 'ok' });
  t.equal((await call('DELETE', '/api/budgets/project:shop')).status, 200);
  t.same((await get('/api/budgets')).map((b: any) => b.scope), ['project:blog']);
});

t.test('budgets by agent name and in tokens, and a global one: whose claims they refuse', async (t) => {
  const s = await startTestServer(t);
  const { call, get } = client(s.url);
  const as = (id: string): Headers => ({ 'x-koor-instance': id });
  const ann = (await call('POST', '/api/instances/register', { name: 'ann' })).body.id as string;
  const ben = (await call('POST', '/api/instances/register', { name: 'ben' })).body.id as string;
  for (let i = 0; i < 4; i++) await call('POST', '/api/tasks', { project: 'web', title: `t${i}` });
  const claim = (agent: string) => call('POST', '/api/tasks/claim', { project: 'web' }, as(agent));
  const use = (agent: string, tokens: number) => call('POST', '/api/llm/usage', { provider: 'acme', model: 'acme-9', tokens_in: tokens, tokens_out: 0 }, as(agent));

  // Ben by name, 1000 tokens a week; the unknown model's cost is unknown, its tokens count.
  t.match((await call('PUT', '/api/budgets/agent:ben', { tokens: 1000, period: 'week' })).body, { scope: 'agent:ben', usd: null, tokens: 1000, period: 'week', period_key: /^week-\d{4}-\d\d-\d\d$/ });
  await use(ben, 600);
  await use(ann, 5000);
  t.match((await get('/api/budgets'))[0], { scope: 'agent:ben', spent_tokens: 600, spent_usd: 0, unpriced: 1, status: 'ok' }, 'only ben counts; ann is not ben');
  await use(ben, 400);
  t.same((await claim(ben)).body, { error: 'budget exceeded: agent:ben reached its weekly cap of 1000 tokens', code: 429 });
  t.equal((await claim(ann)).status, 200, 'ann claims on');

  // A global cap refuses everyone's claims; removing it lets ann through again.
  t.match((await call('PUT', '/api/budgets/global', { usd: 0 })).body, { status: 'ok' }, 'no dollars spent: the unknown costs add none');
  t.match((await call('PUT', '/api/budgets/global', { tokens: 6000, period: 'total' })).body, { status: 'exceeded', spent_tokens: 6000 });
  t.same((await claim(ann)).body, { error: 'budget exceeded: global reached its total cap of 6000 tokens', code: 429 });
  t.equal((await call('DELETE', '/api/budgets/global')).status, 200);
  t.equal((await claim(ann)).status, 200);
  t.same(
    (await get('/api/events/history?topic=budget.*')).map((e: any) => [e.topic, e.data.scope]).reverse(),
    [
      ['budget.warning', 'agent:ben'],
      ['budget.exceeded', 'agent:ben'],
      ['budget.warning', 'global'],
      ['budget.exceeded', 'global'],
    ],
  );
});
