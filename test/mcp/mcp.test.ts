import t from 'tap';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnServer, summedMetric, tempDir, json } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

async function connect(url: string, headers: Record<string, string> = {}) {
  const client = new Client({ name: 'koor-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  return { client, transport };
}

const text = (r: any): string => r.content[0].text;
const parsed = (r: any): any => JSON.parse(text(r));

t.test('MCP over Streamable HTTP from a separate process', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t)]);
  t.teardown(() => srv.child.kill('SIGKILL'));
  const { client, transport } = await connect(srv.url);
  t.same(client.getServerVersion(), { name: 'koor', version: '0.1.0' });
  t.ok(client.getServerCapabilities()?.tools, 'tools capability');

  const { tools } = await client.listTools();
  t.same(tools.map((x) => x.name), ['register_instance', 'discover_instances', 'set_intent', 'get_endpoints', 'propose_rule'], 'exactly five tools');
  const required = Object.fromEntries(tools.map((x) => [x.name, (x.inputSchema as { required?: string[] }).required ?? []]));
  t.same(required, {
    register_instance: ['name'],
    discover_instances: [],
    set_intent: ['instance_id', 'intent'],
    get_endpoints: [],
    propose_rule: ['project', 'rule_id', 'pattern', 'message'],
  });
  for (const tool of tools) {
    t.ok(tool.description && tool.description.length < 120, `${tool.name}: concise description`);
    for (const p of Object.values((tool.inputSchema as { properties: Record<string, { type: string }> }).properties)) t.equal(p.type, 'string');
  }

  // register_instance → visible through REST
  const reg = await client.callTool({ name: 'register_instance', arguments: { name: 'mcp-agent', workspace: 'w', intent: 'i', stack: 'go', capabilities: 'build, test,,x' } });
  t.notOk(reg.isError);
  t.match(text(reg), /^\{"instance_id":"[^"]+","token":/, 'compact JSON');
  t.notMatch(text(reg), /\n/);
  const r = parsed(reg);
  t.same([r.status, r.capabilities, r.name], ['pending', ['build', 'test', '', 'x'], 'mcp-agent']);
  t.match(r.message, /Activate via CLI: koor-cli activate /);
  const viaRest = await json(await fetch(`${srv.url}/api/instances/${r.instance_id}`));
  t.same([viaRest.name, viaRest.workspace, viaRest.stack], ['mcp-agent', 'w', 'go']);

  const noName = await client.callTool({ name: 'register_instance', arguments: { name: 42 } });
  t.same([noName.isError, text(noName)], [true, 'name is required'], 'non-string counts as absent');

  // discover_instances
  await client.callTool({ name: 'register_instance', arguments: { name: 'other', stack: 'react' } });
  const all = parsed(await client.callTool({ name: 'discover_instances', arguments: {} }));
  t.equal(all.count, 2);
  t.notOk(text(await client.callTool({ name: 'discover_instances', arguments: {} })).includes(r.token), 'discovery never leaks tokens');
  const goOnly = parsed(await client.callTool({ name: 'discover_instances', arguments: { stack: 'go', capability: 'test' } }));
  t.same(goOnly.columns, ['id', 'name', 'workspace', 'intent', 'stack', 'capabilities', 'status', 'last_seen'], 'one instance: every member is a column');
  t.equal(goOnly.count, 1);
  t.same(goOnly.instances[0].slice(0, 7), [r.instance_id, 'mcp-agent', 'w', 'i', 'go', ['build', 'test', '', 'x'], 'pending']);
  t.match(goOnly.instances[0][7], /^\d+s ago$/, 'last_seen as an age');

  // set_intent → visible through REST
  const si = await client.callTool({ name: 'set_intent', arguments: { instance_id: r.instance_id, intent: 'refactor auth' } });
  t.same(parsed(si), { instance_id: r.instance_id, intent: 'refactor auth', message: 'Intent updated successfully.' });
  t.equal((await json(await fetch(`${srv.url}/api/instances/${r.instance_id}`))).intent, 'refactor auth');
  const siBad = await client.callTool({ name: 'set_intent', arguments: { instance_id: 'ghost', intent: 'x' } });
  t.same([siBad.isError, text(siBad)], [true, 'set intent failed: instance not found: ghost']);
  t.equal(text(await client.callTool({ name: 'set_intent', arguments: { instance_id: r.instance_id } })), 'intent is required');
  const regLong = await client.callTool({ name: 'register_instance', arguments: { name: 'n'.repeat(201) } });
  t.same([regLong.isError, text(regLong)], [true, 'registration failed: name too long: 201 bytes (max 200)'], 'a name is bounded');
  const siLong = await client.callTool({ name: 'set_intent', arguments: { instance_id: r.instance_id, intent: 'x'.repeat(1001) } });
  t.same([siLong.isError, text(siLong)], [true, 'set intent failed: intent too long: 1001 bytes (max 1000)'], 'an intent is bounded: discover_instances lists it whole');
  t.equal((await json(await fetch(`${srv.url}/api/instances/${r.instance_id}`))).intent, 'refactor auth', 'and left as it was');

  // get_endpoints
  const ep = parsed(await client.callTool({ name: 'get_endpoints', arguments: {} }));
  // (Several nodes: the bind of the node holding the session — api_base is a node's own bind.)
  t.ok(srv.nodeUrls.map((u) => `${u}/api/`).includes(ep.api_base), `api_base ${ep.api_base} is the bind text (with the bound port when it was :0) and the /api/ prefix`);
  t.equal(ep.endpoints.state_get, 'GET state/{key...}', 'paths relative to api_base');
  t.equal(ep.endpoints.events_ws, 'GET events/subscribe');
  t.same(Object.keys(ep.endpoints).sort(), [
    'events_history', 'events_publish', 'events_ws', 'instance_activate', 'instance_get', 'instances_list', 'loop', 'rules_export', 'rules_import',
    'specs_delete', 'specs_get', 'specs_list', 'specs_put', 'state_delete', 'state_get', 'state_list', 'state_put',
  ], "the contract's 16 names, and the work loop");
  t.equal(ep.endpoints.loop, 'POST tasks/claim, leases, tasks/{id}/complete; GET inbox', 'the work loop: claim, lease, complete, inbox, in the order agents run it');
  const sg = ep.endpoints.state_get.split(' ');
  const viaAdvert = await fetch(`${ep.api_base}${sg[1].replace('{key...}', 'nope')}`);
  t.equal(viaAdvert.status, 404, 'api_base + path reaches the route (a 404 for a missing key, JSON)');
  t.same(await viaAdvert.json(), { error: 'key not found: nope', code: 404 });
  t.equal(ep.cli.install, 'Koor clone: npm install && npm install -g .', 'the install story of koor-cli init, short (no koor package on the registry)');

  // propose_rule (stored as proposed; duplicates and bad regexes refused)
  const pr = await client.callTool({ name: 'propose_rule', arguments: { project: 'p', rule_id: 'no-inline-style', pattern: '(?i)style\\s*=', message: 'no inline styles', proposed_by: r.instance_id } });
  t.same(parsed(pr), { project: 'p', rule_id: 'no-inline-style', status: 'proposed', message: 'Rule proposed successfully. It will be reviewed by the user before activation.' });
  const dup = await client.callTool({ name: 'propose_rule', arguments: { project: 'p', rule_id: 'no-inline-style', pattern: 'x', message: 'm' } });
  t.same([dup.isError, text(dup)], [true, 'propose rule failed: rule already exists: p/no-inline-style']);
  const badRe = await client.callTool({ name: 'propose_rule', arguments: { project: 'p', rule_id: 'bad', pattern: '(unclosed', message: 'm' } });
  t.equal(badRe.isError, true);
  t.match(text(badRe), /^propose rule failed: invalid regex pattern: /);
  t.equal(text(await client.callTool({ name: 'propose_rule', arguments: { project: 'p', pattern: 'x' } })), 'rule_id is required');

  // Tools neither audit nor publish; every /mcp HTTP request counts.
  t.same(await json(await fetch(`${srv.url}/api/events/history`)), []);
  // Each node counts the calls it served: summed over the nodes.
  const mcpCalls = await summedMetric(srv.nodeUrls, (m) => m.token_tax.mcp_calls);
  t.ok(mcpCalls >= 16, `mcp_calls counted: ${mcpCalls}`);
  t.equal(await summedMetric(srv.nodeUrls, (m) => m.token_tax.rest_calls), 5, 'the five REST calls above (metrics itself is not counted)');

  await transport.terminateSession();
  await client.close();
});

