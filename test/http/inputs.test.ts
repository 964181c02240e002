import net from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { JSON_MAX_DEPTH, WS_HARD_FRAME_BYTES, WS_MAX_CLIENT_FRAME_BYTES } from '../../src/shared/limits.js';
import { json, startTestServer, TEST_BACKEND } from '../helpers/server.js';

/**
 * Inputs: names must be valid UTF-8 (never rewritten lossily into U+FFFD, where two
 * different byte strings become one key), JSON deeper than JSON_MAX_DEPTH is refused with 400,
 * and a WebSocket frame past the limit is closed with 1009.
 */

/** One raw HTTP/1.1 request (the bytes as given: no client re-encodes them); the status and body. */
function raw(url: string, head: Buffer, body: Buffer = Buffer.alloc(0)): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    s.setTimeout(15_000, () => s.destroy(new Error('no reply')));
    s.on('data', (d) => {
      chunks.push(d);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(text);
      if (end >= 0 && len && text.length >= end + 4 + Number(len[1])) {
        s.destroy();
        resolve({ status: Number(text.slice(9, 12)), body: Buffer.concat(chunks).subarray(end + 4).toString('utf8') });
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed without a full reply: ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`)));
    s.write(Buffer.concat([head, body]));
  });
}

const nested = (depth: number): string => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

t.test('invalid UTF-8 in a key or a name: 400, never stored under U+FFFD', async (t) => {
  const s = await startTestServer(t);
  // Raw bytes straight to a node: the cluster pass's balancer (Node's HTTP parser) would refuse them itself.
  const node = s.nodeUrls[0]!;
  const host = new URL(node).host;
  for (const bytes of [[0xff], [0xc3], [0xed, 0xa0, 0x80]]) {
    const head = Buffer.concat([Buffer.from('PUT /api/state/k/'), Buffer.from(bytes), Buffer.from(`x HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n`)]);
    const r = await raw(node, head, Buffer.from('{}'));
    t.same([r.status, JSON.parse(r.body)], [400, { error: 'key is not valid UTF-8', code: 400 }], `raw bytes ${bytes.map((b) => b.toString(16)).join(' ')} in the key`);
  }
  const enc = await fetch(`${s.url}/api/state/k/%FFx`, { method: 'PUT', body: '{}' });
  t.same([enc.status, await json(enc)], [400, { error: 'invalid URL encoding in key', code: 400 }], 'percent-encoded invalid UTF-8');
  const list = await json(await fetch(`${s.url}/api/state`));
  t.same(list, [], 'nothing was stored');
  // A JSON body with invalid UTF-8 (a name in it) is refused before it is decoded.
  const body = Buffer.concat([Buffer.from('{"name":"agent-'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  const reg = await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: body as unknown as BodyInit });
  t.same([reg.status, await json(reg)], [400, { error: 'body is not valid UTF-8', code: 400 }]);
  // Valid UTF-8 keys and names still work.
  const ok = await fetch(`${s.url}/api/state/k/${encodeURIComponent('é✓')}`, { method: 'PUT', body: '{}' });
  t.equal(ok.status, 200);
  await ok.arrayBuffer();
});

t.test(`JSON nested deeper than ${JSON_MAX_DEPTH} levels: 400; at the limit it works`, async (t) => {
  const s = await startTestServer(t);
  const put = (key: string, body: string, type = 'application/json') => fetch(`${s.url}/api/state/${key}`, { method: 'PUT', body, headers: { 'content-type': type } });
  const deep = await put('deep', nested(JSON_MAX_DEPTH + 1));
  t.same([deep.status, await json(deep)], [400, { error: `JSON nested too deeply (max ${JSON_MAX_DEPTH} levels)`, code: 400 }], 'state value');
  const huge = await put('deep', '['.repeat(100_000) + ']'.repeat(100_000));
  t.equal(huge.status, 400, '100,000 levels');
  await huge.arrayBuffer();
  // Brackets inside strings are not nesting.
  const inString = await put('flat', JSON.stringify({ s: '{['.repeat(1000) }));
  t.equal(inString.status, 200, 'brackets in a string');
  await inString.arrayBuffer();
  for (const v of [nested(JSON_MAX_DEPTH), nested(JSON_MAX_DEPTH - 1)]) {
    const r = await put('edge', v);
    t.equal(r.status, 200, 'at the limit');
    await r.arrayBuffer();
  }
  const diff = await fetch(`${s.url}/api/state/edge?diff=1,2`);
  t.equal(diff.status, 200, '?diff= of values at the limit works');
  await diff.arrayBuffer();
  // Stored as text (not JSON): kept as given, and ?diff= refuses it with a 400 instead of running out of stack.
  for (const v of ['{}', '{"a":' + nested(100_000) + '}']) {
    const r = await put('text', v, 'text/plain');
    t.equal(r.status, 200, 'a text value is not JSON-checked');
    await r.arrayBuffer();
  }
  const tdiff = await fetch(`${s.url}/api/state/text?diff=1,2`);
  t.same([tdiff.status, (await json(tdiff)).error], [400, `version 2 is not a JSON object: nested deeper than ${JSON_MAX_DEPTH} levels`], '?diff= of a deep text value');
  const route = await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: `{"name":"x","capabilities":${'['.repeat(JSON_MAX_DEPTH)}${']'.repeat(JSON_MAX_DEPTH)}}` });
  t.same([route.status, await json(route)], [400, { error: `JSON nested too deeply (max ${JSON_MAX_DEPTH} levels)`, code: 400 }], 'a JSON route body');
});

t.test('a WebSocket frame past the limit is closed with 1009', async (t) => {
  const s = await startTestServer(t);
  for (const size of [WS_MAX_CLIENT_FRAME_BYTES + 1, WS_HARD_FRAME_BYTES]) {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/events/subscribe?pattern=*`);
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const closed = new Promise<[number, string]>((r) => ws.once('close', (code, reason) => r([code, reason.toString()])));
    ws.send(Buffer.alloc(size, 0x61));
    const [code, reason] = await closed;
    t.equal(code, 1009, `${size} bytes: 1009 (${reason})`);
  }
  // Past the hard cap uWS drops the connection before buffering the frame (it buffered 1 MiB).
  {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/events/subscribe?pattern=*`);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.on('error', () => {});
    ws.send(Buffer.alloc(WS_HARD_FRAME_BYTES + 1, 0x61));
    t.not(await closed, 1009, `${WS_HARD_FRAME_BYTES + 1} bytes: dropped unread, not buffered up to a reply`);
  }
  // A frame within the limit is ignored and the socket stays open.
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/events/subscribe?pattern=*`);
  await new Promise((r) => ws.once('open', r));
  ws.send('hello');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(ws.readyState, WebSocket.OPEN, 'a small frame is ignored');
  ws.close();
});

