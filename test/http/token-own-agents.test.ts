import t from 'tap';
import { startTestServer } from '../helpers/server.js';

/**
 * A token acts as the agents it registered: the MCP session or HTTP client that
 * registered an instance with a created agent token activates it, heartbeats it, sets its intent
 * and its capabilities with that same token and no X-Koor-Instance; an agent another token (or
 * the operator) registered stays refused, with a refusal that names how to act as one's own.
 */

const SERVER = 'own-agents-server-token';
type Reply = { status: number; body: any };
type ToolReply = { isError?: boolean; content: Array<{ text: string }> };

const notOwn = (name: string) => `agent token may not act as agent ${name}: this token did not register it; act as your own agent with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)`;

async function setup(t: Tap.Test) {
  const s = await startTestServer(t, { authToken: SERVER });
  const call = async (method: string, path: string, token: string, body?: unknown, instance?: string): Promise<Reply> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(instance ? { 'x-koor-instance': instance } : {}) };
    const r = await fetch(`${s.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
  };
  const token = async (name: string) => {
    const r = await call('POST', '/api/tokens', SERVER, { name, role: 'agent' });
    if (r.status !== 200) throw new Error(`token ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token as string;
  };
  const register = async (tok: string, name: string) => {
    const r = await call('POST', '/api/instances/register', tok, { name });
    if (r.status !== 200) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as { id: string; token: string };
  };
  const mcp = async (tok: string) => {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
    const client = new Client({ name: 'own-agents', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${tok}` } } }));
    t.teardown(() => client.close());
    return (name: string, args: Record<string, string>) => client.callTool({ name, arguments: args }) as Promise<ToolReply>;
  };
  return { s, call, token, register, mcp };
}

t.test('MCP: the token that registered an instance sets its intent, with no extra header', async (t) => {
  const { call, token, register, mcp } = await setup(t);
  const ann = await token('ann');
  const tool = await mcp(ann);
  const reg = await tool('register_instance', { name: 'ann-mcp', workspace: 'web' });
  t.notOk(reg.isError, reg.content[0]!.text);
  const id = (JSON.parse(reg.content[0]!.text) as { instance_id: string }).instance_id;

  const set = await tool('set_intent', { instance_id: id, intent: 'fix the login form' });
  t.notOk(set.isError, `its own agent's intent: ${set.content[0]!.text}`);
  t.equal((await call('GET', `/api/instances/${id}`, SERVER)).body.intent, 'fix the login form', 'stored');
  // The same session activates it over HTTP with the same token (what register_instance's message says to do).
  t.same(await call('POST', `/api/instances/${id}/activate`, ann), { status: 200, body: { id, status: 'active' } }, 'activated with the token only');

  // An agent of another token, and one of the operator: refused, and never called "another agent".
  const bob = await token('bob');
  const b1 = await register(bob, 'b1');
  const op = await register(SERVER, 'op1');
  for (const [other, name] of [[b1.id, 'b1'], [op.id, 'op1']] as const) {
    const r = await tool('set_intent', { instance_id: other, intent: 'hijack' });
    t.same([r.isError, r.content[0]!.text], [true, notOwn(name)], `${name}: refused`);
  }
  t.same([(await call('GET', `/api/instances/${b1.id}`, SERVER)).body.intent, (await call('GET', `/api/instances/${op.id}`, SERVER)).body.intent], ['', ''], 'their intents untouched');
  const none = await tool('set_intent', { intent: 'x' });
  t.same([none.isError, none.content[0]!.text], [true, "agent token may not set agents' intents"], 'no agent named: refused');
  const unknown = await tool('set_intent', { instance_id: 'no-such-agent', intent: 'x' });
  t.same([unknown.isError, unknown.content[0]!.text], [true, notOwn('no-such-agent')], 'an unknown agent: refused');

  // The operator sets anyone's.
  const opTool = await mcp(SERVER);
  t.notOk((await opTool('set_intent', { instance_id: b1.id, intent: 'by the operator' })).isError, 'the operator: any agent');
  t.equal((await call('GET', `/api/instances/${b1.id}`, SERVER)).body.intent, 'by the operator');
});

t.test('HTTP: activate, heartbeat, capabilities and deregistration of its own agents with the token only', async (t) => {
  const { call, token, register } = await setup(t);
  const [ann, bob] = [await token('ann'), await token('bob')];
  const a1 = await register(ann, 'a1');
  const a2 = await register(ann, 'a2');
  const b1 = await register(bob, 'b1');
  const op = await register(SERVER, 'op1');

  t.same(await call('POST', `/api/instances/${a1.id}/activate`, ann), { status: 200, body: { id: a1.id, status: 'active' } }, 'activate');
  t.same(await call('POST', `/api/instances/${a1.id}/heartbeat`, ann), { status: 200, body: { id: a1.id, status: 'ok' } }, 'heartbeat');
  t.same(await call('POST', `/api/instances/${a1.id}/capabilities`, ann, { capabilities: ['ts'] }), { status: 200, body: { id: a1.id, capabilities: ['ts'] } }, 'capabilities');
  t.equal((await call('GET', `/api/instances/${a1.id}`, SERVER)).body.status, 'active', 'stored');
  // Acting as one of its agents (X-Koor-Instance), it still acts on another of its own.
  t.equal((await call('POST', `/api/instances/${a2.id}/activate`, ann, undefined, a1.id)).status, 200, 'as a1, on a2');

  // Another token's agent, and the operator's: refused, with or without naming one of its own.
  for (const [other, name] of [[b1.id, 'b1'], [op.id, 'op1']] as const) {
    for (const [method, path, body] of [
      ['POST', `/api/instances/${other}/activate`, undefined],
      ['POST', `/api/instances/${other}/heartbeat`, undefined],
      ['POST', `/api/instances/${other}/capabilities`, { capabilities: ['x'] }],
      ['DELETE', `/api/instances/${other}`, undefined],
    ] as const) {
      t.same(await call(method, path, ann, body), { status: 403, body: { error: notOwn(name), code: 403 } }, `${method} ${path}: refused`);
      t.equal((await call(method, path, ann, body, a1.id)).status, 403, `${method} ${path} as a1: refused`);
    }
  }
  t.same(await call('POST', '/api/instances/no-such-agent/activate', ann), { status: 403, body: { error: notOwn('no-such-agent'), code: 403 } }, 'an unknown agent: refused');
  // X-Koor-Instance naming an agent it did not register: the same words.
  t.same(await call('GET', '/api/state', ann, undefined, b1.id), { status: 403, body: { error: notOwn('b1'), code: 403 } });
  t.same((await call('GET', `/api/instances/${b1.id}`, SERVER)).body.status, 'pending', "b1 untouched");

  // An instance token is its own agent only, even beside agents of the token that registered it.
  t.same(await call('POST', `/api/instances/${a2.id}/heartbeat`, a1.token), { status: 403, body: { error: "agent token may not act as agent a2: it is agent a1's token", code: 403 } });

  // The operator acts on any agent.
  t.equal((await call('POST', `/api/instances/${b1.id}/activate`, SERVER)).status, 200, 'the operator: activate');
  t.equal((await call('POST', `/api/instances/${b1.id}/heartbeat`, SERVER)).status, 200, 'the operator: heartbeat');

  // A person's token deregisters its own agent; the agent is gone for it after.
  t.same(await call('DELETE', `/api/instances/${a2.id}`, ann), { status: 200, body: { deleted: a2.id } }, 'deregister');
  t.equal((await call('POST', `/api/instances/${a2.id}/heartbeat`, ann)).status, 403, 'a deregistered agent is no longer its');
});
