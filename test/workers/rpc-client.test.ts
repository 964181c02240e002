import Database from 'better-sqlite3';
import t from 'tap';
import { AppError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import path from 'node:path';
import { DeliveryClient } from '../../src/rpc/delivery-client.js';
import { PoolClient } from '../../src/rpc/pool-client.js';
import { WriterClient } from '../../src/rpc/writer-client.js';
import { sqliteReads, turnSnapshot } from '../../src/backend/reads.js';
import { stateReader, type StateRow } from '../../src/domains/state/reader.js';
import { openReader } from '../../src/backend/read-db.js';
import { startTestServer, json, tempDir } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

const put = (url: string, body: string) => fetch(url, { method: 'PUT', body: Buffer.from(body) as unknown as BodyInit });

t.test('deadline exceeded → DEADLINE_EXCEEDED; an expired write never runs', async (t) => {
  const s = await startTestServer(t);
  const begun = s.writer.batches.startedThrough;
  const blocker = s.writer.call('sys.sleep', { ms: 400 });
  // Posted once the blocker's batch has begun: a batch of their own, not begun while the blocker runs.
  await waitUntil('the blocker to begin', () => s.writer.batches.startedThrough > begun, 5000, 1);
  const late = s.writer.call('state.put', { key: 'late', value: Buffer.from('x'), content_type: 'text/plain', updated_by: '' }, { deadlineMs: 50 });
  // A second deadline, later than the first: still enforced after the first one fired.
  const later = s.writer.call('state.put', { key: 'later', value: Buffer.from('x'), content_type: 'text/plain', updated_by: '' }, { deadlineMs: 200 });
  let laterSettled = false;
  later.catch(() => {}).finally(() => (laterSettled = true));
  await t.rejects(late, { status: 'DEADLINE_EXCEEDED', message: 'state.put: deadline exceeded' });
  t.notOk(laterSettled, 'the later call is still waiting when the first expires');
  await t.rejects(later, { status: 'DEADLINE_EXCEEDED' });
  let blockerDone = false;
  void blocker.finally(() => (blockerDone = true));
  await new Promise((r) => setImmediate(r));
  t.notOk(blockerDone, 'both were answered while the writer was still busy before them');
  await blocker;
  await s.writer.call('sys.ping', {});
  t.equal((await fetch(`${s.url}/api/state/late`)).status, 404, 'writer skipped the expired envelope');
  t.equal((await fetch(`${s.url}/api/state/later`)).status, 404, 'and the later one too');
});

t.test('a write the writer had begun is answered with its outcome, never 503 after it committed', async (t) => {
  const s = await startTestServer(t);
  // Same turn, so one batch: the put runs first, then the sleep holds the batch's COMMIT past the put's deadline.
  const posted = Date.now();
  const put = s.writer.call('state.put', { key: 'slow-commit', value: Buffer.from('x'), content_type: 'text/plain', updated_by: '' }, { deadlineMs: 50 });
  const sleep = s.writer.call('sys.sleep', { ms: 400 });
  const res = await put;
  t.ok(Date.now() - posted >= 400, 'answered once the sleep let its batch commit, past its deadline');
  t.equal(res.version, 1, 'the caller learns it committed (the old client said 503 at 50 ms)');
  await sleep;
  t.equal((await fetch(`${s.url}/api/state/slow-commit`)).status, 200, 'and it did');
  // In the same batch behind the sleep, an envelope whose deadline passed is refused by the writer before it runs.
  const blocker = s.writer.call('sys.sleep', { ms: 300 });
  const behind = s.writer.call('state.put', { key: 'behind', value: Buffer.from('x'), content_type: 'text/plain', updated_by: '' }, { deadlineMs: 50 });
  await t.rejects(behind, { status: 'DEADLINE_EXCEEDED', message: 'deadline exceeded before the write started' });
  await blocker;
  t.equal((await fetch(`${s.url}/api/state/behind`)).status, 404, 'never ran');
  t.equal(s.writer.stats.outcomeUnknown, 0);
});

t.test('HTTP write past its deadline → 503 JSON', async (t) => {
  const s = await startTestServer(t, { rpcDeadlineMs: 100 });
  // The writer is held far past the PUT's 100-ms deadline, so the front's own sweep answers it
  // first even on a loaded machine: held 500 ms, a front whose timers ran late under three test
  // files at once let the writer reach the expired envelope and refuse it itself (also a 503).
  const blocker = s.writer.call('sys.sleep', { ms: 3000 }, { deadlineMs: 5000 });
  const r = await put(`${s.url}/api/state/slow`, 'x');
  t.equal(r.status, 503);
  t.equal(r.headers.get('retry-after'), '1');
  // Who says so depends on the machine: the front's sweep, or — when the writer took the PUT into
  // the blocker's batch (both queued while it was busy) — the writer itself, after the sleep.
  // Either way nothing was written and the caller is told to retry.
  const body = (await json(r)) as { error: string; code: number };
  t.equal(body.code, 503);
  t.match(body.error, /^(state\.put: deadline exceeded|deadline exceeded before the write started)$/);
  t.equal((await fetch(`${s.url}/api/state/slow`)).status, 404, 'nothing written');
  await blocker;
});

t.test('in-flight cap → RESOURCE_EXHAUSTED → 503', async (t) => {
  const s = await startTestServer(t, { rpcMaxInFlight: 2 });
  const a = s.writer.call('sys.sleep', { ms: 200 });
  const b = s.writer.call('sys.ping', {});
  const r = await put(`${s.url}/api/state/full`, 'x');
  t.same([r.status, await json(r)], [503, { error: 'writer queue full', code: 503 }]);
  await Promise.all([a, b]);
  const ok = await put(`${s.url}/api/state/full`, 'x');
  t.equal(ok.status, 200, 'accepted again once the queue drained');
  await ok.arrayBuffer();
});

t.test('writer death: callers it had not begun get 503, the one it had 504 outcome unknown; a new writer starts, nothing acknowledged is lost', async (t) => {
  const s = await startTestServer(t);
  const acked: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await put(`${s.url}/api/state/before${i}`, `v${i}`);
    t.equal(r.status, 200);
    await r.arrayBuffer();
    acked.push(`before${i}`);
  }
  const oldThread = s.writer.threadId;
  const begun = s.writer.batches.startedThrough;
  const blocker = s.writer.call('sys.sleep', { ms: 2000 }).catch((e: AppError) => e);
  // The writes go once the blocker's batch has begun, so they are queued behind it, not in it.
  await waitUntil('the blocker to begin', () => s.writer.batches.startedThrough > begun, 5000, 1);
  const inflight = Array.from({ length: 5 }, (_, i) => put(`${s.url}/api/state/during${i}`, 'x'));
  await waitUntil('the five writes to be in flight behind the blocker', () => s.writer.inFlight === 6);
  await s.writer.kill();
  const results = await Promise.all(inflight);
  for (const r of results) {
    t.equal(r.status, 503);
    t.same(await json(r), { error: 'writer unavailable', code: 503 });
  }
  t.same([((await blocker) as AppError).status, ((await blocker) as AppError).message], ['OUTCOME_UNKNOWN', 'sys.sleep: outcome unknown: the write may have committed; retry with the same Idempotency-Key, or read it back before retrying'], 'the batch it was running: may have committed');
  t.equal(s.writer.stats.outcomeUnknown, 1);
  // Calls made while it restarts wait for the new writer.
  const after = await put(`${s.url}/api/state/after`, 'y');
  t.equal(after.status, 200);
  t.equal((await json(after)).version, 1);
  t.not(s.writer.threadId, oldThread, 'a new writer thread');
  t.equal(s.writer.stats.restarts, 1);
  for (const k of acked) t.equal((await fetch(`${s.url}/api/state/${k}`)).status, 200, `${k} survived`);
  const list = await json(await fetch(`${s.url}/api/state`));
  t.equal(list.filter((e: any) => e.key.startsWith('during')).length, 0, 'the unacknowledged writes were behind the blocker and never ran');
});