/**
 * Malformed input to every route the OpenAPI document declares: bodies, path segments, query
 * values and headers; the replies that were not a success or a JSON error of their status.
 */
async function fuzzRoutes(url: string, auth: Record<string, string> = {}, docAuth = auth): Promise<{ n: number; paths: number; wrong: string[] }> {
  const doc = (await json(await fetch(`${url}/api/openapi.json`, { headers: docAuth }))) as { paths: Record<string, Record<string, unknown>> };
  const bodies = ['', 'null', '[]', '{}', '"x"', '1e999', '{"a":', 'true', '[{"op":"put"}]', '{"__proto__":{"x":1}}', '\u0000\uffff', 'x'.repeat(70_000),
    // every common field with a wrong type
    '{"name":{"x":1},"key":[],"project":7,"rule_id":null,"pattern":{},"files":"x","capabilities":"x","to":5,"body":[1],"ttl":-1,"limit":-5,"compare":{},"success":"x"}',
    // every common field holding U+0000 (PostgreSQL's text cannot)
    JSON.stringify(Object.fromEntries(['name', 'key', 'project', 'rule_id', 'pattern', 'topic', 'title', 'body', 'to', 'workspace', 'intent', 'id', 'url', 'kind', 'message', 'session_id', 'model', 'instance_id', 'description'].map((k) => [k, 'a\u0000b']))),
    JSON.stringify({ files: ['a\u0000b'], capabilities: ['a\u0000b'], tags: ['a\u0000b'], patterns: ['a\u0000b'], data: 'a\u0000b', value: 'a\u0000b' })];
  const segments = ['x', '..', '%00', 'a%2Fb', '%E0%80'];
  const headers = [
    { 'content-type': 'application/json', 'x-koor-ttl': '-1', 'if-match': '*', 'idempotency-key': '', 'x-koor-fence': '-1', 'last-event-id': 'x' },
    { 'content-type': 'text/plain', 'x-koor-ttl': 'abc', 'if-match': '"x"', 'idempotency-key': 'k'.repeat(600), 'x-koor-fence': '1e30', 'x-koor-ephemeral': 'true' },
    { 'content-type': 'application/x-www-form-urlencoded', 'x-koor-ttl': '99999999h', 'if-match': 'W/1', 'idempotency-key': 'a b', 'x-koor-fence': 'abc', 'last-event-id': '99999999999999999999' },
  ];
  const wrong: string[] = [];
  let n = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item).filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m))) {
      for (const body of method === 'get' || method === 'delete' ? [''] : bodies) {
        for (const query of ['', '?limit=-1&since=x&version=abc&wait=zz&ttl=-3&instance_id=%00']) {
          const target = path.replace(/\{[^}]+\}/g, () => segments[n % segments.length]!) + query;
          const h = { ...headers[n++ % headers.length]!, ...auth };
          const what = `${method.toUpperCase()} ${target} ${JSON.stringify(body.slice(0, 30))}`;
          try {
            const r = await fetch(url + target, { method: method.toUpperCase(), ...(method === 'get' ? {} : { body }), headers: h, signal: AbortSignal.timeout(10_000) });
            const text = await r.text();
            let reply: { error?: unknown; code?: unknown } | null = null;
            try {
              reply = JSON.parse(text) as typeof reply;
            } catch {
              // not JSON: judged below
            }
            if ((r.status >= 500 && r.status !== 503) || (r.status >= 400 && (typeof reply?.error !== 'string' || reply.code !== r.status))) wrong.push(`${what} → ${r.status} ${text.slice(0, 120)}`);
          } catch (err) {
            wrong.push(`${what} → ${(err as Error).message}`);
          }
        }
      }
    }
  }
  return { n, paths: Object.keys(doc.paths).length, wrong };
}

