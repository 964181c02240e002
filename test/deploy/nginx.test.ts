/**
 * The nginx recipe (deploy/nginx/koor.conf) in front of a live koor-server on loopback, over TLS:
 * REST with the bearer token, the body cap, a WebSocket subscription, an MCP session with the
 * official SDK client (its server-sent-event stream unbuffered), and the dashboard site.
 * The real recipe file is templated here, never a copy of it. Debian's nginx is installed by the
 * test setup (test/setup/install.ts) when absent and root; without nginx or openssl the test is
 * skipped with the reason.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import WebSocket from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseBind } from '../../src/config.js';
import { ensureNginx, freePorts, runNginx } from '../helpers/nginx.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { repoPath } from '../helpers/paths.js';

const RECIPE = repoPath('deploy', 'nginx', 'koor.conf');
const TOKEN = 'deploy-test-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const BODY_CAP = 10 * 1024 * 1024; // koor's default --max-body-bytes, and the recipe's client_max_body_size

/** Fills every __PLACEHOLDER__ of the recipe; fails if one is left unfilled. */
function template(recipe: string, values: Record<string, string>): string {
  const out = recipe.replace(/__([A-Z_]+?)__/g, (m, name: string) => values[name] ?? m);
  const left = out.match(/__[A-Z_]+?__/g);
  if (left) throw new Error(`placeholders left in the recipe: ${[...new Set(left)].join(', ')}`);
  return out;
}

interface Seen {
  method: string;
  path: string;
  status: number;
  type: string;
  /** A body chunk arrived while the response was still open (a stream, not a buffered reply). */
  chunkWhileOpen: boolean;
  ended: boolean;
}

/**
 * A WHATWG fetch over node:https that trusts the throwaway CA, streaming response bodies as they
 * arrive (the MCP SDK client takes it as its `fetch`). Records what it saw.
 */
function httpsFetcher(agent: https.Agent, seen: Seen[]) {
  return (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      const method = (init.method ?? 'GET').toUpperCase();
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const body = init.body == null ? null : typeof init.body === 'string' ? Buffer.from(init.body) : Buffer.from(init.body as Uint8Array);
      if (body) headers['content-length'] = String(body.length);
      const req = https.request(url, { method, headers, agent });
      const signal = init.signal;
      const onAbort = () => req.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('error', reject);
      req.once('response', (res) => {
        const rec: Seen = { method, path: url.pathname, status: res.statusCode!, type: String(res.headers['content-type'] ?? ''), chunkWhileOpen: false, ended: false };
        seen.push(rec);
        res.on('data', () => {
          if (!rec.ended) rec.chunkWhileOpen = true;
        });
        res.once('end', () => (rec.ended = true));
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue;
          for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
        }
        const noBody = [101, 204, 205, 304].includes(rec.status) || method === 'HEAD';
        resolve(new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status: rec.status, headers: h }));
      });
      req.end(body ?? undefined);
    });
}

