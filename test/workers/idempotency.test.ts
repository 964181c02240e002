import path from 'node:path';
import t from 'tap';
import type { ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { openReader } from '../../src/backend/read-db.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { openWriterDb } from '../../workers/writer/sqlite/db.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import { tempDir } from '../helpers/server.js';

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
    deadline: Date.now() + 5000,
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
  const bad = { id: n++, method: 'tasks.claim', deadline: Date.now() + 5000, req: { project: 'none', holder: 'nobody' } };
  const r = await d.run([env('c', 'k2'), bad, env('c', 'k2'), env('d')]);
  t.same(r.replies.map((x) => (x.ok ? ('replayed' in x ? 'replayed' : 'ok') : 'failed')), ['ok', 'failed', 'replayed', 'ok']);
  t.same([events(), keys()], [4, 3], 'one event per first write, one key per (caller, key)');
});