t.test('malformed input to every declared route (bodies, parameters, headers): a JSON error or a success, never a 5xx, a hang or a close', async (t) => {
  const s = await startTestServer(t);
  const { n, paths, wrong } = await fuzzRoutes(s.url);
  t.ok(n > 1000, `${n} requests over ${paths} paths`);
  t.same(wrong, [], 'every reply a success or a JSON error of its status');
  t.equal((await fetch(`${s.url}/health`)).status, 200, 'the server answers on');
  // PostgreSQL's text cannot hold U+0000: in cluster mode such text is the request's error, named.
  const nul = await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: 'a\u0000b' }) });
  const reply = await json(nul);
  if (TEST_BACKEND === 'sqlite') t.equal(nul.status, 200, 'SQLite stores it');
  else t.same([nul.status, reply], [400, { error: 'instances.register: text must not contain U+0000 (NUL)', code: 400 }], 'refused with 400, not failed with 500');
});

t.test('the same through the permission checks: a scoped agent token, and a token that is no one\'s', async (t) => {
  const s = await startTestServer(t, { authToken: 'T' });
  const made = (await json(await fetch(`${s.url}/api/tokens`, { method: 'POST', headers: { authorization: 'Bearer T' }, body: JSON.stringify({ name: 'fuzz', role: 'agent', scopes: ['project:web', 'state:web/**', 'topic:web.*'], ttl: '1h' }) }))) as { token: string };
  const scoped = await fuzzRoutes(s.url, { authorization: `Bearer ${made.token}` });
  t.same(scoped.wrong, [], `a scoped agent token: ${scoped.n} requests, every reply a success or a JSON error`);
  const nobody = await fuzzRoutes(s.url, { authorization: 'Bearer not-a-token' }, { authorization: 'Bearer T' });
  t.same(nobody.wrong, [], `an unknown token: ${nobody.n} requests, every reply a JSON error`);
});
