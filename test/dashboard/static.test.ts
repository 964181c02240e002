/**
 * The dashboard listener over plain HTTP: the built page and assets (public, ETag/304, brotli and
 * gzip by Accept-Encoding, caching headers, HEAD), the auth rules around them (the API needs the
 * token, no token in a URL, no unauthenticated mutation), and the event WebSocket authenticated
 * by the Sec-WebSocket-Protocol offer a browser can make.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import t from 'tap';
import WebSocket from 'ws';
import { parseBind } from '../../src/config.js';
import { testConfig } from '../helpers/config.js';
import { silentLogger } from '../../src/log.js';
import { startServer } from '../../src/server.js';
import { ensureDashboardBuilt } from '../helpers/dashboard.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { publish } from '../helpers/ws.js';

await ensureDashboardBuilt();

const TOKEN = 'dash s3cret/+=~';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const bearerProtocol = (token: string) => `koor.bearer.${Buffer.from(token).toString('base64url')}`;

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A request whose body comes back as sent (fetch would decompress it). */
function raw(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function wsOpen(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<{ ws: WebSocket; status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.once('open', () => resolve({ ws, status: 101 }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ ws, status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.once('error', () => resolve({ ws, status: -1 }));
  });
}

t.test('page and assets: public, cached by ETag, compressed when the client accepts it', async (t) => {
  const s = await startTestServer(t, { authToken: TOKEN, dashboardBind: parseBind('127.0.0.1:0', 'dashboard') });
  const base = s.dashboardUrl!;

  const page = await raw(`${base}/`);
  t.equal(page.status, 200, 'GET / needs no token');
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(page.headers['cache-control'], 'no-cache', 'the page is revalidated (it names the current assets)');
  t.match(page.headers['content-security-policy'], /default-src 'self'/, 'the page may only talk to its own origin');
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['content-encoding'], undefined, 'no Accept-Encoding: identity');
  const html = page.body.toString();
  t.notMatch(html, /https?:\/\//, 'no absolute URL in the page (no CDN, no font service)');
  const js = /src="(\/assets\/app-[\w-]+\.js)"/.exec(html)?.[1];
  const css = /href="(\/assets\/app-[\w-]+\.css)"/.exec(html)?.[1];
  t.ok(js && css, 'the page names its hashed script and stylesheet');

  const script = await raw(`${base}${js}`);
  t.equal(script.status, 200);
  t.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
  t.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable', 'hashed files are cached for good');
  t.equal(script.headers.vary, 'Accept-Encoding');
  t.equal(Number(script.headers['content-length']), script.body.length);
  t.equal((await raw(`${base}${css}`)).headers['content-type'], 'text/css; charset=utf-8');

  const br = await raw(`${base}${js}`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
  t.equal(br.headers['content-encoding'], 'br', 'brotli preferred');
  t.ok(br.body.length < script.body.length / 2, `brotli is worth it (${br.body.length} of ${script.body.length} bytes)`);
  t.ok(zlib.brotliDecompressSync(br.body).equals(script.body), 'brotli body decodes to the file');
  const gz = await raw(`${base}${js}`, { headers: { 'accept-encoding': 'br;q=0, gzip' } });
  t.equal(gz.headers['content-encoding'], 'gzip', 'br refused with q=0: gzip');
  t.ok(zlib.gunzipSync(gz.body).equals(script.body), 'gzip body decodes to the file');
  t.equal((await raw(`${base}${js}`, { headers: { 'accept-encoding': 'identity' } })).headers['content-encoding'], undefined);
  t.not(br.headers.etag, script.headers.etag, 'each encoding has its own ETag');

  const again = await raw(`${base}${js}`, { headers: { 'if-none-match': script.headers.etag!, 'accept-encoding': 'br' } });
  t.equal(again.status, 304, 'If-None-Match → 304');
  t.equal(again.body.length, 0, 'no body');
  t.equal(again.headers.etag, br.headers.etag, 'with the ETag of the encoding chosen');
  t.equal((await raw(`${base}/`, { headers: { 'if-none-match': `W/${page.headers.etag}` } })).status, 304, 'a weak validator matches too');
  t.equal((await raw(`${base}/`, { headers: { 'if-none-match': '"other", ' + page.headers.etag } })).status, 304, 'a list is read');
  t.equal((await raw(`${base}/`, { headers: { 'if-none-match': '"other"' } })).status, 200, 'another ETag → 200');

  const head = await raw(`${base}/`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body.length, 0, 'HEAD: headers only');
  t.equal(head.headers.etag, page.headers.etag);

  const missing = await raw(`${base}/assets/nope.js`);
  t.equal(missing.status, 404);
  t.same(JSON.parse(missing.body.toString()), { error: 'not found', code: 404 });

  const onApi = await raw(`${s.url}/`, { headers: AUTH });
  t.equal(onApi.status, 404, 'the API listener does not serve the dashboard');
});

t.test('auth on the dashboard listener: everything but /health and the static files needs the token', async (t) => {
  const s = await startTestServer(t, { authToken: TOKEN, dashboardBind: parseBind('127.0.0.1:0', 'dashboard') });
  const base = s.dashboardUrl!;
  t.equal((await raw(`${base}/health`)).status, 200, '/health is public');
  t.equal((await raw(`${base}/api/metrics`)).status, 401, 'the API needs the token');
  t.equal((await raw(`${base}/api/metrics?token=${encodeURIComponent(TOKEN)}`)).status, 401, 'never a token in the URL');
  t.equal((await raw(`${base}/api/metrics`, { headers: AUTH })).status, 200);
  t.equal((await raw(`${base}/metrics`)).status, 401, 'Prometheus text too');

  const post = await raw(`${base}/`, { method: 'POST' });
  t.equal(post.status, 401, 'no unauthenticated mutation, not even a method the page does not take');
  const post2 = await raw(`${base}/assets/x.js`, { method: 'DELETE', headers: AUTH });
  t.equal(post2.status, 405, 'with the token: 405');
  t.equal(post2.headers.allow, 'GET, HEAD');
  t.equal((await raw(`${base}/api/state/k`, { method: 'PUT' })).status, 401, 'writes need the token');
  const put = await fetch(`${base}/api/state/k`, { method: 'PUT', headers: AUTH, body: '{"a":1}' });
  t.equal(put.status, 200, 'and work with it');
  await put.arrayBuffer();
});

t.test('event WebSocket: the token in the subprotocol offer, never in the URL', async (t) => {
  const s = await startTestServer(t, { authToken: TOKEN, dashboardBind: parseBind('127.0.0.1:0', 'dashboard') });
  for (const base of [s.dashboardUrl!, s.url]) {
    const url = `${base.replace('http', 'ws')}/api/events/subscribe?pattern=ui.*`;
    const ok = await wsOpen(url, ['koor', bearerProtocol(TOKEN)]);
    t.equal(ok.status, 101, `${base === s.url ? 'API' : 'dashboard'} listener: the token in the offer opens the stream`);
    t.equal(ok.ws.protocol, 'koor', 'the answer names `koor`, never the token');
    const got = new Promise<string>((resolve) => ok.ws.once('message', (m) => resolve(m.toString())));
    await publish(s.url, 'ui.ping', { n: 1 }, AUTH);
    t.match(JSON.parse(await got), { topic: 'ui.ping', data: { n: 1 } }, 'events arrive');
    ok.ws.close();

    t.equal((await wsOpen(url, ['koor', bearerProtocol('wrong')])).status, 401, 'a wrong token: 401');
    t.equal((await wsOpen(url, ['koor'])).status, 401, 'no token: 401');
    t.equal((await wsOpen(`${url}&token=${encodeURIComponent(TOKEN)}`, ['koor'])).status, 401, 'a token in the URL is not read');
    const header = await wsOpen(url, ['koor', bearerProtocol('wrong')], AUTH);
    t.equal(header.status, 101, 'an Authorization header wins over the offer');
    header.ws.close();
  }
});

t.test('open server: the offer without a token still gets its `koor` answer', async (t) => {
  const s = await startTestServer(t, { dashboardBind: parseBind('127.0.0.1:0', 'dashboard') });
  const r = await wsOpen(`${s.dashboardUrl!.replace('http', 'ws')}/api/events/subscribe`, ['koor']);
  t.equal(r.status, 101);
  t.equal(r.ws.protocol, 'koor');
  r.ws.close();
});

t.test('not built: the page says how to build it', async (t) => {
  const config = testConfig({ bind: parseBind('127.0.0.1:0', 'bind'), dashboardBind: parseBind('127.0.0.1:0', 'dashboard'), dataDir: tempDir(t) });
  const s = await startServer(config, { log: silentLogger(), dashboardDir: tempDir(t) });
  t.teardown(() => s.close());
  const r = await raw(`${s.dashboardUrl}/`);
  t.equal(r.status, 404);
  t.match(JSON.parse(r.body.toString()).error, /^dashboard not built: .*index\.html is missing \(run npm run build\)$/);
  t.equal((await raw(`${s.dashboardUrl}/health`)).status, 200, 'the API still serves');
});