t.test('closed while a dead writer restarts: its successor is stopped, never attached; a call waiting for it fails as shutting down', async (t) => {
  const w = new WriterClient({ dbPath: path.join(tempDir(t), 'data.db'), logLevel: 'silent', deadlineMs: 5000, maxInFlight: 100, log: silentLogger() });
  await w.start();
  const first = w.threadId;
  await w.kill();
  await waitUntil('the successor thread to start', () => w.threadId !== -1 && w.threadId !== first, 5000, 1);
  const waiting = w.call('sys.sleep', { ms: 1 }).then(() => 'ran', (e: AppError) => e.message);
  await w.close(0);
  t.equal(await waiting, 'server is shutting down', 'the waiting call is not sent to a writer after the close');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(w.threadId, -1, 'no writer thread left running');
  t.equal(w.stats.restarts, 1, 'and none started again');
});

t.test('a webhook run waiting for the delivery thread to start is settled when the client closes', async (t) => {
  const c = new DeliveryClient({ dbPath: '', timeoutMs: 1000, maxReplyBytes: 1000, maxSockets: 1, nice: 0, maxInFlight: 4, log: silentLogger() });
  const run = c.run('http://127.0.0.1:9/', '', { bodies: ['{}'] }).then(() => 'resolved', (e: AppError) => e.message);
  await c.close();
  const settled = await Promise.race([run, new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000))]);
  t.equal(settled, 'server is shutting down');
});