t.test('MCP with auth: a client without the header is refused', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t), '--auth-token', 'sekret']);
  t.teardown(() => srv.child.kill('SIGKILL'));
  await t.rejects(connect(srv.url), 'no Authorization header');
  await t.rejects(connect(srv.url, { Authorization: 'Bearer wrong' }), 'wrong token');
  const wrong = await fetch(`${srv.url}/mcp`, { method: 'PUT', headers: { authorization: 'Bearer sekret' } });
  t.same([wrong.status, wrong.headers.get('allow'), await json(wrong)], [405, 'GET, POST, DELETE', { error: 'method not allowed', code: 405 }]);
  const raw = await fetch(`${srv.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  t.equal(raw.status, 401);
  t.equal(raw.headers.get('www-authenticate'), 'Bearer');
  await raw.arrayBuffer();
  const { client } = await connect(srv.url, { Authorization: 'Bearer sekret' });
  t.equal((await client.listTools()).tools.length, 5);
  await client.close();
});

t.test('idle MCP sessions expire, unless the client holds the event stream open', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t), '--mcp-session-idle', '300ms']);
  t.teardown(() => srv.child.kill('SIGKILL'));
  // The SDK client keeps its GET event stream open: the session is in use, not idle.
  const { client } = await connect(srv.url);
  t.equal((await client.listTools()).tools.length, 5);

  // A session nobody uses (no stream, no requests) is closed.
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const init = await fetch(`${srv.url}/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });
  const sid = init.headers.get('mcp-session-id');
  await init.text();
  t.ok(sid, 'session created');
  // Sessions live on the node that made them: summed over the nodes.
  const sessions = () => summedMetric(srv.nodeUrls, (m) => m.mcp_sessions);
  // Observed, not guessed: watch the session count (a request on the idle session would refresh it).
  await waitUntil('the idle sweep to close the unused session', async () => (await sessions()) === 1, 10_000, 50);
  const gone = await fetch(`${srv.url}/mcp`, { method: 'POST', headers: { ...headers, 'mcp-session-id': sid!, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
  t.equal(gone.status, 404, 'the unused session expired');
  await gone.text();
  t.equal((await client.listTools()).tools.length, 5, 'the session holding its event stream outlived it');
  await client.close();
});

t.test('malformed arguments to every tool: a tool error that says what was wrong, never a protocol error or "internal error"', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t)]);
  t.teardown(() => srv.child.kill('SIGKILL'));
  const { client, transport } = await connect(srv.url);
  t.teardown(() => transport.close());
  const { tools } = await client.listTools();
  const keys = ['name', 'workspace', 'intent', 'stack', 'instance_id', 'capability', 'capabilities', 'project', 'rule_id', 'pattern', 'message', 'severity', 'match_type', 'proposed_by', 'context'];
  // Wrong types, empty, long, path-like, and U+0000 (which PostgreSQL's text cannot hold: cluster mode).
  const values: unknown[] = [null, 1, '', {}, [], true, 'x'.repeat(20_000), '../..', 'a\u0000b'];
  const wrong: string[] = [];
  for (const tool of [...tools.map((x) => x.name), 'no_such_tool']) {
    for (const v of values) {
      const what = `${tool}(${JSON.stringify(v).slice(0, 20)})`;
      try {
        const r = await client.callTool({ name: tool, arguments: Object.fromEntries(keys.map((k) => [k, v])) });
        if (r.isError && /internal error/.test(text(r))) wrong.push(`${what} → ${text(r)}`);
      } catch (err) {
        wrong.push(`${what} → protocol error: ${(err as Error).message}`);
      }
    }
  }
  t.same(wrong, [], 'each call answered, a failure with its reason');
  t.equal((await fetch(`${srv.url}/health`)).status, 200, 'the server answers on');
});