t.test('deploy/nginx/koor.conf in front of koor: TLS, REST, WebSocket, MCP, dashboard', async (t) => {
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (openssl.status !== 0) {
    t.skip('openssl is not installed: cannot make the throwaway TLS certificate');
    return;
  }
  const nginx = ensureNginx();
  if ('skip' in nginx) {
    t.skip(nginx.skip);
    return;
  }

  // Throwaway CA-less self-signed certificate for 127.0.0.1.
  const dir = tempDir(t, 'koor-nginx-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const mk = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  t.equal(mk.status, 0, `openssl made the certificate${mk.status === 0 ? '' : `: ${mk.stderr}`}`);
  const ca = fs.readFileSync(cert);

  const koor = await startTestServer(t, { authToken: TOKEN, dashboardBind: parseBind('127.0.0.1:0', 'dashboard') });
  const [apiPort, dashPort] = (await freePorts(2)) as [number, number];
  const site = template(fs.readFileSync(RECIPE, 'utf8'), {
    KOOR_API: `127.0.0.1:${koor.port}`,
    KOOR_DASHBOARD: `127.0.0.1:${koor.dashboardPort}`,
    HTTPS_LISTEN: `127.0.0.1:${apiPort}`,
    DASHBOARD_LISTEN: `127.0.0.1:${dashPort}`,
    SERVER_NAME: 'localhost',
    TLS_CERT: cert,
    TLS_KEY: key,
  });
  fs.writeFileSync(path.join(dir, 'koor.conf'), site);
  const temp = (n: string) => path.join(dir, n);
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    [
      // As root, workers keep root's rights: the temp dir is private to it.
      process.getuid?.() === 0 ? 'user root root;' : '',
      'worker_processes 1;',
      `pid ${temp('nginx.pid')};`,
      `error_log ${temp('error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${temp('access.log')};`,
      `  client_body_temp_path ${temp('body')};`,
      `  proxy_temp_path ${temp('proxy')};`,
      `  fastcgi_temp_path ${temp('fastcgi')};`,
      `  uwsgi_temp_path ${temp('uwsgi')};`,
      `  scgi_temp_path ${temp('scgi')};`,
      `  include ${temp('koor.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const args = ['-p', dir, '-c', temp('nginx.conf'), '-e', temp('error.log')];

  const check = spawnSync(nginx.path, [...args, '-t'], { encoding: 'utf8' });
  t.equal(check.status, 0, `nginx -t accepts the templated recipe: ${check.stderr}`);

  const running = runNginx(t, nginx.path, args);

  const agent = new https.Agent({ ca, keepAlive: true });
  t.teardown(() => agent.destroy());
  const seen: Seen[] = [];
  const fetchTls = httpsFetcher(agent, seen);
  const base = `https://127.0.0.1:${apiPort}`;
  const dash = `https://127.0.0.1:${dashPort}`;

  await waitUntil('nginx to answer /health over TLS', async () => {
    if (running.exited()) throw new Error(`nginx exited: ${running.stderr()}${fs.existsSync(temp('error.log')) ? fs.readFileSync(temp('error.log'), 'utf8') : ''}`);
    try {
      return (await fetchTls(`${base}/health`)).status === 200;
    } catch {
      return false;
    }
  });

  t.test('REST through nginx: token, headers, 401, body cap', async (t) => {
    const health = await fetchTls(`${base}/health`);
    t.match(await health.json(), { status: 'ok' }, '/health is public');

    const noToken = await fetchTls(`${base}/api/state`);
    t.equal(noToken.status, 401, 'no token: 401 from koor, through nginx');
    t.same(await noToken.json(), { error: 'invalid or missing bearer token', code: 401 });
    const wrong = await fetchTls(`${base}/api/state`, { headers: { authorization: 'Bearer nope' } });
    t.equal(wrong.status, 401, 'wrong token: 401');
    await wrong.arrayBuffer();

    const put = await fetchTls(`${base}/api/state/deploy/config`, { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"replicas":3}' });
    t.equal(put.status, 200, 'PUT with the bearer token');
    const putBody = await put.json();
    t.equal(putBody.key, 'deploy/config');
    const got = await fetchTls(`${base}/api/state/deploy/config`, { headers: AUTH });
    t.equal(got.status, 200);
    t.same(await got.json(), { replicas: 3 }, 'GET returns what was PUT');
    const etag = got.headers.get('etag');
    t.match(etag, /^"[0-9a-f]{64}"$/, 'ETag comes back through nginx');

    // Conditional headers reach koor: a stale If-Match is refused, the current one accepted.
    const stale = await fetchTls(`${base}/api/state/deploy/config`, { method: 'PUT', headers: { ...AUTH, 'if-match': `"${'0'.repeat(64)}"` }, body: '{"replicas":4}' });
    t.equal(stale.status, 412, 'If-Match passes through');
    t.equal(stale.headers.get('x-koor-version'), '1');
    await stale.arrayBuffer();
    const fresh = await fetchTls(`${base}/api/state/deploy/config`, { method: 'PUT', headers: { ...AUTH, 'if-match': etag! }, body: '{"replicas":4}' });
    t.equal(fresh.status, 200, 'the current ETag wins');
    await fresh.arrayBuffer();

    // The recipe's cap is koor's: exactly 10 MiB is stored, one byte more is refused (JSON error).
    const big = Buffer.alloc(BODY_CAP, 'a');
    const atCap = await fetchTls(`${base}/api/state/deploy/big`, { method: 'PUT', headers: { ...AUTH, 'content-type': 'text/plain' }, body: big });
    t.equal(atCap.status, 200, 'a body of exactly 10 MiB passes nginx and koor');
    await atCap.arrayBuffer();
    const back = await fetchTls(`${base}/api/state/deploy/big`, { headers: AUTH });
    t.equal(Buffer.from(await back.arrayBuffer()).length, BODY_CAP, 'and is stored whole');
    const over = await fetchTls(`${base}/api/state/deploy/over`, { method: 'PUT', headers: { ...AUTH, 'content-type': 'text/plain' }, body: Buffer.alloc(BODY_CAP + 1, 'a') });
    t.equal(over.status, 413, 'one byte over the cap: 413');
    t.match(over.headers.get('content-type'), /^application\/json/);
    t.same(await over.json(), { error: 'body too large', code: 413 }, "in koor's error shape");
    const missing = await fetchTls(`${base}/api/state/deploy/over`, { headers: AUTH });
    t.equal(missing.status, 404, 'nothing stored for the refused body');
    await missing.arrayBuffer();
  });

  t.test('WebSocket subscription through nginx receives an event published over REST', async (t) => {
    const wsUrl = `wss://127.0.0.1:${apiPort}/api/events/subscribe?pattern=deploy.*`;
    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { ca });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode!);
        ws.terminate();
      });
      ws.once('open', () => reject(new Error('upgrade without a token was accepted')));
      ws.once('error', () => {});
    });
    t.equal(refused, 401, 'upgrade without a token: 401');

    const ws = new WebSocket(wsUrl, { ca, headers: AUTH });
    t.teardown(() => ws.terminate());
    const frames: Array<{ id: number; topic: string; data: unknown }> = [];
    ws.on('message', (m) => frames.push(JSON.parse(m.toString())));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    // koor subscribes the socket before its 101 leaves, so a publish after 'open' is seen.
    const ignored = await fetchTls(`${base}/api/events/publish`, { method: 'POST', headers: AUTH, body: '{"topic":"other.topic","data":1}' });
    t.equal(ignored.status, 200);
    await ignored.arrayBuffer();
    const pub = await fetchTls(`${base}/api/events/publish`, { method: 'POST', headers: AUTH, body: '{"topic":"deploy.rolled","data":{"version":"1.2.3"}}' });
    t.equal(pub.status, 200, 'publish through nginx');
    const event = await pub.json();
    await waitUntil('the event frame through nginx', () => frames.length >= 1);
    t.same(frames[0], { ...event }, 'the subscriber got exactly the published event');
    t.same(frames[0]!.data, { version: '1.2.3' });
    t.equal(frames.length, 1, 'and not the non-matching one');
    ws.close();
  });

  t.test('MCP session through nginx with the official SDK client', async (t) => {
    const unauth = await fetchTls(`${base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    t.equal(unauth.status, 401, '/mcp without a token: 401');
    await unauth.arrayBuffer();

    const client = new Client({ name: 'koor-deploy-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: AUTH }, fetch: fetchTls });
    await client.connect(transport);
    t.teardown(() => client.close());
    t.match(transport.sessionId, /^[0-9a-f-]{36}$/, 'Mcp-Session-Id came back through nginx');
    t.same(client.getServerVersion(), { name: 'koor', version: '0.1.0' });

    const { tools } = await client.listTools();
    t.same(tools.map((x) => x.name), ['register_instance', 'discover_instances', 'set_intent', 'get_endpoints', 'propose_rule'], 'the five tools');

    // A tool call on the session (the session id must reach koor), visible over REST.
    const reg = await client.callTool({ name: 'register_instance', arguments: { name: 'behind-nginx', workspace: '/srv', stack: 'ts' } });
    t.notOk(reg.isError, 'register_instance succeeded');
    const r = JSON.parse((reg.content as Array<{ text: string }>)[0]!.text);
    const viaRest = await fetchTls(`${base}/api/instances/${r.instance_id}`, { headers: AUTH });
    t.equal(viaRest.status, 200);
    t.match(await viaRest.json(), { name: 'behind-nginx', workspace: '/srv', stack: 'ts' }, 'the tool call reached koor');

    const posts = seen.filter((s) => s.path === '/mcp' && s.method === 'POST' && s.status === 200);
    t.ok(posts.some((s) => s.type.startsWith('text/event-stream')), 'POST replies arrive as server-sent events through nginx');
    // The client's standing GET stream: koor writes a comment line at once and keeps it open.
    // With nginx buffering it, that first chunk would sit in nginx until the stream ended.
    await waitUntil('a chunk of the open GET /mcp event stream', () => seen.some((s) => s.path === '/mcp' && s.method === 'GET' && s.status === 200 && s.chunkWhileOpen));
    t.pass('the GET event stream is passed through unbuffered');

    await transport.terminateSession();
    const after = await fetchTls(`${base}/mcp`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': randomUUID() }, body: '{"jsonrpc":"2.0","id":9,"method":"tools/list"}' });
    t.equal(after.status, 404, 'an unknown session id is refused by koor (the header reached it)');
    await after.arrayBuffer();
  });

  t.test('dashboard site: the page is public, its API calls and live stream carry the token', async (t) => {
    const page = await fetchTls(`${dash}/`);
    t.equal(page.status, 200, 'the page needs no token');
    t.match(page.headers.get('content-type'), /^text\/html/);
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    t.ok(js, 'it names its script');
    const asset = await fetchTls(`${dash}${js}`, { headers: { 'accept-encoding': 'br' } });
    t.equal(asset.status, 200);
    t.equal(asset.headers.get('content-encoding'), 'br', "koor's compressed copy passes through");
    t.match(asset.headers.get('cache-control'), /immutable/);
    await asset.arrayBuffer();

    const anon = await fetchTls(`${dash}/api/state`);
    t.equal(anon.status, 401, 'the API without the token: 401 from koor');
    await anon.arrayBuffer();
    const list = await fetchTls(`${dash}/api/state`, { headers: AUTH });
    t.equal(list.status, 200, 'with the bearer token the page sends');
    const keys = (await list.json()) as Array<{ key: string }>;
    t.ok(keys.some((k) => k.key === 'deploy/config'), 'the dashboard sees the state written through the API site');
    const write = await fetchTls(`${dash}/api/state/deploy/dash-note`, { method: 'PUT', headers: AUTH, body: '{}' });
    t.equal(write.status, 200, 'the page may write (accept a rule, roll back) with the token');
    await write.arrayBuffer();

    // As a browser does it: the token in the subprotocol offer, not in a header or the URL.
    const offer = ['koor', `koor.bearer.${Buffer.from(TOKEN).toString('base64url')}`];
    const ws = new WebSocket(`wss://127.0.0.1:${dashPort}/api/events/subscribe?pattern=dash.*`, offer, { ca });
    t.teardown(() => ws.terminate());
    const got = new Promise<{ topic: string }>((resolve) => ws.once('message', (m) => resolve(JSON.parse(m.toString()))));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    t.equal(ws.protocol, 'koor', 'the live stream opens through nginx');
    const pub = await fetchTls(`${base}/api/events/publish`, { method: 'POST', headers: AUTH, body: '{"topic":"dash.hello"}' });
    await pub.arrayBuffer();
    t.equal((await got).topic, 'dash.hello', 'and carries events');
  });
});