t.test('pool job deadline → DEADLINE_EXCEEDED and the pool keeps working', async (t) => {
  const pool = new PoolClient({ threads: 1, deadlineMs: 2000, maxQueue: 4, log: silentLogger() });
  t.teardown(() => pool.close());
  const a = Buffer.from('{"x":1}');
  const b = Buffer.from('{"x":2}');
  await t.rejects(pool.run('diff', { a, b, v1: 1, v2: 2 }, { deadlineMs: 0 }), { status: 'DEADLINE_EXCEEDED' });
  const r = await pool.run('diff', { a, b, v1: 1, v2: 2 });
  t.same(r, { ok: true, diffs: '[{"path":"x","old":1,"new":2,"kind":"changed"}]' });
});

t.test('a cold pool start (after the idle stop) is not charged to a job deadline', async (t) => {
  const pool = new PoolClient({ threads: 1, deadlineMs: 2000, maxQueue: 4, log: silentLogger(), idleMs: 100 });
  t.teardown(() => pool.close());
  const a = Buffer.from('{"x":1}');
  const b = Buffer.from('{"x":2}');
  for (let round = 0; round < 2; round++) {
    // A cold start's cost, measured in this run: a ping after the idle stop boots a thread inside its own budget.
    await waitUntil('the pool threads to end after idling', () => pool.threadCount === 0, 30_000, 20);
    const t0 = performance.now();
    await pool.warmUp();
    const deadlineMs = Math.max(1, Math.floor((performance.now() - t0) / 2));
    // Half of that is far more than a warm diff needs, and less than the start-up it must not be charged.
    await waitUntil('the pool threads to end after idling', () => pool.threadCount === 0, 30_000, 20);
    const r = await pool.run('diff', { a, b, v1: 1, v2: 2 }, { deadlineMs });
    t.same(r, { ok: true, diffs: '[{"path":"x","old":1,"new":2,"kind":"changed"}]' }, `round ${round}: the job after the idle stop ran within ${deadlineMs} ms`);
  }
});

