import t from 'tap';
import postgres from 'postgres';
import type { KoorServer } from '../../src/server.js';
import { freshDatabase, filePostgres } from '../helpers/postgres.js';
import { startTestServer } from '../helpers/server.js';
import { publish, subscribe, watch } from '../helpers/ws.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Cluster mode: three koor nodes on one PostgreSQL behave as one server — a write
 * acknowledged by one node is read by every other at once, CAS / claims / lease conflicts have
 * one winner across nodes, a subscriber on any node receives every node's events in id order
 * with no gap or duplicate and resumes on another node, deregistered agents are refused
 * everywhere, and the background jobs run on one elected node and move when it stops.
 */
const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`cluster nodes: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const TOKEN = 'cluster-secret';
  const auth = { authorization: `Bearer ${TOKEN}` };

  const nodes = async (t: Tap.Test, n: number, over: Parameters<typeof startTestServer>[1] = {}): Promise<KoorServer[]> => {
    const database = await freshDatabase(pg, 'nodes');
    const out: KoorServer[] = [];
    // One after another: the first applies the migrations (the others would wait on its lock anyway).
    for (let i = 0; i < n; i++) out.push(await startTestServer(t, { database, authToken: TOKEN, ...over }));
    return out;
  };
  const call = async (s: KoorServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${s.url}${path}`, {
      method,
      headers: { ...auth, ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await r.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      // raw body
    }
    return { status: r.status, text, json, headers: r.headers };
  };

  t.test('read-your-writes across nodes: state, ETags, specs, history, lists', async (t) => {
    const [a, b, c] = await nodes(t, 3);
    const all = [a!, b!, c!];
    // Each write on one node, read at once on the next: never an older version.
    for (let i = 1; i <= 60; i++) {
      const w = all[i % 3]!;
      const r = all[(i + 1) % 3]!;
      const put = await call(w, 'PUT', '/api/state/shared', `v${i}`, { 'content-type': 'text/plain' });
      t.equal(put.status, 200);
      const got = await call(r, 'GET', '/api/state/shared');
      if (got.text !== `v${i}` || got.headers.get('x-koor-version') !== String(i)) {
        t.fail(`write ${i} on node ${i % 3} read as ${got.text} v${got.headers.get('x-koor-version')} on node ${(i + 1) % 3}`);
        return;
      }
    }
    t.pass('60 writes, each read at once on another node');
    // A 304 on one node is no longer a 304 once another node wrote.
    const etag = (await call(a!, 'GET', '/api/state/shared')).headers.get('etag')!;
    t.equal((await call(b!, 'GET', '/api/state/shared', undefined, { 'if-none-match': etag })).status, 304);
    await call(c!, 'PUT', '/api/state/shared', 'changed');
    t.equal((await call(b!, 'GET', '/api/state/shared', undefined, { 'if-none-match': etag })).status, 200, 'revalidation sees the other node\'s write');
    t.equal((await call(a!, 'DELETE', '/api/state/shared')).status, 200);
    t.equal((await call(b!, 'GET', '/api/state/shared')).status, 404, 'a delete on one node is a 404 on another');
    // Specs, rules (validation on another node), instances.
    t.equal((await call(a!, 'PUT', '/api/specs/p/api', { v: 1 })).status, 200);
    t.same((await call(b!, 'GET', '/api/specs/p/api')).json, { v: 1 });
    t.equal((await call(a!, 'PUT', '/api/validate/p/rules', [{ rule_id: 'no-todo', severity: 'error', match_type: 'regex', pattern: 'TODO', message: 'no TODOs' }])).status, 200);
    const v = await call(c!, 'POST', '/api/validate/p', { filename: 'a.ts', content: 'x\n// TODO', stack: '' });
    t.equal(v.json.count, 1, 'a rule written on one node fires on another at once');
    await call(b!, 'PUT', '/api/validate/p/rules', null);
    t.equal((await call(c!, 'POST', '/api/validate/p', { filename: 'a.ts', content: '// TODO', stack: '' })).json.count, 0, 'and its deletion too');
  });

  t.test('one winner across nodes: CAS, task claims, exclusive leases', async (t) => {
    const all = await nodes(t, 3);
    const first = await call(all[0]!, 'PUT', '/api/state/cas', 'v0');
    const etag = `"${first.json.hash}"`;
    const puts = await Promise.all(Array.from({ length: 30 }, (_, i) => call(all[i % 3]!, 'PUT', '/api/state/cas', `w${i}`, { 'if-match': etag })));
    t.same(puts.map((p) => p.status).sort(), [200, ...Array(29).fill(412)], 'one If-Match write wins, 29 get 412');
    t.equal((await call(all[2]!, 'GET', '/api/state/cas')).headers.get('x-koor-version'), '2');

    const agents = await Promise.all(Array.from({ length: 12 }, (_, i) => call(all[i % 3]!, 'POST', '/api/instances/register', { name: `agent-${i}` })));
    for (let round = 0; round < 3; round++) {
      t.equal((await call(all[round]!, 'POST', '/api/tasks', { project: `q${round}`, title: 'the one task' })).status, 200);
      const claims = await Promise.all(agents.map((ag, i) => call(all[(i + round) % 3]!, 'POST', '/api/tasks/claim', { project: `q${round}` }, { 'x-koor-instance': ag.json.id })));
      const won = claims.filter((c) => c.status === 200);
      t.equal(won.length, 1, `round ${round}: one claim wins`);
      t.ok(claims.every((c) => c.status === 200 || c.status === 404), 'the others find no ready task');
    }
    const leases = await Promise.all(agents.map((ag, i) => call(all[i % 3]!, 'POST', '/api/leases', { resources: ['src/**'] }, { 'x-koor-instance': ag.json.id })));
    t.equal(leases.filter((l) => l.status === 200).length, 1, 'one exclusive lease granted');
    t.equal(leases.filter((l) => l.status === 409).length, agents.length - 1, 'the others conflict');
  });

  t.test('a subscriber on one node gets every node\'s events in id order, no gap or duplicate, and resumes on another', async (t) => {
    const [a, b, c] = await nodes(t, 3);
    const sub = await subscribe(b!.url, '?pattern=load.*', auth);
    t.teardown(() => sub.ws.close());
    const N = 300;
    // Concurrent publishes on all three nodes, with a non-matching topic between.
    await Promise.all(
      Array.from({ length: N }, (_, i) => {
        const node = [a!, b!, c!][i % 3]!;
        return publish(node.url, i % 10 === 9 ? 'other.x' : 'load.x', { i }, auth);
      }),
    );
    const matching = N - N / 10;
    await sub.waitFor(matching, 20_000);
    const ids = sub.events.map((e) => e.id);
    t.equal(ids.length, matching, 'every matching event, once');
    t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'in id order');
    const history = await call(a!, 'GET', `/api/events/history?topic=load.*&last=1000`);
    t.same(ids, history.json.map((e: { id: number }) => e.id).reverse(), 'exactly the stored matching events');
    // Resume on another node from the middle.
    const mid = ids[Math.floor(ids.length / 2)]!;
    const again = await subscribe(c!.url, `?pattern=load.*&since=${mid}`, auth);
    t.teardown(() => again.ws.close());
    const rest = ids.filter((id) => id > mid);
    await again.waitFor(rest.length, 20_000);
    await publish(a!.url, 'load.after', {}, auth);
    await again.waitFor(rest.length + 1, 10_000);
    t.same(again.events.slice(0, rest.length).map((e) => e.id), rest, 'replay from since= on another node');
    t.ok(again.events[rest.length]!.id > ids[ids.length - 1]!, 'the live event after the replay');
  });

  t.test('a resume past what this node has fanned out gets no repeat and no older item as live', async (t) => {
    const database = await freshDatabase(pg, 'nodes');
    const s = await startTestServer(t, { database, authToken: TOKEN });
    const sql = postgres(database, { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end());
    // Another node's commit this node's feed has not read yet: stored straight into the log with
    // no notification, so the feed only finds it when it next reads (its poll, or the next write).
    const elsewhere = (counter: string, insert: (id: number, tx: postgres.TransactionSql) => Promise<unknown>) =>
      sql.begin(async (tx) => {
        const [c] = await tx<{ id: number }[]>`UPDATE koor_counters SET value = value + 1 WHERE name = ${counter} RETURNING value AS id`;
        await insert(c!.id, tx);
        return c!.id;
      });

    // Events: the subscriber saw `unread` on another node and resumes here from it.
    await publish(s.url, 'first', 1, auth);
    const unread = await elsewhere('events', (id, tx) => tx`INSERT INTO events (id, topic, data, source, created_at) VALUES (${id}, 'other.node', '2', '', ${new Date().toISOString()})`);
    const sub = await subscribe(s.url, `?since=${unread}`, auth);
    t.teardown(() => sub.ws.close());
    const next = await publish(s.url, 'after', 3, auth);
    await sub.waitFor(1);
    t.same(
      sub.events.map((e) => e.id),
      [next.id],
      'the event it named is not sent again',
    );

    // State watches: the feed is live (another watcher), the watcher resumes from `unseen`.
    const other = await watch(s.url, '/api/state/watch?prefix=', auth);
    t.teardown(() => other.ws.close());
    t.equal((await call(s, 'PUT', '/api/state/a', 'x', { 'content-type': 'text/plain' })).status, 200);
    await other.waitFor(1);
    const unseen = await elsewhere('state_changes', (id, tx) => tx`INSERT INTO state_changes (id, topic, type, version, hash) VALUES (${id}, 's:b', 'put', 1, '')`);
    const w = await watch(s.url, `/api/state/watch?prefix=&since_revision=${unseen}`, auth);
    t.teardown(() => w.ws.close());
    t.equal(w.headers['x-koor-revision'], String(unseen), 'the upgrade says the newest committed revision');
    const put = await call(s, 'PUT', '/api/state/c', 'y', { 'content-type': 'text/plain' });
    await w.waitFor(1);
    t.same(
      w.changes.map((c) => c.revision),
      [put.json.revision],
      'the change it named is not sent again',
    );
  });

  t.test('an agent registered on one node is known everywhere; deregistered, its token fails everywhere', async (t) => {
    const [a, b, c] = await nodes(t, 3);
    const reg = await call(a!, 'POST', '/api/instances/register', { name: 'roamer' });
    const own = { authorization: `Bearer ${reg.json.token}` };
    const onB = await fetch(`${b!.url}/api/state/x`, { method: 'PUT', body: 'by roamer', headers: own });
    t.equal(onB.status, 200, 'its token works on another node at once');
    const audit = await call(c!, 'GET', '/api/audit?limit=5');
    t.ok(JSON.stringify(audit.json).includes(reg.json.id), 'attributed to it on the third');
    t.equal((await call(c!, 'DELETE', `/api/instances/${reg.json.id}`)).status, 200);
    for (const node of [a!, b!, c!]) {
      await waitUntil('the deregistration reached every node', async () => (await fetch(`${node.url}/api/state/x`, { headers: own })).status === 401, 5000);
    }
    t.pass('401 on every node');
  });

  t.test('the background jobs run on one node and move when it stops', async (t) => {
    const all = await nodes(t, 3, { livenessIntervalMs: 200, livenessTimeoutMs: 1000 });
    const leader = await waitUntil('a leader', () => {
      const leaders = all.filter((n) => n.cluster?.isLeader);
      return leaders.length === 1 ? leaders[0] : undefined;
    }, 15_000);
    t.equal(all.filter((n) => n.cluster?.isLeader).length, 1, 'exactly one leader');
    const m = await call(leader!, 'GET', '/metrics');
    t.match(m.text, /koor_cluster_leader 1/, 'the leader says so in its metrics');
    const reg = await call(all[0]!, 'POST', '/api/instances/register', { name: 'sleepy' });
    await call(all[1]!, 'POST', `/api/instances/${reg.json.id}/activate`);
    const watcher = all.find((n) => n !== leader)!;
    const sub = await subscribe(watcher.url, '?pattern=agent.stale', auth);
    t.teardown(() => sub.ws.close());
    await sub.waitFor(1, 10_000);
    t.equal(sub.events.length, 1, 'one agent.stale, from the one liveness monitor');
    // The leader stops: another node takes the jobs over.
    await leader!.close();
    const rest = all.filter((n) => n !== leader);
    const next = await waitUntil('a new leader', () => rest.find((n) => n.cluster?.isLeader), 15_000);
    t.ok(next, 'another node leads');
    const reg2 = await call(watcher, 'POST', '/api/instances/register', { name: 'sleepy-2' });
    await call(rest[1]!, 'POST', `/api/instances/${reg2.json.id}/activate`);
    await sub.waitFor(2, 10_000);
    await new Promise((r) => setTimeout(r, 600));
    t.equal(sub.events.length, 2, 'the new leader marks the next one stale, once');
    t.equal(rest.filter((n) => n.cluster?.isLeader).length, 1, 'still one leader');
  });
}
