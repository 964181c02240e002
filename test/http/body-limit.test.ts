import net from 'node:net';
import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';

t.test('bodies over the cap → 413, nothing stored, server keeps serving', async (t) => {
  const s = await startTestServer(t, { maxBodyBytes: 1024 });
  const big = Buffer.alloc(1025, 'a');
  const r = await fetch(`${s.url}/api/state/big`, { method: 'PUT', body: big as unknown as BodyInit });
  t.equal(r.status, 413);
  t.same(await json(r), { error: 'body too large', code: 413 });
  t.equal((await fetch(`${s.url}/api/state/big`)).status, 404, 'nothing stored');

  const exact = await fetch(`${s.url}/api/state/exact`, { method: 'PUT', body: Buffer.alloc(1024, 'b') as unknown as BodyInit });
  t.equal(exact.status, 200, 'exactly the cap is accepted');
  await exact.arrayBuffer();

  const spec = await fetch(`${s.url}/api/specs/p/n`, { method: 'PUT', body: big as unknown as BodyInit });
  t.equal(spec.status, 413);
  await spec.arrayBuffer();
});

t.test('chunked upload past the cap is cut off without a Content-Length', async (t) => {
  const s = await startTestServer(t, { maxBodyBytes: 64 * 1024 }, { oneNode: 'raw bytes to one listener' });
  const port = Number(new URL(s.url).port);
  const reply = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    let sent = 0;
    sock.on('data', (d) => (got += d.toString()));
    sock.on('close', () => resolve(got));
    sock.on('error', () => {}); // EPIPE/ECONNRESET once the server cut the upload; 'close' follows
    sock.write('PUT /api/state/chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n');
    const data = Buffer.alloc(16 * 1024, 'c');
    const frame = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
    const pump = () => {
      // Bounded: stop after 1 MiB whatever happens.
      while (sent < 1024 * 1024 && !sock.destroyed) {
        sent += data.length;
        if (!sock.write(frame)) {
          sock.once('drain', pump);
          return;
        }
      }
      if (!sock.destroyed) sock.end('0\r\n\r\n');
    };
    pump();
    setTimeout(() => reject(new Error('no reply')), 10_000).unref();
  });
  t.match(reply, /^HTTP\/1\.1 413/);
  t.match(reply, /"body too large"/);
  const after = await fetch(`${s.url}/api/state/chunked`);
  t.equal(after.status, 404, 'nothing stored');
  await after.arrayBuffer();
  t.equal((await fetch(`${s.url}/health`)).status, 200, 'still serving');
});

t.test('a client that aborts mid-body does not crash the server', async (t) => {
  const s = await startTestServer(t, {}, { oneNode: 'raw bytes to one listener' });
  const port = Number(new URL(s.url).port);
  for (let i = 0; i < 20; i++) {
    await new Promise<void>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.write(`PUT /api/state/abort${i} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n`);
        sock.write(Buffer.alloc(1000, 'z'));
        setTimeout(() => {
          sock.destroy();
          resolve();
        }, 5);
      });
    });
  }
  t.equal((await fetch(`${s.url}/health`)).status, 200);
  t.same(await json(await fetch(`${s.url}/api/state`)), []);
});
