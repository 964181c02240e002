import t from 'tap';
import { freshDatabase, providePostgres } from '../helpers/postgres.js';
import { spawnServer, type ServerProcess } from '../helpers/server.js';
import { publish, subscribe } from '../helpers/ws.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Cluster mode's faults, with koor-server as real processes on one PostgreSQL:
 * kill -9 of a node under load (its clients retry on another node; no acknowledged write is
 * lost; the other node never stops serving), and a PostgreSQL restart under load (nodes answer
 * 503 while it is down — 504 for a write whose COMMIT was in flight — and recover by themselves;
 * no acknowledged write lost; subscribers keep receiving events afterwards). What each answer
 * means for the write, and the writer thread's survival, are checked in pg-restart.test.ts.
 */
const started = await providePostgres();
if ('skipped' in started) {
  t.skip(`cluster faults: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());

  const node = async (t: Tap.Test, database: string): Promise<ServerProcess> => {
    const s = await spawnServer(['--database', database]);
    t.teardown(() => {
      s.child.kill('SIGKILL');
    });
    return s;
  };

  /** Why requests got no HTTP answer (shown when a test fails). */
  const failures: string[] = [];
  /** PUT with a client-side bound; a connection error (node gone) is `0`. */
  const put = async (url: string, key: string, body: string): Promise<number> => {
    try {
      const r = await fetch(`${url}/api/state/${key}`, { method: 'PUT', body, signal: AbortSignal.timeout(30_000) });
      await r.arrayBuffer();
      return r.status;
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (failures.length < 10) failures.push(`${url}: ${err.name} ${err.message} ${err.cause?.code ?? ''} ${err.cause?.message ?? ''}`);
      return 0;
    }
  };

  t.test('kill -9 of a node under load: clients move to another node, no acknowledged write is lost', async (t) => {
    const database = await freshDatabase(pg, 'faults');
    const a = await node(t, database);
    const b = await node(t, database);
    const acked = new Map<string, string>();
    const onB = { ok: 0, other: 0 };
    let moved = 0;
    const CLIENTS = 8;
    const PER_CLIENT = 150;
    const deadline = Date.now() + 60_000;
    const client = async (c: number) => {
      // Half the clients use A until a request to it fails (as a client would learn it), then B.
      let home = c % 2 === 0 ? a.url : b.url;
      for (let i = 0; i < PER_CLIENT && Date.now() < deadline; i++) {
        const key = `k-${c}-${i}`;
        const body = `value ${c}/${i}`;
        let status = await put(home, key, body);
        if (status === 0 && home === a.url) {
          moved++;
          home = b.url;
          status = await put(home, key, body);
        }
        if (home === b.url) {
          if (status === 200) onB.ok++;
          else onB.other++;
        }
        if (status === 200) acked.set(key, body);
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    await waitUntil('some writes acknowledged', () => acked.size >= 200, 30_000);
    a.child.kill('SIGKILL');
    await load;
    t.ok(acked.size >= 200, `${acked.size} writes acknowledged`);
    t.ok(moved > 0, `clients of the killed node moved to the other one (${moved} retried there)`);
    t.equal(onB.other, 0, 'the surviving node answered every request it got with 200');
    let lost = 0;
    for (const [key, body] of acked) {
      const r = await fetch(`${b.url}/api/state/${key}`);
      if (r.status !== 200 || (await r.text()) !== body) lost++;
    }
    t.equal(lost, 0, 'every acknowledged write is on the surviving node');
    // A node started anew on the same database serves it all.
    const c = await node(t, database);
    const some = [...acked.keys()].slice(-5);
    for (const key of some) t.equal(await (await fetch(`${c.url}/api/state/${key}`)).text(), acked.get(key), `${key} on a new node`);
  });

  t.test('a PostgreSQL restart under load: 503 while it is down, recovery by itself, nothing acknowledged lost', async (t) => {
    const database = await freshDatabase(pg, 'faults');
    const a = await node(t, database);
    const b = await node(t, database);
    const sub = await subscribe(b.url, '?pattern=after.*');
    t.teardown(() => sub.ws.close());
    failures.length = 0;
    const acked = new Map<string, string>();
    const statuses = new Map<number, number>();
    let stop = false;
    const deadline = Date.now() + 60_000;
    const client = async (c: number) => {
      for (let i = 0; !stop && Date.now() < deadline && i < 5000; i++) {
        const key = `p-${c}-${i}`;
        const body = `value ${c}/${i}`;
        const status = await put(c % 2 === 0 ? a.url : b.url, key, body);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 200) acked.set(key, body);
        if (status !== 200) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, (_, c) => client(c)));
    await waitUntil('writes flowing', () => acked.size >= 100, 30_000);
    const before = acked.size;
    await pg.restartAsync(1500);
    // Recovered: writes are acknowledged again on both nodes.
    await waitUntil('writes acknowledged again after the restart', () => acked.size >= before + 200, 30_000);
    stop = true;
    await load;
    for (const s of [a, b]) t.equal(s.child.exitCode, null, `the node lives on ${s.child.exitCode === null ? '' : s.stderr().split('\n').filter((l) => /"level":60|uncaught|unhandled/.test(l)).join(' ').slice(0, 3000)}`);
    t.ok((statuses.get(503) ?? 0) > 0, `503 while PostgreSQL was down (${statuses.get(503) ?? 0} of them)`);
    // An outage answers every request 503: the log says so in rate-limited warnings (one per 10 s
    // per component), not a line per request and per failed batch.
    for (const s of [a, b]) {
      const lines = s.stderr().split('\n');
      const answered = lines.filter((l) => l.includes('service unavailable (503)')).length;
      const batches = lines.filter((l) => l.includes('database unavailable: writes answered 503')).length;
      t.ok(answered >= 1 && answered <= 2 && batches <= 2, `503s logged in ${answered} line(s), failed batches in ${batches}, for ${statuses.get(503) ?? 0} answers 503`);
      t.notOk(lines.some((l) => l.includes('"msg":"commit failed"')), 'no error line per failed batch');
    }
    // 504: a write whose COMMIT was sent as the connection broke (outcome unknown).
    const others = [...statuses.keys()].filter((s) => s !== 200 && s !== 503 && s !== 504);
    t.same(others, [], `nothing but 200, 503 and 504 (no 500, no dropped connection) ${failures.join('; ')}`);
    let lost = 0;
    for (const [key, body] of acked) {
      const r = await fetch(`${a.url}/api/state/${key}`);
      if (r.status !== 200 || (await r.text()) !== body) lost++;
    }
    t.equal(lost, 0, `all ${acked.size} acknowledged writes are there`);
    // Subscribers on the other node get events published after the restart.
    const e = await waitUntil('publishing works again', async () => {
      try {
        return await publish(a.url, 'after.restart', { ok: true });
      } catch {
        return undefined;
      }
    }, 20_000);
    await sub.waitFor(1, 10_000);
    t.equal(sub.events[0]!.id, e.id, 'the subscriber on the other node receives it');
    for (const s of [a, b]) t.equal((await fetch(`${s.url}/health`)).status, 200, 'both nodes alive');
  });
}
