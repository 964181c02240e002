import t from 'tap';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestServer, json } from '../helpers/server.js';

/** The audit log: every audited mutation, its actor, filters and summary. */

type Server = { url: string };
const req = (s: Server, method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${s.url}${p}`, { method, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
const ok = async (t: Tap.Test, r: Promise<Response>, what: string) => {
  const res = await r;
  t.equal(res.status, 200, what);
  return json(res);
};

t.test('every audited mutation is recorded with its detail and actor; the others are not', async (t) => {
  const s = await startTestServer(t);
  const rule = { project: 'p', rule_id: 'r1', pattern: 'TODO', message: 'no todos' };

  await ok(t, req(s, 'PUT', '/api/state/cfg', '{"a":1}'), 'state put');
  await ok(t, req(s, 'PUT', '/api/state/cfg', '{"a":2}'), 'state put 2');
  await ok(t, req(s, 'POST', '/api/state/cfg?rollback=1', ''), 'rollback');
  await ok(t, req(s, 'DELETE', '/api/state/cfg'), 'state delete');
  await ok(t, req(s, 'PUT', '/api/specs/p/api', '{"x":1}'), 'spec put');
  await ok(t, req(s, 'DELETE', '/api/specs/p/api'), 'spec delete');
  const inst = await ok(t, req(s, 'POST', '/api/instances/register', { name: 'builder', workspace: '/w' }), 'register');
  await ok(t, req(s, 'POST', `/api/instances/${inst.instance_id ?? inst.id}/activate`, ''), 'activate');
  const id = inst.instance_id ?? inst.id;
  await ok(t, req(s, 'POST', `/api/instances/${id}/capabilities`, { capabilities: ['go', 'ts'] }), 'capabilities');
  await ok(t, req(s, 'POST', `/api/instances/${id}/heartbeat`, ''), 'heartbeat (not audited)');
  await ok(t, req(s, 'POST', '/api/rules/propose', { ...rule, proposed_by: 'alice' }), 'propose');
  await ok(t, req(s, 'POST', '/api/rules/p/r1/accept', ''), 'accept');
  await ok(t, req(s, 'POST', '/api/rules/propose', { ...rule, rule_id: 'r2' }), 'propose r2');
  await ok(t, req(s, 'POST', '/api/rules/p/r2/reject', ''), 'reject');
  await ok(t, req(s, 'POST', '/api/rules/import', [{ ...rule, rule_id: 'r3' }, { ...rule, rule_id: 'r4' }]), 'import');
  await ok(t, req(s, 'POST', '/api/webhooks', { id: 'w', url: 'http://127.0.0.1:9/x' }), 'webhook create');
  await ok(t, req(s, 'DELETE', '/api/webhooks/w'), 'webhook delete');
  await ok(t, req(s, 'POST', '/api/templates', { id: 't', name: 'T', kind: 'bundle', data: { a: 1 } }), 'template create');
  await ok(t, req(s, 'POST', '/api/templates/t/apply', { project: 'q' }), 'template apply');
  await ok(t, req(s, 'DELETE', '/api/templates/t'), 'template delete');
  await ok(t, req(s, 'POST', '/api/llm/usage', { instance_id: 'i-9', project: 'p', provider: 'openai', model: 'gpt', tokens_in: 3, tokens_out: 4, cost_usd: 0.5 }), 'llm');
  // Not audited.
  await ok(t, req(s, 'POST', '/api/events/publish', { topic: 'x' }), 'publish');
  await ok(t, req(s, 'PUT', '/api/validate/p/rules', [rule]), 'PUT rules');
  await ok(t, req(s, 'POST', '/api/validate/p', { filename: 'a.go', content: 'TODO' }), 'validate');
  await ok(t, req(s, 'POST', '/api/liveness/check', ''), 'liveness check');
  await ok(t, req(s, 'DELETE', `/api/instances/${id}`), 'deregister');

  const entries = (await ok(t, req(s, 'GET', '/api/audit?limit=100'), 'audit list')) as any[];
  const rows = entries.reverse().map((e) => [e.action, e.resource, e.detail, e.actor]);
  t.same(rows, [
    ['state.put', 'cfg', '{"version":1}', ''],
    ['state.put', 'cfg', '{"version":2}', ''],
    ['state.rollback', 'cfg', '{"from_version":1,"new_version":3}', ''],
    ['state.delete', 'cfg', '{}', ''],
    ['spec.put', 'p/api', '{"version":1}', ''],
    ['spec.delete', 'p/api', '{}', ''],
    ['instance.register', id, '{"workspace":"/w"}', 'builder'],
    ['instance.activate', id, '{}', ''],
    ['instance.capabilities', id, '{"capabilities":["go","ts"]}', ''],
    ['rule.propose', 'p/r1', '{}', 'alice'],
    ['rule.accept', 'p/r1', '{}', ''],
    ['rule.propose', 'p/r2', '{}', ''],
    ['rule.reject', 'p/r2', '{}', ''],
    ['rules.import', 'bulk', '{"count":2}', ''],
    ['webhook.create', 'w', '{"url":"http://127.0.0.1:9/x"}', ''],
    ['webhook.delete', 'w', '{}', ''],
    ['template.create', 't', '{"kind":"bundle"}', ''],
    ['template.apply', 't', '{"kind":"bundle","project":"q"}', ''],
    ['template.delete', 't', '{}', ''],
    ['llm.usage', 'p/gpt', '{"cost_usd":0.5,"tokens_in":3,"tokens_out":4}', 'i-9'],
    ['instance.deregister', id, '{}', ''],
  ]);
  const e = entries[0];
  t.same(Object.keys(e), ['id', 'timestamp', 'actor', 'action', 'resource', 'detail', 'outcome']);
  t.equal(e.outcome, 'success');
  t.match(e.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.same(entries.map((x) => x.id), entries.map((x) => x.id).sort((a, b) => a - b), 'ids ascend with time');

  // A failed mutation records nothing.
  t.equal((await req(s, 'DELETE', '/api/state/missing')).status, 404);
  t.equal((await json(await req(s, 'GET', '/api/audit?action=state.delete'))).length, 1, 'the 404 delete was not audited');
});

t.test('the calling agent is the actor where the contract leaves it empty; MCP writes nothing', async (t) => {
  const s = await startTestServer(t);
  const inst = await json(await req(s, 'POST', '/api/instances/register', { name: 'claude-1' }));
  const id = inst.instance_id ?? inst.id;
  const as = { 'x-koor-instance': id };
  await req(s, 'PUT', '/api/state/k', '1', as);
  await req(s, 'PUT', '/api/state/k2', '1', { authorization: `Bearer ${inst.token}` });
  await req(s, 'POST', '/api/rules/propose', { project: 'p', rule_id: 'r', pattern: 'x' }, as);
  await req(s, 'POST', '/api/rules/propose', { project: 'p', rule_id: 'r2', pattern: 'x', proposed_by: 'bob' }, as);
  const byActor = await json(await req(s, 'GET', '/api/audit?actor=claude-1'));
  t.same(byActor.map((e: any) => [e.action, e.resource]), [['rule.propose', 'p/r'], ['state.put', 'k2'], ['state.put', 'k'], ['instance.register', id]], 'by header, by instance token; a named proposer wins');
  t.equal((await json(await req(s, 'GET', '/api/audit?actor=bob')))[0].resource, 'p/r2');

  const before = (await json(await req(s, 'GET', '/api/audit'))).length;
  const client = new Client({ name: 't', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`)));
  t.teardown(() => client.close());
  await client.callTool({ name: 'register_instance', arguments: { name: 'via-mcp' } });
  await client.callTool({ name: 'propose_rule', arguments: { project: 'p', rule_id: 'm', pattern: 'y', message: 'm' } });
  t.equal((await json(await req(s, 'GET', '/api/audit'))).length, before, 'MCP tools write no audit entries');
});

