import t from 'tap';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnServer, tempDir } from '../helpers/server.js';

/**
 * One token holder cannot lock everybody out of MCP. A token or agent past its own cap
 * (--mcp-sessions-per-token) loses its least recently used session, not the next client; at the
 * global cap (--mcp-max-sessions) the least recently used idle session is closed for the newcomer.
 * Sessions are a node's own: the cluster pass runs this on one node.
 */

const TOKEN = 'server-secret';
const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'flood', version: '1' } } });
const INITIALIZED = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** A raw initialize (what a leaking client does): the new session's id. */
async function open(url: string, token: string): Promise<string> {
  const r = await fetch(`${url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: INIT });
  await r.text();
  const id = r.headers.get('mcp-session-id');
  if (r.status !== 200 || !id) throw new Error(`initialize answered ${r.status}`);
  return id;
}

/** The status a request on session `id` gets (404: the session is gone). */
async function use(url: string, token: string, id: string): Promise<number> {
  const r = await fetch(`${url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, 'mcp-session-id': id }, body: INITIALIZED });
  await r.text();
  return r.status;
}

async function sessions(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  return Number(/^koor_mcp_sessions (\d+)/m.exec(text)![1]);
}

/** `n` sessions for `token`, a few at a time. */
/** `at` sessions opened at once: the server orders concurrent ones as they arrive, not as `ids` lists them. */
async function flood(url: string, token: string, n: number, at = 10): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += at) ids.push(...(await Promise.all(Array.from({ length: Math.min(at, n - i) }, () => open(url, token)))));
  return ids;
}

t.test('1,001 MCP sessions from a flood, then a new client still gets in', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t), '--auth-token', TOKEN, '--mcp-sessions-per-token', '100', '--mcp-max-sessions', '1000'], {}, { oneNode: true });
  t.teardown(() => srv.child.kill('SIGKILL'));
  const url = srv.url;
  const agents: string[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await fetch(`${url}/api/instances/register`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ name: `flood-${i}` }) });
    agents.push(((await r.json()) as { token: string }).token);
  }

  // One agent past its own cap: its oldest sessions go, nobody else's. One at a time, so a[i] is
  // the server's i-th (the LRU assertions below name sessions by index).
  const a = await flood(url, agents[0]!, 150, 1);
  t.equal(await sessions(url), 100, 'one agent holds at most its cap');
  t.equal(await use(url, agents[0]!, a[0]!), 404, 'its least recently used session was closed');
  t.equal(await use(url, agents[0]!, a[49]!), 404);
  t.equal(await use(url, agents[0]!, a[50]!), 202, 'its newest 100 are open');
  t.equal(await use(url, agents[0]!, a[149]!), 202);

  // Ten more agents fill the global cap (100 + 10 × 90 = 1,000), then 1 more: 1,001 opened.
  const rest: string[][] = [];
  for (let i = 1; i <= 10; i++) rest.push(await flood(url, agents[i]!, 90));
  t.equal(await sessions(url), 1000, 'at the global cap');
  // a[50] was used above, so a[51] is now the least recently used of all.
  const extra = await open(url, agents[11]!);
  t.equal(await sessions(url), 1000, 'the 1,001st did not push the count past the cap');
  t.equal(await use(url, agents[0]!, a[51]!), 404, 'the least recently used idle session made room');
  t.equal(await use(url, agents[0]!, a[50]!), 202, 'a session used recently stays');
  t.equal(await use(url, agents[11]!, extra), 202, 'the newcomer works');

  // A new, legitimate client with the official SDK: never refused.
  const client = new Client({ name: 'latecomer', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  t.equal((await client.listTools()).tools.length, 5, 'the SDK client connects and lists the five tools');
  await client.close();
  t.ok((await sessions(url)) <= 1000);
  const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  t.ok(Number(/^koor_mcp_sessions_evicted_total (\d+)/m.exec(metrics)![1]) >= 52, 'evictions are counted');
});

/** Opens a session for `token` and holds its server-sent-event GET stream open until `ac` aborts. */
async function openWithStream(url: string, token: string, ac: AbortController): Promise<string> {
  const id = await open(url, token);
  const r = await fetch(`${url}/mcp`, { method: 'GET', headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, 'mcp-session-id': id }, signal: ac.signal });
  if (r.status !== 200) throw new Error(`GET stream answered ${r.status}`);
  // Left unread: the stream stays open until aborted or closed by the server.
  return id;
}

t.test('sessions holding open streams cannot lock anyone out: an agent token registering instances gets no more quota', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t), '--auth-token', TOKEN, '--mcp-sessions-per-token', '100', '--mcp-max-sessions', '1000'], {}, { oneNode: true });
  const ac = new AbortController();
  t.teardown(() => {
    ac.abort();
    srv.child.kill('SIGKILL');
  });
  const url = srv.url;
  const created = await fetch(`${url}/api/tokens`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ name: 'flooder', role: 'agent' }) });
  const agentToken = ((await created.json()) as { token: string }).token;
  // 10 instances registered by the one agent token, 100 sessions each, every one holding an SSE GET stream.
  for (let i = 0; i < 10; i++) {
    const r = await fetch(`${url}/api/instances/register`, { method: 'POST', headers: { authorization: `Bearer ${agentToken}` }, body: JSON.stringify({ name: `minted-${i}` }) });
    const { token } = (await r.json()) as { token: string };
    for (let j = 0; j < 100; j += 10) await Promise.all(Array.from({ length: 10 }, () => openWithStream(url, token, ac)));
  }
  t.ok((await sessions(url)) <= 100, `the token and the instances it registered share one cap (${await sessions(url)} open)`);
  const client = new Client({ name: 'latecomer', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  t.equal((await client.listTools()).tools.length, 5, 'a new SDK client connects');
  await client.close();
});

t.test('at the global cap a session holding a stream makes way when none is idle', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t), '--auth-token', TOKEN, '--mcp-sessions-per-token', '100', '--mcp-max-sessions', '30'], {}, { oneNode: true });
  const ac = new AbortController();
  t.teardown(() => {
    ac.abort();
    srv.child.kill('SIGKILL');
  });
  const url = srv.url;
  const held: Array<[string, string]> = [];
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${url}/api/instances/register`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ name: `streamer-${i}` }) });
    const { token } = (await r.json()) as { token: string };
    for (let j = 0; j < 10; j++) held.push([token, await openWithStream(url, token, ac)]);
  }
  t.equal(await sessions(url), 30, 'at the global cap, every session holding a stream');
  const client = new Client({ name: 'latecomer', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  t.equal((await client.listTools()).tools.length, 5, 'a new SDK client connects');
  await client.close();
  t.equal(await use(url, held[0]![0], held[0]![1]), 404, 'the least recently used streaming session was closed');
  t.equal(await use(url, held[29]![0], held[29]![1]), 202, 'a recent one stays');
});