t.test("a reply ends the reader's turn snapshot before its caller resumes: a read after a write sees it", async (t) => {
  const dbPath = path.join(tempDir(t), 'data.db');
  const w = new WriterClient({ dbPath, logLevel: 'silent', deadlineMs: 5000, maxInFlight: 100, log: silentLogger() });
  await w.start();
  t.teardown(() => w.close(0));
  const reader = openReader(dbPath);
  t.teardown(() => reader.close());
  const snapshot = turnSnapshot(reader);
  w.beforeReplies(snapshot.end);
  const state = stateReader(sqliteReads(reader, snapshot));
  const req = (v: number) => ({ key: 'k', value: Buffer.from(String(v)), content_type: 'text/plain', updated_by: '' });
  const value = () => (state.current('k') as StateRow | undefined)?.value.toString();
  await w.call('state.put', req(1));
  const other = new Database(dbPath, { readonly: true });
  t.teardown(() => other.close());
  const committed = other.prepare<[], number>("SELECT version FROM state WHERE key = 'k'").pluck();
  for (let v = 2; v <= 4; v++) {
    // In a check phase: a read begins the turn's snapshot (its end is queued for the next check
    // phase), the write is posted at once (urgent), and its batch commits and answers while the
    // thread waits here. The reply is handled in the next poll phase, before that end: only the
    // reply's own end of the snapshot lets the read that follows it see the write.
    const after = await new Promise<string | undefined>((resolve, reject) =>
      setImmediate(() => {
        if (value() !== String(v - 1)) return reject(new Error('the value before the write is not the last one written'));
        const batches = w.batches.batches;
        const written = w.callIdempotent('state.put', req(v), null, { urgent: true });
        const until = Date.now() + 5000;
        while ((committed.get() !== v || w.batches.batches === batches) && Date.now() < until);
        // The batch is counted just before its replies are posted: give the post a moment.
        for (const posted = Date.now() + 20; Date.now() < posted; );
        t.ok(reader.inTransaction, `write ${v} committed while the turn's snapshot was open`);
        written.then(() => resolve(value()), reject);
      }),
    );
    t.equal(after, String(v), `the read right after write ${v} is acknowledged sees it`);
  }
});

t.test('lazy writes ride with the next message to the writer, or go by themselves: one batch, never lost', async (t) => {
  const w = new WriterClient({ dbPath: path.join(tempDir(t), 'data.db'), logLevel: 'silent', deadlineMs: 5000, maxInFlight: 100, log: silentLogger() });
  await w.start();
  t.teardown(() => w.close(0));
  const put = (key: string) => ({ key, value: Buffer.from(key), content_type: 'text/plain', updated_by: '' });
  // Three lazy writes, then in a later turn one that is not: all four in one batch.
  const b0 = w.batches.batches;
  const lazy = ['a', 'b', 'c'].map((k) => w.call('state.put', put(k), { lazy: true }));
  await new Promise((r) => setImmediate(r));
  t.equal(w.batches.batches, b0, 'a lazy write waits');
  const now = await w.call('state.put', put('d'));
  const done = await Promise.all(lazy);
  t.equal(w.batches.batches - b0, 1, 'the lazy writes went with the next one: one batch');
  t.ok(done.every((r) => r.revision < now.revision), 'and ran before it, in the order they were asked for');
  t.same(done.map((r) => r.revision), [...done.map((r) => r.revision)].sort((x, y) => x - y));
  // Alone, it goes by itself soon after: nothing else needs to be written for it to be.
  const b1 = w.batches.batches;
  const alone = await w.call('state.put', put('e'), { lazy: true });
  t.ok(alone.revision > now.revision, 'a lazy write with nothing to ride with is written');
  t.equal(w.batches.batches - b1, 1);
  // An urgent write takes the waiting lazy ones with it.
  const b2 = w.batches.batches;
  const waiting = w.call('state.put', put('f'), { lazy: true });
  const urgent = await w.callIdempotent('state.put', put('g'), null, { urgent: true });
  t.ok((await waiting).revision < urgent.res.revision);
  t.equal(w.batches.batches - b2, 1, 'in its batch');
});
