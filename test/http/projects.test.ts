import path from 'node:path';
import t from 'tap';
import Database from 'better-sqlite3';
import postgres from 'postgres';
import { MIGRATIONS } from '../../schemas/db/sqlite-migrations.js';
import { PG_MIGRATIONS } from '../../schemas/db/pg-migrations.js';
import { migratePg } from '../../workers/writer/pg/migrate.js';
import { startTestServer, tempDir, TEST_BACKEND } from '../helpers/server.js';
import { freshDatabase, providePostgres } from '../helpers/postgres.js';
import { client as hookClient, context } from '../helpers/hook-client.js';

/**
 * One Koor for a whole LAN. Leases belong to a project (a repository): two repositories
 * with the same paths never conflict, a claim is never blocked by another repository's lease, a
 * claim finds the free task behind any number of blocked ones and says why when there is none,
 * and a data file of the format before projects migrates. Both backends.
 */

type Headers = Record<string, string>;

function client(base: string) {
  const call = async (method: string, p: string, body?: unknown, headers: Headers = {}) => {
    const r = await fetch(`${base}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text) };
  };
  const register = async (name: string, workspace = '') => (await call('POST', '/api/instances/register', { name, workspace })).body as { id: string; name: string };
  const as = (id: string): Headers => ({ 'x-koor-instance': id });
  return { call, register, as };
}

t.test('two repositories with the same paths: leases, checks, claims and lists stay in their project', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann', '/home/ann/alpha');
  const ben = await register('ben', '/srv/beta/');
  const cat = await register('cat', 'alpha');
  const lone = await register('lone');

  const a = await call('POST', '/api/leases', { resources: ['package.json', 'src/**'] }, as(ann.id));
  t.match(a, { status: 200, body: { project: 'alpha' } }, "a lease is in its holder's project (its workspace's folder)");
  const b = await call('POST', '/api/leases', { resources: ['package.json', 'src/index.ts'] }, as(ben.id));
  t.match(b, { status: 200, body: { project: 'beta' } }, "beta's package.json is not alpha's");
  t.match(await call('POST', '/api/leases', { resources: ['package.json'] }, as(cat.id)), { status: 409, body: { error: 'lease conflict: package.json held by ann', conflicts: [{ id: a.body.id }] } }, 'within alpha: a conflict');
  t.match(await call('POST', '/api/leases', { project: 'beta', resources: ['src/index.ts'] }, as(cat.id)), { status: 409, body: { error: 'lease conflict: src/index.ts held by ben' } }, 'a lease naming another project is in that one');
  t.match(await call('POST', '/api/leases', { resources: ['package.json'] }, as(lone.id)), { status: 200, body: { project: '' } }, 'an agent with no workspace: the project with no name');

  // Checks: in the caller's project, or the one named.
  const ids = (r: { body: Array<{ id: string }> }) => r.body.map((l) => l.id);
  t.same(ids(await call('GET', '/api/leases/check?path=package.json', undefined, as(ben.id))), [b.body.id], "beta's check: beta's lease only");
  t.same(ids(await call('GET', '/api/leases/check?path=src/a.ts', undefined, as(ben.id))), [], "alpha's src/** is not in beta");
  t.same(ids(await call('GET', '/api/leases/check?path=src/a.ts&project=alpha')), [a.body.id], 'a named project');
  t.same((await call('POST', '/api/leases/check', { project: 'beta', paths: ['package.json', 'src/a.ts', 'src/index.ts'] })).body.map((h: { path: string }) => h.path), ['package.json', 'src/index.ts']);
  // Lists: every project's, or one project's.
  t.equal((await call('GET', '/api/leases')).body.length, 3, 'every project');
  t.same(ids(await call('GET', '/api/leases?project=beta')), [b.body.id]);
  t.same(ids(await call('GET', '/api/leases?project=alpha&resource=src/x/**')), [a.body.id]);

  // A claim in beta is not blocked by alpha's package.json; one in alpha is, and says so.
  const betaTask = (await call('POST', '/api/tasks', { project: 'beta', title: 'deps', paths: ['package.json'] })).body;
  const alphaTask = (await call('POST', '/api/tasks', { project: 'alpha', title: 'deps', paths: ['package.json'] })).body;
  await call('DELETE', `/api/leases/${b.body.id}`, undefined, as(ben.id));
  const got = await call('POST', '/api/tasks/claim', { project: 'beta' }, as(ben.id));
  t.match(got, { status: 200, body: { id: betaTask.id, lease: { project: 'beta', resources: ['package.json'] } } }, "alpha's lease withholds nothing in beta");
  t.same(await call('POST', '/api/tasks/claim', { project: 'alpha' }, as(cat.id)), { status: 404, body: { error: 'no task ready in alpha: 1 ready task, all blocked: package.json held by ann', code: 404 } });
  // The claim's lease blocks alpha's package.json for nobody but beta.
  t.equal((await call('POST', '/api/leases', { project: 'beta', resources: ['package.json'] }, as(cat.id))).status, 409);
  t.equal((await call('GET', `/api/tasks/${alphaTask.id}`)).body.status, 'ready');

  // Bad project names: 400 naming the field, nothing stored.
  const before = (await call('GET', '/api/leases')).body.length;
  for (const [project, error] of [
    ['a/b', 'invalid project: "a/b" has a / or \\ (a project is one name, such as a repository\'s)'],
    ['..', 'invalid project: .. is not a name'],
    ['x'.repeat(129), 'project too long: 129 bytes (max 128)'],
    ['a\u0001b', 'invalid project: control characters'],
  ] as const) {
    t.same(await call('POST', '/api/leases', { project, resources: ['x.ts'] }, as(ann.id)), { status: 400, body: { error, code: 400 } }, error);
    t.equal((await call('GET', `/api/leases/check?path=x.ts&project=${encodeURIComponent(project)}`)).status, 400);
  }
  t.equal((await call('GET', '/api/leases')).body.length, before, 'nothing stored');
});

t.test('a claim finds the free task behind 300 blocked ones, and says why when all are blocked', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann', 'web');
  const ben = await register('ben', 'web');
  await call('POST', '/api/leases', { resources: ['package.json'] }, as(ben.id));
  // 300 of the best priority need package.json (created in one transaction's worth of requests), then one free task.
  for (let i = 0; i < 300; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => call('POST', '/api/tasks', { project: 'web', title: `blocked ${i + j}`, priority: 10 - ((i + j) % 3), paths: ['package.json'] })));
  }
  const free = (await call('POST', '/api/tasks', { project: 'web', title: 'free', priority: 0, paths: ['docs/**'] })).body;
  const got = await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id));
  t.match(got, { status: 200, body: { id: free.id, title: 'free' } }, 'the free task, however many are blocked before it');
  t.same(await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id)), { status: 404, body: { error: 'no task ready in web: 300 ready tasks, all blocked: package.json held by ben', code: 404 } });
  t.same(await call('POST', '/api/tasks/claim', { project: 'empty' }, as(ann.id)), { status: 404, body: { error: 'no task ready in empty', code: 404 } }, 'no ready task at all: as before');
  // The blocked ones are passed by in later claims while ben's lease lives — not by ben, whose lease it is.
  const bens = await call('POST', '/api/tasks/claim', { project: 'web' }, as(ben.id));
  t.match(bens, { status: 200, body: { title: /^blocked / } }, 'the holder of the lease claims one of them');
  const lease = (await call('GET', '/api/leases')).body.find((l: { resources: string[]; reason: string }) => l.resources[0] === 'package.json' && l.reason === '');
  t.equal((await call('DELETE', `/api/leases/${lease.id}`, undefined, as(ben.id))).status, 200);
  t.same(await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id)), { status: 404, body: { error: `no task ready in web: 299 ready tasks, all blocked: package.json held by ben (task #${bens.body.id})`, code: 404 } }, "the lease gone, ben's task holds the file");
  t.equal((await call('POST', `/api/tasks/${bens.body.id}/complete`, {}, as(ben.id))).status, 200);
  t.match(await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id)), { status: 200, body: { title: /^blocked / } }, 'and once it is done, the file is free: a task passed by before is claimed');
});

