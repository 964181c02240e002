import net from 'node:net';
import t from 'tap';
import { tempDir } from '../helpers/server.js';
import { runCli } from './helpers.js';

/** koor-cli never waits forever: a server that accepts but never answers is a clear error. */

t.test('a server that never replies: exit 1 with "request failed: timeout after Ns"', async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.resume(); // reads the request, answers nothing
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  const r = await runCli(['state', 'get', 'k'], { cwd: tempDir(t), env: { KOOR_SERVER: url, KOOR_TIMEOUT: '0.5' }, timeoutMs: 15_000 });
  t.equal(r.signal, null, 'not killed by the test: the CLI gave up by itself');
  t.same([r.code, r.stdout, r.stderr], [1, '', 'error: request failed: timeout after 0.5s\n']);

  // A reply that starts but never finishes is bounded by the same clock.
  const partial = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"par'));
  });
  await new Promise<void>((r) => partial.listen(0, '127.0.0.1', r));
  t.teardown(() => partial.close());
  const url2 = `http://127.0.0.1:${(partial.address() as net.AddressInfo).port}`;
  const r2 = await runCli(['status'], { cwd: tempDir(t), env: { KOOR_SERVER: url2, KOOR_TIMEOUT: '0.5' }, timeoutMs: 15_000 });
  t.same([r2.code, r2.stderr], [1, 'error: request failed: timeout after 0.5s\n']);
});

t.test('KOOR_TIMEOUT must be a number of seconds', async (t) => {
  const r = await runCli(['status'], { cwd: tempDir(t), env: { KOOR_TIMEOUT: 'soon' } });
  t.same([r.code, r.stderr], [1, 'error: invalid KOOR_TIMEOUT "soon": expected seconds, e.g. 30 (at most 2147483)\n']);
  const huge = await runCli(['status'], { cwd: tempDir(t), env: { KOOR_TIMEOUT: '3000000' } });
  t.same([huge.code, huge.stderr], [1, 'error: invalid KOOR_TIMEOUT "3000000": expected seconds, e.g. 30 (at most 2147483)\n'], 'beyond what a timer holds: refused, not a timeout at once');
});
