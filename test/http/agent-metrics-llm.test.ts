import t from 'tap';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestServer, json, tempDir } from '../helpers/server.js';
import { startServer } from '../../src/server.js';
import { parseBind } from '../../src/config.js';
import { testConfig } from '../helpers/config.js';
import { silentLogger } from '../../src/log.js';

/** Per-agent metrics and LLM usage. */

type Server = { url: string };
const req = (s: Server, method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${s.url}${p}`, { method, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
const get = async (s: Server, p: string) => json(await req(s, 'GET', p));

t.test('identified calls are counted per agent in hourly buckets, written for real and kept across a restart', async (t) => {
  const dir = tempDir(t);
  const config = testConfig({ bind: parseBind('127.0.0.1:0', 'bind'), dashboardBind: null, dataDir: dir });
  let s = await startServer(config, { log: silentLogger() });
  // The hour the calls start in: a run across the hour's end counts them in two buckets.
  const first = new Date().toISOString().slice(0, 13);
  const a = await json(await req(s, 'POST', '/api/instances/register', { name: 'agent-a' }));
  const b = await json(await req(s, 'POST', '/api/instances/register', { name: 'agent-b' }));
  const A = { 'x-koor-instance': a.instance_id ?? a.id };
  const idA = A['x-koor-instance'];
  const idB = b.instance_id ?? b.id;
  await req(s, 'PUT', '/api/validate/p/rules', [{ rule_id: 'todo', pattern: 'TODO', message: 'no' }]);
  for (let i = 0; i < 3; i++) t.equal((await req(s, 'PUT', `/api/state/k${i}`, '1', A)).status, 200);
  await req(s, 'GET', '/api/state/k0', undefined, A);
  await req(s, 'DELETE', '/api/state/k1', undefined, A);
  t.equal((await req(s, 'DELETE', '/api/state/nope', undefined, A)).status, 404, 'a failed write is a call, not a write');
  await req(s, 'POST', '/api/events/publish', { topic: 'x' }, A);
  // A transaction that changed a key is a write (its publish a publish); one that lost, a call.
  const won = await json(await req(s, 'POST', '/api/txn', { compare: [{ key: 'k0', version: 1 }], success: [{ op: 'put', key: 'k0', value: 2 }, { op: 'publish', topic: 'y' }] }, A));
  t.equal(won.succeeded, true);
  const lost = await json(await req(s, 'POST', '/api/txn', { compare: [{ key: 'k0', version: 1 }], success: [{ op: 'put', key: 'k0', value: 3 }], failure: [{ op: 'get', key: 'k0' }] }, A));
  t.equal(lost.succeeded, false);
  const v = await json(await req(s, 'POST', '/api/validate/p', { filename: 'a.go', content: 'TODO\nTODO\n' }, A));
  t.equal(v.count, 2);
  await req(s, 'PUT', '/api/state/b', '1', { authorization: `Bearer ${b.token}` });
  await req(s, 'PUT', '/api/state/anon', '1');
  const mcp = new Client({ name: 't', version: '1' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers: A } }));
  await mcp.callTool({ name: 'get_endpoints', arguments: {} });
  await mcp.close();

  const rows = await get(s, `/api/metrics/agents/${idA}`);
  const period = new Date().toISOString().slice(0, 13);
  const byName: Record<string, number> = {};
  for (const r of rows) byName[r.metric_name] = (byName[r.metric_name] ?? 0) + r.metric_value;
  t.match(byName, { rest_calls: 10, state_writes: 5, events_published: 2, validations: 1, violations: 2 }, 'REST calls, successful writes, publishes, validations and their violations');
  t.ok(byName.mcp_calls >= 2, 'MCP requests count too (initialize, tool call, …)');
  t.ok(rows.every((r: any) => r.instance_id === idA && (r.period === first || r.period === period)), 'the hour\'s bucket, YYYY-MM-DDTHH');
  const keys = rows.map((r: any) => [r.period, r.metric_name]);
  t.same(keys, [...keys].sort((x, y) => (x[0] !== y[0] ? (x[0] < y[0] ? 1 : -1) : x[1] < y[1] ? -1 : 1)), 'the newest period first, by name within a period');
  t.same(Object.keys(rows[0]), ['instance_id', 'metric_name', 'metric_value', 'period']);
  t.same(await get(s, `/api/metrics/agents?instance_id=${idA}`), rows, 'the query form is the same list');
  t.same(await get(s, `/api/metrics/agents/${idA}?period=${period.slice(0, 10)}`), rows.filter((r: any) => r.period.startsWith(period.slice(0, 10))), 'period is a prefix');
  t.same(await get(s, `/api/metrics/agents/${idA}?period=1999`), []);
  t.equal((await req(s, 'GET', '/api/metrics/agents?period=yesterday')).status, 400);
  const totals = await get(s, '/api/metrics/agents');
  t.same(totals.map((x: any) => x.instance_id), [idA, idB].sort(), 'one entry per identified agent, by id; anonymous calls count for nobody');
  t.match(totals.find((x: any) => x.instance_id === idB).metrics, { state_writes: 1, rest_calls: 1 });

  await s.close();
  s = await startServer(config, { log: silentLogger() });
  t.teardown(() => s.close());
  t.same(await get(s, `/api/metrics/agents/${idA}`), rows, 'buckets were written to the data file');
});

t.test('LLM usage: record, validate, list, summarise, event and audit', async (t) => {
  const s = await startTestServer(t);
  const bad = async (body: unknown, error: string) => {
    const r = await req(s, 'POST', '/api/llm/usage', body);
    t.same([r.status, await json(r)], [400, { error, code: 400 }], error);
  };
  await bad({ model: 'm' }, 'provider is required');
  await bad({ provider: 'p' }, 'model is required');
  await bad({ provider: 'p', model: 'm', tokens_in: 1.5 }, 'tokens_in: expected integer or null');
  await bad({ provider: 'p', model: 'm', cost_usd: 'x' }, 'cost_usd: expected number or null');

  const recs = [
    { instance_id: 'i1', project: 'web', provider: 'anthropic', model: 'opus', tokens_in: 100, tokens_out: 50, cost_usd: 0.25, session_tag: 's1' },
    { instance_id: 'i1', project: 'api', provider: 'anthropic', model: 'haiku', tokens_in: 10, tokens_out: 5, cost_usd: 0.01, session_tag: 's1' },
    { instance_id: 'i2', project: 'web', provider: 'openai', model: 'gpt', tokens_in: 7, tokens_out: 3, cost_usd: 0.5, request_type: 'embedding' },
  ];
  const ids: number[] = [];
  for (const r of recs) {
    const res = await json(await req(s, 'POST', '/api/llm/usage', r));
    t.same(Object.keys(res), ['id', 'recorded', 'cost_usd', 'cost_source']);
    t.equal(res.recorded, true);
    ids.push(res.id);
  }
  t.same(ids, [1, 2, 3]);
  const all = await get(s, '/api/llm/usage');
  t.same(all.map((r: any) => r.id), [3, 2, 1], 'newest first');
  t.same(Object.keys(all[0]), ['id', 'instance_id', 'project', 'provider', 'model', 'tokens_in', 'tokens_out', 'cache_creation_tokens', 'cache_read_tokens', 'cost_usd', 'cost_source', 'request_type', 'session_tag', 'session_id', 'created_at']);
  t.match(all[2], { request_type: 'completion', session_tag: 's1' });
  t.equal(all[0].request_type, 'embedding');
  t.same((await get(s, '/api/llm/usage?instance=i1')).map((r: any) => r.id), [2, 1]);
  t.same((await get(s, '/api/llm/usage?project=web')).map((r: any) => r.id), [3, 1]);
  t.same((await get(s, '/api/llm/usage?session_tag=s1&project=api')).map((r: any) => r.id), [2], 'project beats session_tag');
  t.same((await get(s, '/api/llm/usage?instance=i2&project=api')).map((r: any) => r.id), [3], 'instance beats project');
  t.equal((await get(s, '/api/llm/usage?limit=1')).length, 1);
  t.same(await get(s, '/api/llm/usage?to=2001-01-01'), []);
  t.equal((await req(s, 'GET', '/api/llm/usage?from=soon')).status, 400);

  const sum = await get(s, '/api/llm/usage/summary');
  t.same(sum, {
    group_by: 'project',
    from: '',
    to: '',
    groups: {
      api: { total_tokens_in: 10, total_tokens_out: 5, total_cost_usd: 0.01, request_count: 1 },
      web: { total_tokens_in: 107, total_tokens_out: 53, total_cost_usd: 0.75, request_count: 2 },
    },
    total: { total_tokens_in: 117, total_tokens_out: 58, total_cost_usd: 0.76, request_count: 3 },
  });
  t.same(Object.keys((await get(s, '/api/llm/usage/summary?group_by=model')).groups), ['gpt', 'haiku', 'opus']);
  t.same(Object.keys((await get(s, '/api/llm/usage/summary?group_by=session_tag')).groups), ['', 's1'], 'an empty group value is the key ""');
  const ranged = await get(s, '/api/llm/usage/summary?group_by=instance&from=2000-01-01&to=2000-01-02');
  t.same(ranged, { group_by: 'instance', from: '2000-01-01', to: '2000-01-02', groups: {}, total: { total_tokens_in: 0, total_tokens_out: 0, total_cost_usd: 0, request_count: 0 } }, 'from/to echoed');
  const badGroup = await req(s, 'GET', '/api/llm/usage/summary?group_by=agent');
  t.same(await json(badGroup), { error: 'invalid group_by: must be instance, project, model, or session_tag', code: 400 });

  const events = await get(s, '/api/events/history?topic=llm.usage.recorded');
  t.equal(events.length, 3, 'llm.usage.recorded published per record');
  t.match(events[0].data, { id: 3, model: 'gpt', cost_usd: 0.5 });
  const listed = (await get(s, '/api/llm/usage')) as Array<{ id: number }>;
  t.same(events[0].data, listed.find((r) => r.id === 3), 'the event carries the record as GET /api/llm/usage shows it (no dedup key)');
  t.equal(events[0].source, 'llmcost', 'the source is llmcost');

  // An identified agent that leaves instance_id out records usage as itself.
  const inst = await json(await req(s, 'POST', '/api/instances/register', { name: 'me' }));
  const id = inst.instance_id ?? inst.id;
  await req(s, 'POST', '/api/llm/usage', { provider: 'x', model: 'y' }, { 'x-koor-instance': id });
  t.equal((await get(s, `/api/llm/usage?instance=${id}`)).length, 1);
  t.equal((await get(s, '/api/audit?action=llm.usage'))[0].actor, id);
});