t.test('a data file from before projects: leases go to their holder’s or their task’s project', async (t) => {
  const dataDir = tempDir(t);
  const over: { dataDir: string; database?: string } = { dataDir };
  const rows: Array<[string, unknown[]]> = [];
  seedBeforeProjects((q, ...p) => rows.push([q, p]));
  if (TEST_BACKEND === 'sqlite') {
    // The schema as of version 28 (the last before leases had a project), as a server wrote it.
    const db = new Database(path.join(dataDir, 'data.db'));
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    for (const m of MIGRATIONS.filter((x) => x.version <= 28)) {
      db.exec(m.sql);
      m.run?.(db);
    }
    db.pragma('user_version = 28');
    for (const [q, p] of rows) db.prepare(q).run(...p.map((v) => (typeof v === 'boolean' ? Number(v) : v)));
    db.close();
  } else {
    const pg = await providePostgres();
    if ('skipped' in pg) return t.skip(pg.skipped);
    t.teardown(() => pg.stop());
    const url = await freshDatabase(pg, 'beforeprojects');
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await migratePg(sql, PG_MIGRATIONS.filter((m) => m.version <= 21));
    for (const [q, p] of rows) await sql.unsafe(q.replace(/\?/g, (_, i: number) => `$${q.slice(0, i).split('?').length}`), p as never[]);
    await sql.end({ timeout: 1 });
    over.database = url;
  }
  const s = await startTestServer(t, over);
  const { call, register, as } = client(s.url);
  const leases = (await call('GET', '/api/leases')).body as Array<{ id: string; project: string; resources: string[] }>;
  t.same(leases.map((l) => [l.id, l.project]).sort(), [['l-alpha', 'alpha'], ['l-hook', 'acme.shop'], ['l-task', 'web']], 'each lease in its project');
  t.equal((await call('GET', '/api/instances/i-hook')).body.workspace, 'acme.shop', "a hook session's agent: its project is its workspace");
  // The index keys moved with them: each still blocks its own project, and only it.
  const alphaPeer = await register('peer', '/x/alpha');
  const betaPeer = await register('other', '/x/beta');
  t.match(await call('POST', '/api/leases', { resources: ['package.json'] }, as(alphaPeer.id)), { status: 409, body: { conflicts: [{ id: 'l-alpha' }] } });
  t.match(await call('POST', '/api/leases', { project: 'acme.shop', resources: ['src/**'] }, as(alphaPeer.id)), { status: 409, body: { conflicts: [{ id: 'l-hook' }] } });
  t.match(await call('POST', '/api/leases', { project: 'web', resources: ['docs/a.md'] }, as(alphaPeer.id)), { status: 409, body: { conflicts: [{ id: 'l-task' }] } });
  t.equal((await call('POST', '/api/leases', { resources: ['package.json', 'src/index.ts', 'docs/a.md'] }, as(betaPeer.id))).status, 200, 'another project: all free');
  t.same((await call('GET', '/api/leases/check?path=package.json&project=alpha')).body.map((l: { id: string }) => l.id), ['l-alpha']);
  // Its agents are found by the project their workspace names: a session starting in alpha is told of them.
  const start = await hookClient(s.url).session('bfa00000-0000-4000-8000-000000000001', '/y/alpha', 'newcomer').hook('SessionStart');
  t.match(context(start), /Also working in this repository: peer, i-alpha\./, 'the agents of alpha, one from before projects among them');
  // The task's lease still ends with its task.
  await call('POST', '/api/tasks/7/complete', {}, as('i-task'));
  t.notOk(((await call('GET', '/api/leases?project=web')).body as unknown[]).length, "the task's lease ended with it");
});

