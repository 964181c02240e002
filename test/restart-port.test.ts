import t from 'tap';
import { spawnServer, tempDir } from './helpers/server.js';
import { subscribe } from './helpers/ws.js';
import net from 'node:net';

/**
 * koor-server started again on the same port right after it stopped (a service restart, a crash
 * and the service manager's restart): connections it closed itself linger in TCP TIME_WAIT on
 * that port, and the new server must still come up there and serve the same data.
 */

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`restart on the same port right after ${signal}`, async (t) => {
    const port = await freePort();
    const dir = tempDir(t);
    const first = await spawnServer(['--data-dir', dir, '--bind', `127.0.0.1:${port}`]);
    const sub = await subscribe(first.url, '');
    t.equal((await fetch(`${first.url}/api/state/k`, { method: 'PUT', body: 'v' })).status, 200);
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill(signal);
    await exited;
    await sub.closed;
    const second = await spawnServer(['--data-dir', dir, '--bind', `127.0.0.1:${port}`]);
    t.teardown(() => {
      second.child.kill('SIGKILL');
    });
    t.equal(second.url, first.url, 'same address');
    t.equal(await (await fetch(`${second.url}/api/state/k`)).text(), 'v');
  });
}