t.test('filters, limit, summary, strict from/to', async (t) => {
  const s = await startTestServer(t);
  for (let i = 0; i < 5; i++) await req(s, 'PUT', `/api/state/k${i}`, '1');
  await req(s, 'POST', '/api/instances/register', { name: 'a' });
  await req(s, 'DELETE', '/api/state/k0');
  t.equal((await json(await req(s, 'GET', '/api/audit?limit=2'))).length, 2);
  t.equal((await json(await req(s, 'GET', '/api/audit?action=state.put'))).length, 5);
  t.same(await json(await req(s, 'GET', '/api/audit?actor=nobody')), []);
  const today = new Date().toISOString().slice(0, 10);
  t.equal((await json(await req(s, 'GET', `/api/audit?from=${today}`))).length, 7, 'a date is that day\'s first instant');
  t.equal((await json(await req(s, 'GET', '/api/audit?to=2000-01-01T00:00:00Z'))).length, 0);
  t.equal((await json(await req(s, 'GET', `/api/audit?from=${encodeURIComponent('2000-01-01T00:00:00+02:00')}`))).length, 7, 'offsets are instants');
  for (const q of ['from=yesterday', 'to=2026-02-30', 'limit=0', 'limit=x']) {
    const r = await req(s, 'GET', `/api/audit?${q}`);
    t.equal(r.status, 400, `${q} → 400`);
  }
  const sum = await json(await req(s, 'GET', '/api/audit/summary'));
  t.same(sum, { total_entries: 7, action_counts: { 'instance.register': 1, 'state.delete': 1, 'state.put': 5 }, outcome_counts: { success: 7 }, unique_actors: 2, unique_resources: 6 }, '"" counts as an actor');
  t.same((await json(await req(s, 'GET', '/api/audit/summary?to=2000-01-01'))).total_entries, 0);
  t.equal((await req(s, 'GET', '/api/audit/summary?from=nope')).status, 400);
});

t.test('a burst of concurrent writes: one entry each, in the order the writes were applied (rows inserted per batch)', async (t) => {
  const s = await startTestServer(t);
  const N = 150;
  const replies = await Promise.all(Array.from({ length: N }, (_, i) => req(s, 'PUT', '/api/state/burst/k', `{"i":${i}}`)));
  t.same(replies.map((r) => r.status).filter((x) => x !== 200), [], 'every write acknowledged');
  await Promise.all(replies.map((r) => r.arrayBuffer()));
  const entries = (await json(await req(s, 'GET', '/api/audit?action=state.put&limit=500'))) as Array<{ id: number; resource: string; detail: string }>;
  const burst = entries.filter((e) => e.resource === 'burst/k');
  t.equal(burst.length, N, 'one entry per write');
  const versions = burst.map((e) => (typeof e.detail === 'string' ? JSON.parse(e.detail) : e.detail).version as number);
  t.same(versions, Array.from({ length: N }, (_, i) => N - i), 'newest first, each version once: ids follow the order the versions were written');
});
