import path from 'node:path';
import t from 'tap';
import type { ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { openReader } from '../../src/backend/read-db.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { openWriterDb } from '../../workers/writer/sqlite/db.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import { tempDir } from '../helpers/server.js';
import { monoNow } from '../../src/shared/mono-clock.js';

/**
 * Idempotent writes in the writer's dispatcher (workers/writer/idempotency.ts), on both
 * of its paths: a batch that runs straight (fast) and one replayed with a savepoint per envelope
 * after a failure (guarded). The HTTP behaviour on both backends is test/http/inbox.test.ts.
 */
t.test('a key stores its first result once; a retry gets it back, replayed; another request under it is refused', async (t) => {
  const file = path.join(tempDir(t), 'data.db');
  const db = openWriterDb(file, WRITER_LIMITS);
  t.teardown(() => db.close());
  const d = createDispatcher(sqliteDriver(db));
  const read = openReader(file);
  t.teardown(() => read.close());
  let n = 1;
  const env = (topic: string, key?: string, caller = 'agent-a') => ({
    id: n++,
    method: 'events.publish',
    deadline: monoNow() + 5000,
    req: { topic, data: '{}', source: '' },
    ...(key ? { idem: { caller, key, hash: `h-${topic}` } } : {}),
  });
  const events = () => (read.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  const keys = () => (read.prepare('SELECT count(*) AS n FROM idempotency_keys').get() as { n: number }).n;

  // fast path
  const [first] = (await d.run([env('a', 'k1')])).replies as [ReplyEnvelope & { ok: true }];
  t.ok(first.ok);
  t.notOk('replayed' in first);
  const [again] = (await d.run([env('a', 'k1')])).replies as [ReplyEnvelope & { ok: true; replayed?: true }];
  t.same([again.res, again.replayed], [first.res, true], 'the stored result, marked replayed');
  t.same([events(), keys()], [1, 1]);
  const [reused] = (await d.run([env('b', 'k1')])).replies;
  t.same(reused!.ok ? null : [reused!.err.status, reused!.err.message], ['ALREADY_EXISTS', 'Idempotency-Key "k1" was already used for a different request']);
  t.same([events(), keys()], [1, 1], 'nothing stored by the refused one');
  const [other] = (await d.run([env('a', 'k1', 'agent-b')])).replies;
  t.ok(other!.ok && !('replayed' in other!), 'keys are per caller');

  // guarded path: a failing envelope in the batch makes every envelope run in its own savepoint
  const bad = { id: n++, method: 'tasks.claim', deadline: monoNow() + 5000, req: { project: 'none', holder: 'nobody' } };
  const r = await d.run([env('c', 'k2'), bad, env('c', 'k2'), env('d')]);
  t.same(r.replies.map((x) => (x.ok ? ('replayed' in x ? 'replayed' : 'ok') : 'failed')), ['ok', 'failed', 'replayed', 'ok']);
  t.same([events(), keys()], [4, 3], 'one event per first write, one key per (caller, key)');
});

t.test("a result stored before an upgrade changed its shape is replayed in today's (a message sent under a key, retried across the upgrade)", async (t) => {
  const file = path.join(tempDir(t), 'data.db');
  const db = openWriterDb(file, WRITER_LIMITS);
  t.teardown(() => db.close());
  const d = createDispatcher(sqliteDriver(db));
  const earlier = { message: { id: 7, from: 'ag-1', from_name: 'ann', to: ['bob'], recipients: ['ag-2'], thread_id: 7, reply_to: 0, subject: 's', body: 'b', importance: 'normal', ack_required: false, created_at: '2026-11-29 18:00:00' }, events: [] };
  db.prepare('INSERT INTO idempotency_keys (caller, key, method, request_hash, reply, created_at) VALUES (?, ?, ?, ?, ?, ?)').run('ag-1', 'k', 'messages.send', 'h', JSON.stringify(earlier), '2026-11-29 18:00:00');
  const req = { from: 'ag-1', from_name: 'ann', to: ['bob'], recipients: ['ag-2'], subject: 's', body: 'b', importance: 'normal', ack_required: false };
  const [again] = (await d.run([{ id: 1, method: 'messages.send', deadline: monoNow() + 5000, req, idem: { caller: 'ag-1', key: 'k', hash: 'h' } }])).replies as [ReplyEnvelope & { ok: true; replayed?: true }];
  t.ok(again.ok && again.replayed);
  const m = (again.res as { message: Record<string, unknown> }).message;
  t.same([m.from_id, m.to_json, 'from' in m, 'to' in m], ['ag-1', ['bob'], false, false], "the row's names, as MESSAGE.json reads them");
});