/** Agents, a hook session, a claimed task and three leases as a server from before projects stored them. */
function seedBeforeProjects(run: (q: string, ...params: unknown[]) => unknown): void {
  const at = '2026-11-01 00:00:00';
  const instance = (id: string, workspace: string) =>
    run("INSERT INTO instances (id, name, workspace, intent, stack, capabilities, status, token_hash, registered_at, last_seen) VALUES (?, ?, ?, '', '', '[]', 'active', ?, ?, ?)", id, id, workspace, id.padEnd(64, '0'), at, at);
  instance('i-alpha', '/home/ann/alpha');
  instance('i-hook', '/home/bob/shop');
  instance('i-task', '');
  run("INSERT INTO hook_sessions (session_id, client, instance_id, project, repo_root, created_at, last_progress_at) VALUES ('s1', 'claude-code', 'i-hook', 'acme.shop', '/home/bob/shop', ?, ?)", at, at);
  run(
    "INSERT INTO tasks (id, project, title, status, max_attempts, created_at, updated_at, claimed_by, claimed_by_name, paths, lease_id, attempts) VALUES (7, 'web', 'docs', 'claimed', 3, ?, ?, 'i-task', 'i-task', '[\"docs/**\"]', 'l-task', 1)",
    at,
    at,
  );
  const lease = (id: string, holder: string, resource: string, prefix: string, reason: string) => {
    run("INSERT INTO leases (id, holder, holder_name, resources, exclusive, reason, ttl_ms, acquired_at, expires_ms, fence, auto) VALUES (?, ?, ?, ?, 1, ?, 0, ?, 0, 1, 0)", id, holder, holder, JSON.stringify([resource]), reason, at);
    run('INSERT INTO lease_resources (prefix, lease_id, resource) VALUES (?, ?, ?)', Buffer.from(prefix), id, resource);
  };
  lease('l-alpha', 'i-alpha', 'package.json', 'package.json', '');
  lease('l-hook', 'i-hook', 'src/**', 'src/', 'editing (auto-lease)');
  lease('l-task', 'i-task', 'docs/**', 'docs/', 'task 7');
}
