import t from 'tap';
import { parseBind } from '../../src/config.js';
import { startTestServer, json, sqliteOnly } from '../helpers/server.js';

/** Token-tax call counts are each node's own (/api/metrics). */
const TOKEN_TAX = { oneNode: "a node's own token-tax counts" };

t.test('unknown route and wrong method → JSON 404 / 405 with Allow', async (t) => {
  const s = await startTestServer(t);
  const r404 = await fetch(`${s.url}/nope/at/all`);
  t.equal(r404.status, 404);
  t.match(r404.headers.get('content-type'), /application\/json/);
  t.same(await json(r404), { error: 'not found', code: 404 });
  const r405 = await fetch(`${s.url}/api/state/x`, { method: 'PATCH' });
  t.equal(r405.status, 405);
  t.same(await json(r405), { error: 'method not allowed', code: 405 });
  t.equal(r405.headers.get('allow'), 'GET, HEAD, PUT, POST, DELETE');
  const list405 = await fetch(`${s.url}/api/state`, { method: 'DELETE' });
  t.equal(list405.status, 405);
  t.equal(list405.headers.get('allow'), 'GET, HEAD');
  await list405.arrayBuffer();
  const h405 = await fetch(`${s.url}/health`, { method: 'POST' });
  t.equal(h405.status, 405);
  await h405.arrayBuffer();
});

t.test('each node answers /health with its own boot id; consecutive requests reach every node (cluster pass) or the one server', async (t) => {
  const s = await startTestServer(t);
  const boots = new Set<string>();
  for (let i = 0; i < 3 * s.nodeUrls.length; i++) {
    const r = await fetch(`${s.url}/health`);
    await r.arrayBuffer();
    boots.add(r.headers.get('x-koor-boot')!);
  }
  t.equal(boots.size, s.nodeUrls.length, `${boots.size} boot ids over ${s.nodeUrls.length} node(s)`);
});

t.test('health and metrics', async (t) => {
  const s = await startTestServer(t, {}, TOKEN_TAX);
  const h = await json(await fetch(`${s.url}/health`));
  t.equal(h.status, 'ok');
  t.match(h.uptime, /^\d+s$/);
  await fetch(`${s.url}/api/state/a`, { method: 'PUT', body: Buffer.from('1') as unknown as BodyInit });
  await (await fetch(`${s.url}/api/state/a`)).text();
  await (await fetch(`${s.url}/nope`)).text(); // unrouted: not counted
  const m = await json(await fetch(`${s.url}/api/metrics`));
  t.equal(m.state_keys, 1);
  t.equal(m.last_event_id, 0);
  t.equal(m.api_bind, '127.0.0.1:0');
  t.same(m.token_tax, { mcp_calls: 0, rest_calls: 2, total_calls: 2, mcp_estimated_tokens: 0, rest_tokens_saved: 600, savings_percent: 100 });
  t.same(await json(await fetch(`${s.url}/api/metrics/reset`, { method: 'POST' })), { reset: true });
  const m2 = await json(await fetch(`${s.url}/api/metrics`));
  t.same(m2.token_tax, { mcp_calls: 0, rest_calls: 0, total_calls: 0, mcp_estimated_tokens: 0, rest_tokens_saved: 0, savings_percent: 0 });
});

