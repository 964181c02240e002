import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { freshDatabase, filePostgres } from '../helpers/postgres.js';
import { runServer, spawnServer, startTestServer, tempDir } from '../helpers/server.js';
import { subscribe } from '../helpers/ws.js';
import { runCli } from '../cli/helpers.js';
import { startReceiver } from '../helpers/receiver.js';
import { waitUntil } from '../helpers/wait.js';
import { openPg } from '../../src/shared/pg.js';

/**
 * Moving data between the two stores: `--migrate-from data.db` copies a SQLite data
 * file into an empty PostgreSQL and serves it; a backup taken in cluster mode is the SQLite
 * snapshot format and restores into a SQLite server; a live restore in cluster mode replaces the
 * database under every node, whose subscribers resume on the restored log. Each time, the same
 * reads answer the same bytes on both sides.
 */
const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`store copies: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());

  const send = (url: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${p}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });

  /** A bit of every domain, through the API. */
  async function populate(url: string): Promise<void> {
    for (let v = 1; v <= 3; v++) await send(url, 'PUT', '/api/state/config/app', `{"v":${v}}`, { 'content-type': 'application/json' });
    await send(url, 'PUT', '/api/state/bin', Buffer.from([0, 1, 2, 255]) as unknown as string, { 'content-type': 'application/octet-stream' });
    await send(url, 'PUT', '/api/specs/proj/api', { openapi: '3.1', n: 1.5 });
    await send(url, 'PUT', '/api/validate/proj/rules', [{ rule_id: 'no-todo', severity: 'error', match_type: 'regex', pattern: 'TODO', message: 'no TODOs' }]);
    const agent = (await (await send(url, 'POST', '/api/instances/register', { name: 'copier', capabilities: ['go'] })).json()) as { id: string };
    await send(url, 'POST', `/api/instances/${agent.id}/activate`);
    for (let i = 0; i < 5; i++) await send(url, 'POST', '/api/events/publish', { topic: `copy.e${i}`, data: { i } });
    await send(url, 'POST', '/api/tasks', { project: 'proj', title: 'first', priority: 2 });
    await send(url, 'POST', '/api/tasks', { project: 'proj', title: 'second' });
    await send(url, 'POST', '/api/tasks/claim', { project: 'proj' }, { 'x-koor-instance': agent.id });
    await send(url, 'POST', '/api/leases', { resources: ['src/**'], ttl: '1h', reason: 'copy test' }, { 'x-koor-instance': agent.id });
    await send(url, 'POST', '/api/webhooks', { id: 'hook', url: 'http://127.0.0.1:9/x', patterns: ['copy.*'] });
    await send(url, 'POST', '/api/templates', { id: 'tpl', name: 'T', description: 'd', kind: 'rules', data: [{ a: 1 }], tags: ['x'] });
  }

  const READS = ['/api/state', '/api/state/config/app', '/api/state/config/app?history=1', '/api/state/config/app?version=1', '/api/state/bin', '/api/specs/proj', '/api/specs/proj/api', '/api/validate/proj/rules', '/api/instances', '/api/events/history?last=100', '/api/tasks?project=proj', '/api/leases', '/api/webhooks', '/api/templates', '/api/audit?limit=100', '/api/llm/usage'];
  async function answers(url: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const p of READS) {
      const r = await fetch(`${url}${p}`);
      out[p] = `${r.status} ${r.headers.get('etag') ?? ''} ${r.headers.get('x-koor-version') ?? ''} ${Buffer.from(await r.arrayBuffer()).toString('base64')}`;
    }
    return out;
  }
  const newestEvent = async (url: string): Promise<number> => ((await (await fetch(`${url}/api/events/history?last=1`)).json()) as Array<{ id: number }>)[0]!.id;
  /** The store-wide revision of a state write (its X-Koor-Revision). */
  const putRevision = async (url: string, key: string): Promise<number> => Number((await send(url, 'PUT', `/api/state/${key}`, '{}', { 'content-type': 'application/json' })).headers.get('x-koor-revision'));
  const compare = (t: Tap.Test, a: Record<string, string>, b: Record<string, string>, what: string) => {
    for (const p of READS) t.equal(b[p], a[p], `${what}: ${p}`);
  };

  t.test('--migrate-from: a SQLite data file into an empty PostgreSQL, served alike', async (t) => {
    const dataDir = tempDir(t);
    const sqliteServer = await startTestServer(t, { dataDir });
    await populate(sqliteServer.url);
    const revision = await putRevision(sqliteServer.url, 'rev/a');
    const before = await answers(sqliteServer.url);
    const newest = await newestEvent(sqliteServer.url);
    await sqliteServer.close();
    const database = await freshDatabase(pg, 'copy');
    const node = await spawnServer(['--database', database, '--migrate-from', path.join(dataDir, 'data.db')]);
    t.teardown(() => node.child.kill('SIGKILL'));
    compare(t, before, await answers(node.url), 'after the migration');
    // Ids continue where the file's left off.
    const e = (await (await send(node.url, 'POST', '/api/events/publish', { topic: 'copy.next' })).json()) as { id: number };
    t.equal(e.id, newest + 1, 'the next event id');
    const task = (await (await send(node.url, 'POST', '/api/tasks', { project: 'proj', title: 'third' })).json()) as { id: number };
    t.equal(task.id, 3, 'the next task id');
    t.equal(await putRevision(node.url, 'rev/b'), revision + 1, 'the next state revision');
    // Once more into the same (now full) database: refused, nothing changed.
    const again = await runServer(['--database', database, '--migrate-from', path.join(dataDir, 'data.db'), '--bind', '127.0.0.1:0', '--dashboard-bind', ''], { timeoutMs: 30_000 });
    t.equal(again.code, 1, 'a second migration exits 1');
    t.match(again.stderr, /already holds koor data/, 'and says why');
    const none = await runServer(['--migrate-from', path.join(dataDir, 'data.db')]);
    t.equal(none.code, 2, 'without --database: a usage error');
    t.match(none.stderr, /--migrate-from copies into PostgreSQL/);
  });

  t.test('a backup in cluster mode is a SQLite snapshot a SQLite server restores and serves alike', async (t) => {
    const database = await freshDatabase(pg, 'copy');
    const node = await startTestServer(t, { database });
    await populate(node.url);
    const revision = await putRevision(node.url, 'rev/a');
    const fromCluster = await answers(node.url);
    const newest = await newestEvent(node.url);
    const r = await fetch(`${node.url}/api/admin/backup`);
    t.equal(r.status, 200);
    t.equal(r.headers.get('x-koor-state-keys'), '3', 'the snapshot counts its keys');
    const dir = tempDir(t);
    const file = path.join(dir, 'backup.db');
    fs.writeFileSync(file, Buffer.from(await r.arrayBuffer()));
    const target = tempDir(t);
    const restored = await runServer(['--restore', file, '--data-dir', target], { timeoutMs: 30_000 });
    t.equal(restored.code, 0, restored.stderr);
    const s = await startTestServer(t, { dataDir: target });
    compare(t, fromCluster, await answers(s.url), 'restored on SQLite');
    const e = (await (await send(s.url, 'POST', '/api/events/publish', { topic: 'copy.next' })).json()) as { id: number };
    t.equal(e.id, newest + 1, 'event ids continue on SQLite too');
    t.equal(await putRevision(s.url, 'rev/b'), revision + 1, 'state revisions too (SQLite: from the newest change copied)');
  });

  t.test('a live restore in cluster mode replaces the data under every node; subscribers resume on it', async (t) => {
    const database = await freshDatabase(pg, 'copy');
    // Node a stages the upload in its OS temp dir (read when its backend is made): a dir of our own.
    const staging = tempDir(t);
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = staging;
    const a = await startTestServer(t, { database }).finally(() => {
      if (tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmp;
    });
    const b = await startTestServer(t, { database });
    await populate(a.url);
    const snapshot = Buffer.from(await (await fetch(`${a.url}/api/admin/backup`)).arrayBuffer());
    const atBackup = await answers(b.url);
    const newest = await newestEvent(b.url);
    // Changes after the backup, which the restore undoes.
    for (let i = 0; i < 3; i++) await send(a.url, 'POST', '/api/events/publish', { topic: 'copy.later' });
    await send(a.url, 'PUT', '/api/state/config/app', '{"v":4}');
    await send(b.url, 'DELETE', '/api/specs/proj/api');
    const handed = await newestEvent(b.url);
    const handedRevision = await putRevision(a.url, 'rev/undone');
    const sub = await subscribe(b.url, '?pattern=copy.*');
    const closed = sub.closed;
    // Through koor-cli, as a user restores (it uploads the snapshot to POST /api/admin/restore).
    const file = path.join(tempDir(t), 'snapshot.db');
    fs.writeFileSync(file, snapshot);
    const cli = await runCli(['restore', '--file', file], { env: { KOOR_SERVER: a.url } });
    t.equal(cli.code, 0, cli.stderr);
    t.match(cli.stdout, new RegExp(`restore complete from .*\\n  state keys: 2\\n(.|\\n)*events: ${newest}\\n`), 'the CLI prints what the snapshot holds');
    t.equal((await closed).code, 1012, 'subscribers on the other node are told to resume');
    compare(t, atBackup, await answers(b.url), 'the other node serves the restored data');
    compare(t, atBackup, await answers(a.url), 'and so does the restoring node');
    t.same(fs.readdirSync(staging).filter((f) => f.startsWith('restore-')), [], 'the staged upload is gone, -wal and -shm too');
    // A subscriber resumes after the last id it saw, which the restore undid (handed).
    const again = await subscribe(b.url, `?pattern=copy.*&since=${handed}`);
    t.teardown(() => again.ws.close());
    const e = (await (await send(a.url, 'POST', '/api/events/publish', { topic: 'copy.after' })).json()) as { id: number };
    t.equal(e.id, handed + 1, 'ids go on after those the replaced data handed out, not from the backup: none is handed out twice');
    await again.waitFor(1, 10_000);
    t.equal(again.events[0]!.id, handed + 1, 'live delivery on the other node continues on the restored log');
    const live = await subscribe(b.url, '?pattern=copy.*');
    t.teardown(() => live.ws.close());
    for (let i = 0; i < 4; i++) await send(a.url, 'POST', '/api/events/publish', { topic: 'copy.live' });
    await live.waitFor(4, 10_000);
    t.same(live.events.map((x) => x.id), [handed + 2, handed + 3, handed + 4, handed + 5], 'every later event, live, in order');
    t.equal(await putRevision(b.url, 'rev/after'), handedRevision + 1, 'state revisions go on after the replaced ones too');
  });

  t.test("a restore whose notification a node never got is seen all the same: the counter decides", async (t) => {
    const database = await freshDatabase(pg, 'missed');
    const b = await startTestServer(t, { database });
    const sub = await subscribe(b.url, '?pattern=copy.*');
    const closed = sub.closed;
    // What a restore leaves behind, without its notification (sent while the node's LISTEN
    // connection was down, it is never delivered).
    const sql = openPg(database, { max: 1, name: 'koor-test' });
    t.teardown(() => sql.end({ timeout: 1 }));
    await sql`UPDATE koor_counters SET value = value + 1 WHERE name = 'restores'`;
    const outcome = await Promise.race([closed.then((c) => c.code), new Promise<string>((r) => setTimeout(() => r('still open after 10 s'), 10_000))]);
    t.equal(outcome, 1012, 'subscribers told to resume within the check interval');
  });

  t.test('after a live restore, webhooks deliver the restored log from their restored cursors', async (t) => {
    const database = await freshDatabase(pg, 'copy');
    const node = await startTestServer(t, { database });
    const copies = await startReceiver(t);
    const others = await startReceiver(t);
    await send(node.url, 'POST', '/api/webhooks', { id: 'copies', url: copies.url, patterns: ['copy.*'] });
    await send(node.url, 'POST', '/api/webhooks', { id: 'others', url: others.url, patterns: ['other.*'] });
    const delivered = async (id: string) => ((await (await fetch(`${node.url}/api/webhooks`)).json()) as Array<{ id: string; delivered: number }>).find((w) => w.id === id)!.delivered;
    await send(node.url, 'POST', '/api/events/publish', { topic: 'copy.first' });
    await waitUntil('the first delivery settled', async () => (await delivered('copies')) === 1);
    const snapshot = path.join(tempDir(t), 'snapshot.db');
    fs.writeFileSync(snapshot, Buffer.from(await (await fetch(`${node.url}/api/admin/backup`)).arrayBuffer()));
    const newest = await newestEvent(node.url);
    // Read past by both webhooks, then undone by the restore: 'others' had nothing in them.
    for (let i = 0; i < 3; i++) await send(node.url, 'POST', '/api/events/publish', { topic: 'copy.later' });
    // It timed out once in a loaded full run (not reproduced alone): a recurrence says what the
    // webhook and its receiver had then.
    await waitUntil('the later events settled', async () => (await delivered('copies')) === 4).catch(async (e: Error) => {
      const hooks = await (await fetch(`${node.url}/api/webhooks`)).text();
      throw new Error(`${e.message}; webhooks ${hooks}; receiver got ${JSON.stringify(copies.got.map((d) => [d.status, (d.json as { topic?: string } | null)?.topic]))}`);
    });
    const cli = await runCli(['restore', '--file', snapshot], { env: { KOOR_SERVER: node.url } });
    t.equal(cli.code, 0, cli.stderr);
    // The restored log's next ids go on after the undone events' (none is handed out twice).
    const other = (await (await send(node.url, 'POST', '/api/events/publish', { topic: 'other.x' })).json()) as { id: number };
    const copy = (await (await send(node.url, 'POST', '/api/events/publish', { topic: 'copy.after' })).json()) as { id: number };
    t.same([other.id, copy.id], [newest + 4, newest + 5]);
    const got = (rx: typeof copies, topic: string) => rx.ok().find((d) => d.json?.topic === topic)?.json as { event_id: number } | undefined;
    t.equal((await waitUntil('other.x delivered', () => got(others, 'other.x'))).event_id, newest + 4, 'a webhook whose restored cursor is behind the undone ids gets the new ones');
    t.equal((await waitUntil('copy.after delivered', () => got(copies, 'copy.after'))).event_id, newest + 5, 'and one that had had events there');
    await waitUntil('the run settled', async () => (await delivered('copies')) === 2);
    t.same(copies.ok().map((d) => (d.json as { topic: string }).topic), ['copy.first', 'copy.later', 'copy.later', 'copy.later', 'copy.after'], 'nothing twice, nothing skipped');
  });
}
