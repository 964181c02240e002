import t from 'tap';
import { json, startTestServer, tempDir } from '../helpers/server.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import { waitUntil } from '../helpers/wait.js';

type Headers = Record<string, string>;
const LEASE_KEYS = ['acquired_at', 'exclusive', 'expires_at', 'fence', 'holder', 'holder_name', 'id', 'project', 'reason', 'resources'];

function client(base: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Headers = {}) => {
    const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : (Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) as unknown as BodyInit) });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text) };
  };
  const register = async (name: string) => (await call('POST', '/api/instances/register', { name })).body as { id: string; name: string; token: string };
  return { call, register, as: (id: string): Headers => ({ 'x-koor-instance': id }) };
}

t.test('leases: identity, shapes, all-or-nothing, conflicts decided on the globs', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const alice = await register('alice');
  const bob = await register('bob');

  // Identity is required: the header or the instance token.
  t.same(await call('POST', '/api/leases', { resources: ['src/**'] }), { status: 400, body: { error: 'lease requires an agent identity', code: 400 } });
  t.same(await call('POST', '/api/leases', { resources: ['src/**'] }, { 'x-koor-instance': 'not-an-agent' }), { status: 400, body: { error: 'lease requires an agent identity', code: 400 } });
  for (const [body, error] of [
    [{}, 'resources is required'],
    [{ resources: [] }, 'resources is required'],
    [{ resources: ['src/['] }, 'invalid pattern: src/['],
    [{ resources: [''] }, 'resource must not be empty'],
    // Written as shell paths, these covered no file the hooks or the pre-commit guard check.
    [{ resources: ['./docs/**'] }, './docs/**: lease paths have no ./ or // (docs/**)'],
    [{ resources: ['src//a.ts'] }, 'src//a.ts: lease paths have no ./ or // (src/a.ts)'],
    [{ resources: ['/lib/**'] }, '/lib/**: lease paths are relative to the repository root (lib/**)'],
    [{ resources: ['../other/x.ts'] }, '../other/x.ts: lease paths are relative to the repository root, without ..'],
    [{ resources: ['src/api/'] }, "src/api/: a trailing / matches no file; a directory's files are src/api/**"],
    [{ resources: 'src/**' }, 'resources: expected array'],
    [{ resources: ['a'], exclusive: 'yes' }, 'exclusive: expected boolean'],
    [{ resources: ['a'], ttl: 'soon' }, 'invalid ttl "soon": expected a duration like 500ms, 60s, 5m'],
    [{ resources: ['a'], ttl: 0.5 }, 'ttl must be at least 1s'],
    [{ resources: ['a'], ttl: '200h' }, 'ttl must be at most 168h'],
    [{ resources: Array.from({ length: 101 }, (_, i) => `f${i}`) }, 'too many resources: 101 (max 100)'],
  ] as const) {
    t.same(await call('POST', '/api/leases', body, as(alice.id)), { status: 400, body: { error: error, code: 400 } }, error);
  }
  t.equal((await call('POST', '/api/leases', '{"resources":', as(alice.id))).status, 400, 'malformed JSON');

  const a1 = await call('POST', '/api/leases', { resources: ['src/**/*.ts'], reason: 'refactor the API' }, as(alice.id));
  t.equal(a1.status, 200);
  t.same(Object.keys(a1.body).sort(), LEASE_KEYS);
  t.match(a1.body, { holder: alice.id, holder_name: 'alice', resources: ['src/**/*.ts'], exclusive: true, reason: 'refactor the API', expires_at: '' });
  t.match(a1.body.acquired_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // A UUID in time order (version 7): a later lease's id sorts after an earlier one's.
  t.match(a1.body.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.equal((await call('GET', `/api/instances/${alice.id}`)).body.status, 'active', 'taking a lease is a sign of life: pending → active');

  // Overlap both ways, decided on the globs: all or nothing.
  const c = await call('POST', '/api/leases', { resources: ['docs/readme.md', 'src/api/x.*'] }, as(bob.id));
  t.same(c, { status: 409, body: { error: 'lease conflict: src/api/x.* held by alice', code: 409, conflicts: [a1.body] } });
  t.same((await call('GET', '/api/leases/check?path=docs/readme.md')).body, [], 'nothing of the refused request was taken');
  const b1 = await call('POST', '/api/leases', { resources: ['docs/*'] }, as(bob.id));
  t.equal(b1.status, 200, 'docs/* and src/** do not overlap');
  t.equal((await call('POST', '/api/leases', { resources: ['docs/readme.md'] }, as(alice.id))).body.error, 'lease conflict: docs/readme.md held by bob', 'the other way round');
  t.equal((await call('POST', '/api/leases', { resources: ['src/main.ts', 'src/**'] }, as(alice.id))).status, 200, "a holder's own leases never conflict");

  // Shared leases coexist; an exclusive request overlapping a shared one does not.
  const shared = await call('POST', '/api/leases', { resources: ['lib/**'], exclusive: false }, as(bob.id));
  t.equal(shared.body.exclusive, false);
  t.equal((await call('POST', '/api/leases', { resources: ['lib/a.ts'], exclusive: false }, as(alice.id))).status, 200, 'shared + shared');
  const ex = await call('POST', '/api/leases', { resources: ['lib/b.ts'] }, as(alice.id));
  t.same([ex.status, ex.body.conflicts.map((l: any) => l.id)], [409, [shared.body.id]], 'exclusive over shared');

  // Who holds a file: one path, or many at once (what the pre-commit guard sends).
  t.same((await call('GET', '/api/leases/check?path=src/api/x.ts')).body.map((l: any) => l.holder_name), ['alice', 'alice']);
  t.same((await call('GET', '/api/leases/check?path=README.md')).body, []);
  t.same(await call('GET', '/api/leases/check'), { status: 400, body: { error: 'path is required', code: 400 } });
  const many = await call('POST', '/api/leases/check', { paths: ['docs/a.md', 'nothing.txt', 'lib/a.ts'] });
  t.same(many.body.map((h: any) => [h.path, h.leases.map((l: any) => l.holder_name)]), [['docs/a.md', ['bob']], ['lib/a.ts', ['bob', 'alice']]]);

  // Lists: all, by holder, by resource (leases overlapping a glob).
  t.equal((await call('GET', '/api/leases')).body.length, 5);
  t.same((await call('GET', `/api/leases?holder=${bob.id}`)).body.map((l: any) => l.resources), [['docs/*'], ['lib/**']]);
  t.same((await call('GET', '/api/leases?resource=src/api/**')).body.map((l: any) => l.resources), [['src/**/*.ts'], ['src/main.ts', 'src/**']]);
  t.same((await call('GET', '/api/leases?resource=lib/*.md')).body.map((l: any) => l.id), [shared.body.id]);
  t.same(await call('GET', '/api/leases?resource=[x'), { status: 400, body: { error: 'invalid pattern: [x', code: 400 } });
  t.same(await call('GET', `/api/leases/${a1.body.id}`), { status: 200, body: a1.body });
  t.same(await call('GET', '/api/leases/nope'), { status: 404, body: { error: 'lease not found: nope', code: 404 } });

  // Renew and release: the holder only.
  t.same(await call('POST', `/api/leases/${a1.body.id}/renew`, undefined, as(bob.id)), { status: 403, body: { error: `lease ${a1.body.id} is held by alice`, code: 403 } });
  const renewed = await call('POST', `/api/leases/${a1.body.id}/renew`, { ttl: '1h' }, as(alice.id));
  t.equal(renewed.status, 200);
  t.ok(Date.parse(renewed.body.expires_at) > Date.now() + 3_500_000, `a TTL of 1h: expires ${renewed.body.expires_at}`);
  t.equal((await call('POST', `/api/leases/${a1.body.id}/renew`, undefined, as(alice.id))).status, 200, 'renew without a body keeps the TTL');
  t.equal((await call('POST', `/api/leases/${a1.body.id}/renew`, { ttl: null }, as(alice.id))).body.expires_at, '', 'ttl null drops the TTL');
  t.same(await call('DELETE', `/api/leases/${a1.body.id}`, undefined, as(bob.id)), { status: 403, body: { error: `lease ${a1.body.id} is held by alice`, code: 403 } });
  t.same(await call('DELETE', `/api/leases/${a1.body.id}`), { status: 400, body: { error: 'lease requires an agent identity', code: 400 } });
  t.same(await call('DELETE', `/api/leases/${a1.body.id}`, undefined, { authorization: `Bearer ${alice.token}` }), { status: 200, body: { released: a1.body.id } }, 'the instance token identifies too');
  t.same(await call('DELETE', `/api/leases/${a1.body.id}`, undefined, as(alice.id)), { status: 404, body: { error: `lease not found: ${a1.body.id}`, code: 404 } });
  t.equal((await call('POST', '/api/leases', { resources: ['src/api/x.ts'] }, as(bob.id))).status, 409, "alice's second lease (src/**) still holds src/");

  const released = (await call('GET', '/api/events/history?topic=lease.released')).body;
  t.same(released.map((e: any) => [e.source, e.data]), [['leases', { id: a1.body.id, holder: alice.id, holder_name: 'alice', resources: ['src/**/*.ts'], exclusive: true, reason: 'released', project: '' }]]);
  // Every lease taken is announced too (newest first in history), conflicts are not.
  const acquired = (await call('GET', '/api/events/history?topic=lease.acquired')).body;
  t.same(acquired.at(-1).data, { id: a1.body.id, holder: alice.id, holder_name: 'alice', resources: ['src/**/*.ts'], exclusive: true, reason: a1.body.reason, project: '' });
  t.equal(acquired.length, (await call('GET', '/api/audit?action=lease.acquire')).body.length, 'one lease.acquired per lease taken');
  const audit = (await call('GET', '/api/audit?action=lease.acquire')).body;
  t.ok(audit.length >= 5 && audit.every((e: any) => e.actor === 'alice' || e.actor === 'bob'), 'acquisitions are audited with the agent as actor');
  t.same((await call('GET', '/api/audit?action=lease.release')).body.map((e: any) => [e.actor, e.resource]), [['alice', a1.body.id]]);
  t.equal((await call('PUT', '/api/leases')).status, 405);
  const metrics = parsePrometheus(await (await fetch(`${s.url}/metrics`)).text());
  t.equal(valueOf(metrics, 'koor_leases'), (await call('GET', '/api/leases')).body.length, 'the koor_leases gauge counts the live leases');
});

/** [held by alice (shared), requested by bob (exclusive), conflict?] — through the lease index. */
const OVERLAP: Array<[string, string, boolean]> = [
  ['src/**/*.ts', 'src/api/x.*', true],
  ['docs/*', 'src/*', false],
  ['src/*', 'src/a/b.ts', false],
  ['src/**', 'src/a/b.ts', true],
  ['*.ts', 'src/a.ts', false],
  ['**/*.ts', 'src/a.ts', true],
  ['src/**/*.ts', 'src/a.js', false],
  ['src/a*', 'src/*b', true],
  ['src/[ab].ts', 'src/[bc].ts', true],
  ['src/[a].ts', 'src/[b].ts', false],
  ['src/x', 'src/x', true],
  ['src/x', 'src/xy', false],
  ['src/xy', 'src/x', false],
  ['**', 'any/thing', true],
  ['a*b*c', 'a*c*b', false],
  ['src/api/**', 'src/**/*.go', true],
];

t.test('the overlap table, through HTTP and the lease index', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const alice = await register('alice');
  const bob = await register('bob');
  const carol = await register('carol');
  // Unrelated leases around (overlapping none of the requests), so the index has neighbours to skip.
  for (const r of ['a', 'src', 'sr/c', 'src/ab/c.ts', 'srcx/**', 'src/api/zz', 'z/**']) t.equal((await call('POST', '/api/leases', { resources: [r], exclusive: false }, as(carol.id))).status, 200);
  for (const [held, asked, conflict] of OVERLAP) {
    const h = await call('POST', '/api/leases', { resources: [held], exclusive: false }, as(alice.id));
    t.equal(h.status, 200, `alice takes ${held}`);
    const r = await call('POST', '/api/leases', { resources: [asked] }, as(bob.id));
    if (conflict) t.same([r.status, r.body.conflicts?.map((l: any) => l.id)], [409, [h.body.id]], `${held} blocks ${asked}`);
    else t.equal(r.status, 200, `${held} leaves ${asked} free`);
    await call('DELETE', `/api/leases/${h.body.id}`, undefined, as(alice.id));
    if (r.status === 200) await call('DELETE', `/api/leases/${r.body.id}`, undefined, as(bob.id));
  }
});

