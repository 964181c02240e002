import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { loadConfig, parseBind } from '../../src/config.js';
import { startTestServer, tempDir } from '../helpers/server.js';

/**
 * Safe by default: a web page the user visits cannot reach a Koor on this machine. A
 * DNS-rebinding page (its own name pointed at 127.0.0.1) sends `Host: evil.example.com` and
 * `Origin: http://evil.example.com`; a cross-site page sends its own Origin. Both are refused with
 * a 403 naming the header — REST, /mcp and WebSocket upgrades alike — and nothing is stored;
 * clients without Origin (CLI, agents, curl) and the dashboard's own page are served.
 */

type Reply = { status: number; text: string; json: { error?: string; code?: number } | null };

/** A request with the Host and Origin given (fetch does not let a caller set Host). */
function request(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          // an SSE reply, or none
        }
        resolve({ status: res.statusCode!, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A WebSocket upgrade with the Host and Origin given: 'open', or the refusal's status and body. */
function upgrade(base: string, headers: Record<string, string>): Promise<'open' | { status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/events/subscribe?pattern=*`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    ws.once('error', reject);
  });
}

const INITIALIZE = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'rebind', version: '1' } } });
const MCP_HEADERS = { accept: 'application/json, text/event-stream' };
const EVIL = { host: 'evil.example.com', origin: 'http://evil.example.com' };

t.test('bound to loopback: a DNS-rebinding request is refused on REST, /mcp and WebSocket, naming the Host header; nothing is stored', async (t) => {
  const s = await startTestServer(t);
  const port = new URL(s.url).port;
  const evil = { host: `${EVIL.host}:${port}`, origin: `${EVIL.origin}:${port}` };

  const put = await request(s.url, 'PUT', '/api/state/x', evil, '{"stolen":true}');
  t.equal(put.status, 403, 'PUT refused');
  t.match(put.json?.error, /^Host header "evil\.example\.com:\d+" names a host this server does not serve; .*allowed_hosts \(--allowed-hosts, KOOR_ALLOWED_HOSTS\)/, 'the refusal names the header, its value and the setting');

  const mcp = await request(s.url, 'POST', '/mcp', { ...evil, ...MCP_HEADERS }, INITIALIZE);
  t.equal(mcp.status, 403, '/mcp initialize refused');
  t.match(mcp.json?.error, /^Host header /);

  const ws = await upgrade(s.url, evil);
  t.not(ws, 'open', 'WebSocket upgrade refused');
  if (ws !== 'open') {
    t.equal(ws.status, 403);
    t.match(ws.text, /Host header \\"evil\.example\.com/);
  }

  // Without the port, and in another case: still the name that counts.
  t.equal((await request(s.url, 'GET', '/api/state', { host: 'EVIL.example.com' })).status, 403);
  t.equal((await request(s.url, 'GET', '/health', { host: 'evil.example.com' })).status, 403, '/health too: the whole listener');

  // The same calls from a client on this machine (no Origin: a CLI, an agent, curl) are served.
  t.equal((await request(s.url, 'GET', '/api/state/x', { host: `127.0.0.1:${port}` })).status, 404, 'nothing was stored');
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'localhost', '127.0.0.2:9800']) {
    t.equal((await request(s.url, 'GET', '/health', { host })).status, 200, `Host ${host} is a loopback name (any port)`);
  }
  t.equal((await request(s.url, 'PUT', '/api/state/x', { host: `localhost:${port}` }, '{"mine":true}')).status, 200, 'a local client writes');
  const local = await request(s.url, 'POST', '/mcp', { host: `localhost:${port}`, ...MCP_HEADERS }, INITIALIZE);
  t.equal(local.status, 200, 'a local MCP client initializes');
  t.equal(await upgrade(s.url, { host: `localhost:${port}` }), 'open', 'a local WebSocket client subscribes');
});

t.test('Origin: a page of another site is refused even with a loopback Host; the server\'s own origin is served', async (t) => {
  const s = await startTestServer(t);
  const port = new URL(s.url).port;
  const host = `127.0.0.1:${port}`;
  // A cross-site request straight at 127.0.0.1 (no rebinding): the browser names the page's origin.
  for (const origin of ['http://evil.example.com', 'http://localhost:3000', 'null']) {
    const r = await request(s.url, 'PUT', '/api/state/o', { host, origin }, '{"a":1}');
    t.equal(r.status, 403, `Origin ${origin} refused`);
    t.equal(r.json?.error, `Origin header ${JSON.stringify(origin)} is not allowed: a page of another site may not call this server; to allow it, add the origin to allowed_origins (--allowed-origins, KOOR_ALLOWED_ORIGINS)`);
  }
  const ws = await upgrade(s.url, { host, origin: 'http://evil.example.com' });
  t.not(ws, 'open', 'a cross-site WebSocket refused');
  if (ws !== 'open') t.match(ws.text, /Origin header/);
  t.equal((await request(s.url, 'POST', '/mcp', { host, origin: 'http://evil.example.com', ...MCP_HEADERS }, INITIALIZE)).status, 403, 'a cross-site /mcp refused');
  t.equal((await request(s.url, 'GET', '/api/state/o', { host })).status, 404, 'nothing was stored');
  // Same origin (a page the server itself served), by any of its loopback names.
  t.equal((await request(s.url, 'PUT', '/api/state/o', { host, origin: `http://${host}` }, '{"a":1}')).status, 200, 'its own origin is served');
  // A listener's own origins are its own port's (in the cluster pass s.url is the balancer's).
  const node = s.nodeUrls[0]!;
  const nodePort = new URL(node).port;
  t.equal((await request(node, 'PUT', '/api/state/o', { host: `127.0.0.1:${nodePort}`, origin: `http://localhost:${nodePort}` }, '{"a":2}')).status, 200, 'its own origin by another loopback name');
  t.equal(await upgrade(s.url, { host, origin: `http://${host}` }), 'open', 'a same-origin WebSocket opens');
});

t.test('configured: an allowed host is served, an allowed origin is served', async (t) => {
  const s = await startTestServer(t, { allowedHosts: ['evil.example.com'], allowedOrigins: ['https://app.example.org'] });
  const port = new URL(s.url).port;
  const named = { host: `evil.example.com:${port}`, origin: `http://evil.example.com:${port}` };
  t.equal((await request(s.url, 'PUT', '/api/state/x', named, '{"named":true}')).status, 200, 'a Host named in allowed_hosts is served (with its own origin)');
  t.equal((await request(s.url, 'POST', '/mcp', { ...named, ...MCP_HEADERS }, INITIALIZE)).status, 200, '/mcp too');
  t.equal(await upgrade(s.url, named), 'open', 'and its WebSocket upgrade');
  t.equal((await request(s.url, 'GET', '/api/state/x', { host: 'evil.example.com', origin: 'https://app.example.org' })).status, 200, 'an origin named in allowed_origins is served');
  t.equal((await request(s.url, 'GET', '/api/state/x', { host: 'other.example.com' })).status, 403, 'a host not named is still refused');
  t.equal((await request(s.url, 'GET', '/api/state/x', { host: `127.0.0.1:${port}`, origin: 'https://other.example.org' })).status, 403, 'an origin not named is still refused');

  const any = await startTestServer(t, { allowedHosts: ['*'], allowedOrigins: ['*'] });
  t.equal((await request(any.url, 'PUT', '/api/state/x', EVIL, '{}')).status, 200, '* turns both checks off');
});

t.test("the dashboard's own origin is served, on its listener and on the API's", async (t) => {
  const s = await startTestServer(t, { dashboardBind: parseBind('127.0.0.1:0', 'dashboard-bind') }, { oneNode: 'the dashboard listener is the first node\'s' });
  const dash = s.dashboardUrl!;
  const dashHost = new URL(dash).host;
  const dashOrigin = `http://${dashHost}`;
  t.equal((await request(dash, 'PUT', '/api/state/d', { host: dashHost, origin: dashOrigin }, '{"d":1}')).status, 200, 'the dashboard page writes through its own listener');
  t.equal(await upgrade(dash, { host: dashHost, origin: dashOrigin }), 'open', 'and subscribes to events (the Live page)');
  const apiHost = new URL(s.url).host;
  for (const origin of [dashOrigin, `http://localhost:${s.dashboardPort}`]) {
    t.equal((await request(s.url, 'GET', '/api/state/d', { host: apiHost, origin })).status, 200, `the API listener serves the dashboard's origin ${origin}`);
  }
  t.equal((await request(dash, 'GET', '/api/state/d', EVIL)).status, 403, 'the dashboard listener refuses a rebinding request too');
  t.equal((await request(dash, 'GET', '/', EVIL)).status, 403, 'its page as well');
});

t.test('bound beyond loopback: any Host unless allowed_hosts is given; Origin still checked', async (t) => {
  const s = await startTestServer(t, { bind: parseBind('0.0.0.0:0', 'bind') }, { oneNode: 'binds 0.0.0.0' });
  const base = `http://127.0.0.1:${s.port}`;
  t.equal((await request(base, 'GET', '/health', { host: 'koor.lan:9800' })).status, 200, 'a LAN name the server cannot know is served');
  t.equal((await request(base, 'GET', '/health', { host: 'koor.lan:9800', origin: 'http://koor.lan:9800' })).status, 200, 'a page it served (same origin)');
  t.equal((await request(base, 'GET', '/health', { host: 'koor.lan:9800', origin: 'http://evil.example.com' })).status, 403, 'a page of another site is refused');

  const named = await startTestServer(t, { bind: parseBind('0.0.0.0:0', 'bind'), allowedHosts: ['koor.lan'] }, { oneNode: 'binds 0.0.0.0' });
  const nbase = `http://127.0.0.1:${named.port}`;
  t.equal((await request(nbase, 'GET', '/health', { host: 'koor.lan:9800' })).status, 200, 'the configured name');
  t.equal((await request(nbase, 'GET', '/health', { host: `192.168.1.20:${named.port}` })).status, 200, 'an IP address (nothing to rebind)');
  t.equal((await request(nbase, 'GET', '/health', { host: 'localhost' })).status, 200, 'a loopback name');
  t.equal((await request(nbase, 'GET', '/health', { host: 'evil.example.com' })).status, 403, 'another name is refused');
});

t.test('settings: --allowed-hosts / KOOR_ALLOWED_HOSTS / allowed_hosts, normalized and checked', async (t) => {
  const c = loadConfig(['--allowed-hosts', 'Koor.Example.com:443, [::1], 10.0.0.5', '--allowed-origins', 'https://App.Example.org/,http://localhost:5173'], {}, '/nonexistent');
  t.same(c.allowedHosts, ['koor.example.com', '[::1]', '10.0.0.5'], 'lowercase, port dropped');
  t.same(c.allowedOrigins, ['https://app.example.org', 'http://localhost:5173'], 'lowercase, trailing slash dropped');
  t.same(loadConfig([], { KOOR_ALLOWED_HOSTS: 'a.lan,b.lan' }, '/nonexistent').allowedHosts, ['a.lan', 'b.lan'], 'from the environment');
  t.same(loadConfig([], {}, '/nonexistent').allowedHosts, [], 'none by default');
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify({ allowed_hosts: ['koor.lan'], allowed_origins: 'https://koor.lan' }));
  const f = loadConfig([], {}, dir);
  t.same([f.allowedHosts, f.allowedOrigins], [['koor.lan'], ['https://koor.lan']], 'settings.json: a list or a comma-separated string');
  t.throws(() => loadConfig(['--allowed-origins', 'koor.example.com'], {}, '/nonexistent'), /invalid --allowed-origins entry "koor\.example\.com": expected an origin like/);
  t.throws(() => loadConfig(['--allowed-hosts', 'http://koor.example.com'], {}, '/nonexistent'), /invalid --allowed-hosts entry/);
});
