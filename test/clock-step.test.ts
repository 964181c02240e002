import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ensureFaketime } from './helpers/faketime.js';
import { spawnServer, sqliteOnly, tempDir, type ServerProcess } from './helpers/server.js';

/**
 * A single server's leases and TTLs last their length in real time when its wall clock steps (an
 * NTP correction, `date -s`), while it runs and across a kill -9 and restart: its data clock is
 * carried on the monotonic clock from a base kept in the data directory. Found by the
 * Jepsen-style run's clock nemesis (bench/suites/jepsen.ts): a step of +300 s ended every 5-s
 * lease at once and a second agent was granted the file. A real server, its clock set off by
 * libfaketime. (A cluster's nodes keep to the database's clock: test/cluster/clock.test.ts.)
 */
const faketime = ensureFaketime();
if ('skip' in faketime) t.skip(`a stepped wall clock: ${faketime.skip}`);
else if (!sqliteOnly(t, "a cluster's data clock is the database's")) {
  async function call(url: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const r = await fetch(`${url}${p}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }

  t.test('a step of the wall clock ends no lease and no TTL early, also across a kill -9', async (t) => {
    const dir = tempDir(t);
    const data = path.join(dir, 'data');
    const stamp = path.join(dir, 'clock');
    fs.writeFileSync(stamp, '+0');
    // FAKETIME_DONT_FAKE_MONOTONIC: only the wall clock steps, as a real one would.
    const env = { LD_PRELOAD: faketime.path, FAKETIME_TIMESTAMP_FILE: stamp, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    const start = async (): Promise<ServerProcess> => {
      const s = await spawnServer(['--data-dir', data, '--bind', '127.0.0.1:0', '--dashboard-bind', ''], env);
      t.teardown(() => void s.child.kill('SIGKILL'));
      return s;
    };
    let s = await start();
    const agent = async (name: string) => ({ 'x-koor-instance': (await call(s.url, 'POST', '/api/instances/register', { name, workspace: 'shop' })).body.id as string });
    const ann = await agent('ann');
    const ben = await agent('ben');
    const lease = (who: Record<string, string>) => call(s.url, 'POST', '/api/leases', { project: 'shop', resources: ['src/cart.ts'], exclusive: true, ttl: '60s' }, who);
    const held = await lease(ann);
    t.equal(held.status, 200, 'ann leases src/cart.ts for 60 s');
    t.equal((await call(s.url, 'PUT', '/api/state/shop/note?ttl=60s', 'short-lived')).status, 200, 'and a key lives 60 s');

    // A short lease too: a live holder's leases are renewed now and then, which could hide an early end.
    const short = (who: Record<string, string>) => call(s.url, 'POST', '/api/leases', { project: 'shop', resources: ['src/total.ts'], exclusive: true, ttl: '10s' }, who);
    t.equal((await short(ann)).status, 200, 'and src/total.ts for 10 s');

    fs.writeFileSync(stamp, '+300s');
    await new Promise((r) => setTimeout(r, 300));
    const shortTaken = await short(ben);
    t.equal(shortTaken.status, 409, `the wall clock stepped 5 min ahead, ben is still refused src/total.ts (${shortTaken.status})`);
    await new Promise((r) => setTimeout(r, 1200));
    const taken = await lease(ben);
    t.equal(taken.status, 409, `and src/cart.ts (${taken.status})`);
    t.equal((await call(s.url, 'GET', '/api/state/shop/note')).status, 200, 'and the key is still there');

    s.child.kill('SIGKILL');
    await new Promise((r) => s.child.once('exit', r));
    s = await start();
    const again = await lease(ben);
    t.equal(again.status, 409, `killed and restarted with the clock still ahead, ben is still refused (${again.status})`);
    t.equal((await call(s.url, 'GET', '/api/state/shop/note')).status, 200, 'the key is still there');

    fs.writeFileSync(stamp, '-120s');
    await new Promise((r) => setTimeout(r, 1500));
    const listed = await call(s.url, 'GET', '/api/leases?project=shop', undefined, ann);
    const leases = Array.isArray(listed.body) ? listed.body : (listed.body.leases ?? []);
    t.same(leases.map((l: { holder_name: string }) => l.holder_name), ['ann', 'ann'], 'stepped 2 min back, both leases are listed, held by ann');
    const released = await call(s.url, 'DELETE', `/api/leases/${held.body.id}`, undefined, ann);
    t.equal(released.status, 200, `and ann releases it: it had not expired (${released.status} ${JSON.stringify(released.body).slice(0, 100)})`);
  });
}