t.test('liveness: leases end when the holder is deregistered or goes stale; a TTL is renewed by heartbeats', async (t) => {
  const s = await startTestServer(t, { livenessTimeoutMs: 1000, livenessIntervalMs: 3_600_000 });
  const { call, register, as } = client(s.url);
  const ghost = await register('ghost');
  const gone = await register('gone');
  const other = await register('other');
  const g = await call('POST', '/api/leases', { resources: ['app/**'] }, as(ghost.id));
  const d = await call('POST', '/api/leases', { resources: ['lib/x.ts'] }, as(gone.id));
  t.equal((await call('POST', '/api/leases', { resources: ['app/main.ts'] }, as(other.id))).status, 409);

  // Deregistered: released in the same write, with an event saying why.
  t.equal((await call('DELETE', `/api/instances/${gone.id}`)).status, 200);
  t.same((await call('GET', `/api/leases?holder=${gone.id}`)).body, []);
  t.equal((await call('POST', '/api/leases', { resources: ['lib/x.ts'] }, as(other.id))).status, 200, 'free at once');

  // Stale (1 s timeout, 1 s precision of last_seen): the liveness pass releases it. `other`
  // heartbeats meanwhile and keeps its lease.
  await waitUntil('ghost to go stale', async () => {
    await call('POST', `/api/instances/${other.id}/heartbeat`);
    const c = await call('POST', '/api/liveness/check');
    return c.body.newly_stale.some((i: any) => i.id === ghost.id);
  });
  t.same((await call('GET', '/api/leases')).body.map((l: any) => l.holder_name), ['other'], "ghost's lease is gone, other's stays");
  const ev = (await call('GET', '/api/events/history?since=0')).body.filter((e: any) => e.topic === 'agent.stale' || e.topic === 'lease.released');
  t.same(
    ev.map((e: any) => [e.topic, e.data.id ?? e.data.instance_id, e.data.reason ?? '']),
    [
      ['lease.released', d.body.id, 'deregistered'],
      ['agent.stale', ghost.id, ''],
      ['lease.released', g.body.id, 'stale'],
    ],
    'agent.stale first, then what it held, in one transaction',
  );
  t.equal((await call('POST', '/api/leases', { resources: ['app/main.ts'] }, as(other.id))).status, 200, 'the stale holder no longer blocks anyone');

  // A heartbeat pushes the expiry of the holder's TTL leases.
  const ttl = await call('POST', '/api/leases', { resources: ['ttl/**'], ttl: '1h' }, as(other.id));
  // Past the next second with room to spare: a cluster node's data clock may trail this process's by some ms.
  await waitUntil('the next second', () => Date.now() >= Date.parse(ttl.body.expires_at) - 3_600_000 + 1500);
  await call('POST', `/api/instances/${other.id}/heartbeat`);
  const after = (await call('GET', `/api/leases/${ttl.body.id}`)).body;
  t.ok(after.expires_at > ttl.body.expires_at, `heartbeat renewed it: ${ttl.body.expires_at} → ${after.expires_at}`);
});