t.test('auth token: every route but /health needs the bearer token', async (t) => {
  const s = await startTestServer(t, { authToken: 's3cret', dashboardBind: parseBind('127.0.0.1:0', 'dashboard') }, TOKEN_TAX);
  const bases = [s.url, s.dashboardUrl!];
  for (const base of bases) {
    t.equal((await fetch(`${base}/health`)).status, 200, `${base} health is public`);
    for (const [method, path] of [
      ['GET', '/api/state'],
      ['PUT', '/api/state/k'],
      ['GET', '/api/specs/p/n'],
      ['GET', '/api/metrics'],
      ['GET', '/no/such/route'],
    ] as const) {
      const r = await fetch(`${base}${path}`, { method, body: method === 'PUT' ? (Buffer.from('x') as unknown as BodyInit) : undefined });
      t.equal(r.status, 401, `${method} ${path} without token`);
      t.same(await json(r), { error: 'invalid or missing bearer token', code: 401 });
      t.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
    for (const bad of ['Bearer wrong', 'bearer s3cret', 's3cret', 'Bearer s3cre']) {
      const r = await fetch(`${base}/api/state`, { headers: { authorization: bad } });
      t.equal(r.status, 401, `rejects ${JSON.stringify(bad)}`);
      await r.arrayBuffer();
    }
  }
  const ok = { authorization: 'Bearer s3cret' };
  const w = await fetch(`${s.url}/api/state/k`, { method: 'PUT', body: Buffer.from('v') as unknown as BodyInit, headers: ok });
  t.equal(w.status, 200);
  await w.arrayBuffer();
  // dashboard listener answers /api/* exactly like the API listener
  const viaDash = await fetch(`${s.dashboardUrl}/api/state/k`, { headers: ok });
  t.equal(viaDash.status, 200);
  t.equal(await viaDash.text(), 'v');
  const w2 = await fetch(`${s.dashboardUrl}/api/state/k2`, { method: 'PUT', body: Buffer.from('v2') as unknown as BodyInit, headers: ok });
  t.equal(w2.status, 200);
  await w2.arrayBuffer();
  t.same((await json(await fetch(`${s.url}/api/state`, { headers: ok }))).map((e: any) => e.key), ['k', 'k2']);
  // dashboard calls are not counted as REST calls
  const m = await json(await fetch(`${s.url}/api/metrics`, { headers: ok }));
  t.equal(m.token_tax.rest_calls, 2);
  const nf = await fetch(`${s.url}/no/such/route`, { headers: ok });
  t.equal(nf.status, 404);
  await nf.arrayBuffer();
});

t.test('open mode: no token needed', async (t) => {
  const s = await startTestServer(t);
  t.equal((await fetch(`${s.url}/api/state`)).status, 200);
  t.equal((await fetch(`${s.url}/api/state`, { headers: { authorization: 'Bearer anything' } })).status, 200);
});

t.test('HEAD answers like GET without a body; 304 carries no Content-Length; keep-alive survives', async (t) => {
  // Pipelined: uWS aborts requests queued behind a deferred reply (uWebSockets.js #277, #1301),
  // and every read is deferred on PostgreSQL.
  if (sqliteOnly(t, 'HTTP pipelining needs replies given at once')) return;
  const net = await import('node:net');
  const s = await startTestServer(t);
  await fetch(`${s.url}/api/state/h`, { method: 'PUT', body: Buffer.from('{"a":1}') as unknown as BodyInit }).then((r) => r.text());
  const etag = (await fetch(`${s.url}/api/state/h`)).headers.get('etag')!;
  const port = Number(new URL(s.url).port);
  // Three requests on one connection: if a HEAD or 304 reply carried a body, framing would break.
  const raw = await new Promise<string>((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () =>
      sock.write(`HEAD /health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /api/state/h HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: ${etag}\r\n\r\nHEAD /nope HTTP/1.1\r\nHost: localhost\r\n\r\nGET /api/state/h HTTP/1.1\r\nHost: localhost\r\n\r\n`),
    );
    let out = '';
    sock.on('data', (d) => {
      out += d.toString();
      if (out.includes('{"a":1}')) {
        sock.destroy();
        resolve(out);
      }
    });
    setTimeout(() => {
      sock.destroy();
      resolve(out);
    }, 3000).unref();
  });
  const replies = raw.split(/(?=HTTP\/1\.1 )/);
  t.equal(replies.length, 4, 'four replies on one connection');
  t.match(replies[0], /^HTTP\/1\.1 200 OK\r\n/);
  t.notMatch(replies[0], /"status"/, 'HEAD: no body');
  t.match(replies[1], /^HTTP\/1\.1 304 Not Modified\r\n/);
  t.notMatch(replies[1], /Content-Length/i, '304: no Content-Length');
  t.match(replies[2], /^HTTP\/1\.1 404 Not Found\r\n/);
  t.notMatch(replies[2], /not found"/, 'HEAD 404: no body');
  t.match(replies[3], /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"a":1\}$/);
});
