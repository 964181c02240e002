import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { startReceiver } from '../helpers/receiver.js';
import { waitUntil } from '../helpers/wait.js';
import { cliFor } from './helpers.js';

/** koor-cli webhooks, audit, metrics agents, llm, openapi as subprocesses. */

t.test('webhooks, audit, metrics agents, llm commands', async (t) => {
  const s = await startTestServer(t);
  const cli = cliFor(s.url, tempDir(t));
  const rx = await startReceiver(t);

  const add = await cli('webhooks', 'add', '--id', 'ci', '--url', rx.url, '--patterns', 'api.*,build.*', '--secret', 'k');
  t.equal(add.code, 0, add.stderr);
  t.match(JSON.parse(add.stdout), { id: 'ci', patterns: ['api.*', 'build.*'], has_secret: true, active: true });
  const dup = await cli('webhooks', 'add', '--id', 'ci', '--url', rx.url);
  t.same([dup.code, JSON.parse(dup.stdout)], [1, { error: 'failed to create webhook', code: 409 }], 'a reply ≥ 400 exits 1');
  const missing = await cli('webhooks', 'add', '--id', 'x');
  t.equal(missing.code, 1, 'url is required');
  const list = await cli('webhooks', 'list');
  t.same(JSON.parse(list.stdout).map((w: any) => w.id), ['ci']);
  const test = await cli('webhooks', 'test', 'ci');
  t.same([test.code, JSON.parse(test.stdout)], [0, { tested: 'ci', status: 'ok' }]);
  t.equal(rx.got.at(-1)!.json.topic, 'webhook.test');
  await cli('events', 'publish', 'api.change', '--data', '{"v":1}');
  await waitUntil('the event delivered', () => rx.ok().some((d) => d.json.topic === 'api.change'));

  const reg = JSON.parse((await cli('register', 'agent-x')).stdout);
  const id = reg.instance_id ?? reg.id;
  const asAgent = cliFor(s.url, tempDir(t), { KOOR_TOKEN: reg.token });
  await asAgent('state', 'set', 'k', '--data', '{"a":1}');
  await asAgent('llm', 'status'); // an unknown llm command: usage error, no request

  const audit = await cli('audit', '--action', 'state.put');
  t.equal(audit.code, 0, audit.stderr);
  t.same(JSON.parse(audit.stdout).map((e: any) => [e.resource, e.actor]), [['k', 'agent-x']], 'the agent (by its instance token) is the actor');
  const summary = JSON.parse((await cli('audit', 'summary')).stdout);
  t.match(summary.action_counts, { 'webhook.create': 1, 'instance.register': 1, 'state.put': 1 });
  const badFrom = await cli('audit', '--from', 'nope');
  t.equal(badFrom.code, 1);

  // A node writes its agent counts once a second (README: agent metrics); with the server as
  // several nodes (KOOR_TEST_BACKEND=cluster) the read may come before the other node's flush.
  const totals = await waitUntil('the agent counts written', async () => {
    const list = JSON.parse((await cli('metrics', 'agents')).stdout) as Array<{ instance_id: string }>;
    return list.some((r) => r.instance_id === id) ? list : false;
  });
  t.match(totals, [{ instance_id: id, metrics: { state_writes: 1 } }]);
  const mine = JSON.parse((await cli('metrics', 'agents', id, '--period', new Date().toISOString().slice(0, 10))).stdout);
  t.ok(mine.some((r: any) => r.metric_name === 'state_writes' && r.metric_value === 1));
  t.same(JSON.parse((await cli('metrics', 'agents', '--instance_id', id)).stdout), JSON.parse((await cli('metrics', 'agents', id)).stdout));

  await fetch(`${s.url}/api/llm/usage`, { method: 'POST', body: JSON.stringify({ provider: 'a', model: 'm1', project: 'web', session_tag: 's', tokens_in: 5, cost_usd: 0.1 }) });
  await fetch(`${s.url}/api/llm/usage`, { method: 'POST', body: JSON.stringify({ provider: 'a', model: 'm2', project: 'api', tokens_in: 1 }) });
  t.same(JSON.parse((await cli('llm', 'usage', '--session', 's')).stdout).map((r: any) => r.model), ['m1']);
  t.same(JSON.parse((await cli('llm', 'usage', '--project', 'api')).stdout).map((r: any) => r.model), ['m2']);
  const byModel = JSON.parse((await cli('llm', 'summary', '--by', 'model')).stdout);
  t.same([byModel.group_by, Object.keys(byModel.groups), byModel.total.request_count], ['model', ['m1', 'm2'], 2]);
  const badBy = await cli('llm', 'summary', '--by', 'agent');
  t.equal(badBy.code, 1);

  const del = await cli('webhooks', 'delete', 'ci');
  t.same([del.code, JSON.parse(del.stdout)], [0, { deleted: 'ci' }]);

  // The API description (test/http/openapi.test.ts checks the document itself).
  const api = await cli('openapi');
  t.equal(api.code, 0, api.stderr);
  const doc = JSON.parse(api.stdout) as { openapi: string; paths: Record<string, unknown> };
  t.same([doc.openapi, Object.keys(doc.paths).length], ['3.1.0', new Set([...s.routes, ...s.sockets].map((r) => r.path)).size], 'the OpenAPI 3.1 document, a path item per declared path');
});