t.test('TTL expiry releases the lease with reason "expired"', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const a = await register('short');
  const l = await call('POST', '/api/leases', { resources: ['tmp/**'], ttl: 1 }, as(a.id));
  t.not(l.body.expires_at, '');
  await waitUntil('the lease to expire', async () => (await call('GET', `/api/leases/${l.body.id}`)).status === 404);
  const ev = await waitUntil('lease.released', async () => (await call('GET', '/api/events/history?topic=lease.released')).body[0]);
  t.same([ev.data.id, ev.data.reason], [l.body.id, 'expired']);
  t.same((await call('GET', '/api/leases')).body, []);
});

t.test('leases survive a restart and keep blocking', async (t) => {
  const dataDir = tempDir(t);
  const s1 = await startTestServer(t, { dataDir });
  const c1 = client(s1.url);
  const a = await c1.register('keeper');
  const b = await c1.register('visitor');
  const l = (await c1.call('POST', '/api/leases', { resources: ['core/**'], reason: 'migration' }, c1.as(a.id))).body;
  await s1.close();
  const s2 = await startTestServer(t, { dataDir });
  const c2 = client(s2.url);
  t.same((await c2.call('GET', '/api/leases')).body, [l]);
  const r = await c2.call('POST', '/api/leases', { resources: ['core/db.ts'] }, c2.as(b.id));
  t.same([r.status, r.body.error], [409, 'lease conflict: core/db.ts held by keeper']);
});
