import http from 'node:http';
import net from 'node:net';
import { createHmac } from 'node:crypto';
import t from 'tap';
import { deliver, deliverLimits } from '../../workers/delivery/deliver.js';
import { closeIdle } from '../../workers/delivery/http1.js';

/** The webhook client of the delivery thread against real loopback receivers. */

const limits = (timeoutMs = 2000, maxReplyBytes = 64 * 1024) => deliverLimits(timeoutMs, maxReplyBytes, 4);

async function listen(server: net.Server, t: Tap.Test): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    closeIdle();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook?x=1`;
}

/** A node:http receiver; `handler` answers; counts connections and keeps what it received. */
async function receiver(t: Tap.Test, handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void) {
  const got: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      got.push({ url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on('connection', (s: net.Socket) => {
    connections++;
    t.teardown(() => s.destroy());
  });
  const url = await listen(server, t);
  return { url, got, connections: () => connections };
}

/** A raw TCP receiver: `onRequest(socket, n)` for each request head+body seen (n counts from 0 per server). */
async function rawReceiver(t: Tap.Test, onRequest: (sock: net.Socket, n: number, conn: number) => void) {
  let n = 0;
  let conns = 0;
  const server = net.createServer((sock) => {
    const conn = conns++;
    t.teardown(() => sock.destroy());
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        onRequest(sock, n++, conn);
      }
    });
    sock.on('error', () => undefined);
  });
  const url = await listen(server, t);
  return { url, connections: () => conns };
}

declare namespace Tap {
  type Test = { teardown(fn: () => unknown): void };
}

const BODY = JSON.stringify({ topic: 'a.b', data: { text: 'héllo ✓' }, source: '', event_id: 7, created_at: '2026-01-01T00:00:00Z' });

t.test('POSTs the exact body with the delivery headers, and reuses the connection', async (t) => {
  const r = await receiver(t, (_req, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('thanks'));
  const l = limits();
  t.same(await deliver(l, r.url, 's3cret', BODY), { ok: true, status: 200 });
  t.same(await deliver(l, r.url, 's3cret', BODY), { ok: true, status: 200 });
  t.same(await deliver(l, r.url, '', BODY), { ok: true, status: 200 });
  t.equal(r.got.length, 3);
  t.equal(r.got[0]!.url, '/hook?x=1', 'path and query as given');
  t.equal(r.got[0]!.body, BODY, 'body byte-exact (UTF-8)');
  t.equal(r.got[0]!.headers['content-type'], 'application/json');
  t.equal(r.got[0]!.headers['x-koor-event'], 'true');
  t.equal(r.got[0]!.headers['x-koor-signature'], createHmac('sha256', 's3cret').update(BODY).digest('hex'), 'HMAC of the exact bytes');
  t.equal(r.got[2]!.headers['x-koor-signature'], undefined, 'no secret, no signature');
  t.equal(r.connections(), 1, 'one keep-alive connection for all three');
});

t.test('chunked, empty (204) and interim (100) replies are read to their end; the connection is reused', async (t) => {
  let i = 0;
  const r = await receiver(t, (_req, res) => {
    i++;
    if (i === 1) {
      res.writeHead(202);
      res.write('part one;');
      setTimeout(() => res.end('part two'), 20);
    } else if (i === 2) res.writeHead(204).end();
    else {
      res.writeContinue();
      res.writeHead(201, { 'Content-Length': '2' }).end('ok');
    }
  });
  const l = limits();
  t.same(await deliver(l, r.url, '', BODY), { ok: true, status: 202 });
  t.same(await deliver(l, r.url, '', BODY), { ok: true, status: 204 });
  t.same(await deliver(l, r.url, '', BODY), { ok: true, status: 201 }, 'the final status after 100 Continue');
  t.equal(r.connections(), 1);
});

t.test('a status of 400 or more is a failure; a close-delimited reply is read to the close', async (t) => {
  const failing = await receiver(t, (_req, res) => res.writeHead(500).end('no'));
  t.same(await deliver(limits(), failing.url, '', BODY), { ok: false, error: 'webhook returned status 500' });
  const closing = await rawReceiver(t, (sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end'));
  const l = limits();
  t.same(await deliver(l, closing.url, '', BODY), { ok: true, status: 200 });
  t.same(await deliver(l, closing.url, '', BODY), { ok: true, status: 200 });
  t.equal(closing.connections(), 2, 'a close-delimited reply ends its connection');
});

t.test('a kept connection the receiver closed meanwhile is replaced without a failed delivery', async (t) => {
  // The receiver's idle timeout: it closes the kept connection 30 ms after its reply.
  const r = await rawReceiver(t, (sock) => {
    sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    setTimeout(() => sock.end(), 30);
  });
  const l = limits();
  t.same(await deliver(l, r.url, '', BODY), { ok: true, status: 200 });
  await new Promise((res) => setTimeout(res, 200));
  t.same(await deliver(l, r.url, '', BODY), { ok: true, status: 200 });
  t.equal(r.connections(), 2);
  // A receiver that drops the kept connection as the next request arrives (a race with its idle
  // timeout): retried once on a new connection.
  const racy = await rawReceiver(t, (sock, n, conn) => {
    if (conn === 0 && n === 1) return sock.destroy();
    sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  t.same(await deliver(l, racy.url, '', BODY), { ok: true, status: 200 });
  t.same(await deliver(l, racy.url, '', BODY), { ok: true, status: 200 }, 'the second request got through on a new connection');
  t.equal(racy.connections(), 2);
});

t.test('failures are named: no reply in time, refused, cut short, malformed, aborted', async (t) => {
  const silent = await rawReceiver(t, () => undefined);
  t.same(await deliver(limits(200), silent.url, '', BODY), { ok: false, error: 'no reply within 0.2 s' });

  const gone = net.createServer();
  const goneUrl = await listen(gone, t);
  await new Promise<void>((r) => gone.close(() => r()));
  t.same(await deliver(limits(), goneUrl, '', BODY), { ok: false, error: 'request failed: ECONNREFUSED' });

  const short = await rawReceiver(t, (sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'));
  t.same(await deliver(limits(), short.url, '', BODY), { ok: false, error: 'request failed: reply cut short' });

  const junk = await rawReceiver(t, (sock) => sock.end('SSH-2.0-OpenSSH\r\n\r\n'));
  t.same(await deliver(limits(), junk.url, '', BODY), { ok: false, error: 'request failed: not an HTTP/1.x reply' });

  const badChunk = await rawReceiver(t, (sock) => sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
  t.same(await deliver(limits(), badChunk.url, '', BODY), { ok: false, error: 'request failed: malformed reply' });

  const ac = new AbortController();
  const pending = deliver(limits(), silent.url, '', BODY, ac.signal);
  setTimeout(() => ac.abort(), 50);
  t.same(await pending, { ok: false, error: 'delivery aborted' });
});

t.test('a long reply is read up to the limit; the status decides and the connection is dropped', async (t) => {
  const big = Buffer.alloc(256 * 1024, 'x');
  const r = await receiver(t, (_req, res) => res.writeHead(200, { 'Content-Length': String(big.length) }).end(big));
  const l = limits(2000, 1024);
  t.same(await deliver(l, r.url, '', BODY), { ok: true, status: 200 });
  t.same(await deliver(l, r.url, '', BODY), { ok: true, status: 200 });
  t.equal(r.connections(), 2, 'not reused after an unread remainder');
});
