import net from 'node:net';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor } from './helpers.js';

/**
 * `koor-cli` sends an Idempotency-Key with each write it may retry, and retries once
 * under that key when the reply is lost. A proxy in front of a real server passes the request on
 * and, for the first connection, hangs up on the CLI as the server's reply arrives: the write
 * committed and the CLI never heard. Its retry must be answered with the first write's result, so
 * the task exists once and the CLI prints it.
 */

/** Forwards to `target`; the first `lose` connections get no reply (closed as it arrives). Records each request's Idempotency-Key. */
async function losingProxy(t: { teardown(fn: () => unknown): void }, target: number, lose: number): Promise<{ url: string; keys: string[] }> {
  const keys: string[] = [];
  let connections = 0;
  const server = net.createServer((client) => {
    const losing = connections++ < lose;
    const upstream = net.connect(target, '127.0.0.1');
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    let head = '';
    let recorded = false;
    client.on('data', (d: Buffer) => {
      if (!recorded) {
        head += d.toString('latin1');
        const m = /\r\nidempotency-key: *([^\r\n]*)/i.exec(head);
        if (m || head.includes('\r\n\r\n')) {
          recorded = true;
          keys.push(m ? m[1]! : '');
        }
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => (losing ? end() : client.write(d)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, keys };
}

t.test('a write whose reply is lost is retried once under its key: done once, printed', async (t) => {
  const s = await startTestServer(t);
  const proxy = await losingProxy(t, s.port, 1);
  const cli = cliFor(proxy.url, tempDir(t));
  const r = await cli('task', 'add', 'web', 'lost reply');
  t.equal(r.code, 0, r.stderr);
  const task = JSON.parse(r.stdout);
  t.match(task, { project: 'web', title: 'lost reply', status: 'ready' });
  t.equal(proxy.keys.length, 2, 'sent twice');
  t.equal(proxy.keys[0], proxy.keys[1], 'under one key');
  t.match(proxy.keys[0], /^[0-9a-f-]{36}$/, 'a fresh UUID');
  const all = (await (await fetch(`${s.url}/api/tasks?project=web`)).json()) as Array<{ id: number }>;
  t.same(all.map((x) => x.id), [task.id], 'the task exists once: the retry got the first write back');

  // Without a lost reply: one request, and each run its own key.
  const again = await cliFor(proxy.url, tempDir(t))('task', 'add', 'web', 'second');
  t.equal(again.code, 0);
  t.equal(proxy.keys.length, 3, 'one request when the reply arrives');
  t.not(proxy.keys[2], proxy.keys[0], 'a new key for a new run');
  t.equal(((await (await fetch(`${s.url}/api/tasks?project=web`)).json()) as unknown[]).length, 2);
});
