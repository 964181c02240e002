import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ensureFaketime } from '../helpers/faketime.js';
import { freshDatabase, filePostgres } from '../helpers/postgres.js';
import { spawnServer, tempDir, type ServerProcess } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * A cluster's nodes judge leases, claims and expiries by the database's clock, not their own: a
 * node whose wall clock runs minutes ahead does not see another node's lease as expired and grant
 * the file again, and one whose clock runs behind does not grant a lease that the others see as
 * already expired. Found by the Jepsen-style run's clock nemesis (bench/suites/jepsen.ts), where
 * two agents held one file at once. Real nodes, their clocks set off by libfaketime.
 */
const faketime = ensureFaketime();
const started = 'path' in faketime ? await filePostgres() : { skipped: faketime.skip };
if ('skipped' in started) {
  t.skip(`clock-skewed nodes: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const lib = (faketime as { path: string }).path;

  async function call(url: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const r = await fetch(`${url}${p}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }

  t.test('a node whose clock runs ahead or behind keeps the others’ leases and grants leases that last', async (t) => {
    const database = await freshDatabase(pg, 'clock');
    const dir = tempDir(t);
    const stamp = (name: string) => path.join(dir, `${name}.clock`);
    const node = async (name: string, offset: string): Promise<ServerProcess> => {
      const data = path.join(dir, name);
      fs.mkdirSync(data);
      fs.writeFileSync(stamp(name), offset);
      // FAKETIME_DONT_FAKE_MONOTONIC: only the wall clock is off, as a real one would be.
      const env = { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: stamp(name), FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
      const s = await spawnServer(['--data-dir', data, '--database', database, '--bind', '127.0.0.1:0', '--dashboard-bind', ''], env);
      t.teardown(() => void s.child.kill('SIGKILL'));
      return s;
    };
    // One after another: the first applies the migrations.
    const right = await node('right', '+0');
    const ahead = await node('ahead', '+90s');
    const behind = await node('behind', '-60s');
    const agent = async (s: ServerProcess, name: string) => ({ 'x-koor-instance': (await call(s.url, 'POST', '/api/instances/register', { name, workspace: 'shop' })).body.id as string });
    const [a, b, c] = [await agent(right, 'ann'), await agent(ahead, 'ben'), await agent(behind, 'cat')];
    const lease = (s: ServerProcess, who: Record<string, string>, file: string) => call(s.url, 'POST', '/api/leases', { project: 'shop', resources: [file], exclusive: true, ttl: '30s' }, who);

    t.equal((await lease(right, a, 'src/cart.ts')).status, 200, 'ann leases src/cart.ts for 30 s on a node whose clock is right');
    const taken = await lease(ahead, b, 'src/cart.ts');
    t.equal(taken.status, 409, `a node 90 s ahead still sees it held (${taken.status} ${JSON.stringify(taken.body).slice(0, 120)})`);

    const granted = await lease(behind, c, 'src/total.ts');
    t.equal(granted.status, 200, 'cat leases src/total.ts for 30 s on a node 60 s behind');
    t.ok(Date.parse(granted.body.expires_at) > Date.now() + 20_000, `which ends 30 s from now by the database's clock: ${granted.body.expires_at}`);
    const second = await lease(right, a, 'src/total.ts');
    t.equal(second.status, 409, `the node whose clock is right sees it held (${second.status})`);
    const listed = await call(ahead.url, 'GET', '/api/leases?project=shop', undefined, b);
    t.equal((Array.isArray(listed.body) ? listed.body : listed.body.leases ?? []).length, 2, 'and the node ahead lists both as live');

    // Every node's clock steps two minutes back (NTP, a VM resume): the elected one, which runs the
    // lease sweep and credits leases with the time a held-up node missed, does not shift them by it.
    const leads = async (s: ServerProcess) => /^koor_cluster_leader 1$/m.test(await (await fetch(`${s.url}/metrics`)).text());
    await waitUntil('a node to be elected', async () => (await Promise.all([right, ahead, behind].map(leads))).some(Boolean), 30_000, 200);
    for (const [name, offset] of [['right', '-120s'], ['ahead', '-30s'], ['behind', '-180s']] as const) fs.writeFileSync(stamp(name), offset);
    await new Promise((r) => setTimeout(r, 3000));
    for (const [s, what] of [[right, 'right'], [ahead, 'ahead'], [behind, 'behind']] as const) {
      const again = await lease(s, await agent(s, `dan-${what}`), 'src/cart.ts');
      t.equal(again.status, 409, `after the step, the node ${what} still sees ann's lease held (${again.status})`);
    }
  });
}
