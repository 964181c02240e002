import net from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { JSON_MAX_DEPTH, WS_HARD_FRAME_BYTES, WS_MAX_CLIENT_FRAME_BYTES } from '../../src/shared/limits.js';
import { json, startTestServer } from '../helpers/server.js';

/**
 * Issue 34, inputs: names must be valid UTF-8 (never rewritten lossily into U+FFFD, where two
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
