import t from 'tap';
import type { ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import { WriterClient } from '../../src/rpc/writer-client.js';
import { PG_RECONNECT_BACKOFF_MS, PG_WRITER_IDLE_IN_TX_MS } from '../../src/shared/limits.js';
import { silentLogger } from '../../src/log.js';
import { openPg, reconnectDelayS } from '../../src/shared/pg.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { pgDriver } from '../../workers/writer/pg/driver.js';
import { migratePg } from '../../workers/writer/pg/migrate.js';
import { openPgDriver } from '../../workers/writer/pg/open.js';
import { freshDatabase, providePostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';
import { monoNow } from '../../src/shared/mono-clock.js';

/**
 * Cluster mode's writer thread (workers/writer/main.ts) through the same client as SQLite's: it
 * migrates the database, commits, answers, refuses what the SQLite writer refuses, and closes; a
 * lost connection fails a batch (503, or 504 when COMMIT was sent) and the next one reconnects.
 */
const started = await providePostgres();
if ('skipped' in started) {
  t.skip(`PostgreSQL writer thread: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());

  t.test('a PostgreSQL writer thread behind WriterClient', async (t) => {
    const writer = new WriterClient({ dbPath: 'unused', databaseUrl: pg.url, logLevel: 'silent', deadlineMs: 5000, maxInFlight: 100, log: silentLogger(), stateHistoryKeep: 3 });
    await writer.start();
    t.teardown(() => writer.close(1000));
    t.ok((await writer.call('sys.ping', {})).schema_version >= 1, 'migrated on start');
    const puts = await Promise.all([1, 2, 3].map((i) => writer.call('state.put', { key: 'k', value: Buffer.from(String(i)), content_type: 'text/plain', updated_by: '' })));
    t.same(puts.map((p) => p.version).sort(), [1, 2, 3], 'three writes of one turn, one version each');
    await t.rejects(writer.call('state.put', { key: 'k', value: Buffer.from('x'), content_type: 'text/plain', updated_by: '', if_match: '"stale"' }), { status: 'FAILED_PRECONDITION' }, 'a failed CAS is refused');
    const e = await writer.call('events.publish', { topic: 't', data: '{}', source: '' });
    t.equal(e.id, 1, 'the first event id');
    await t.rejects(writer.call('sys.sleep', { ms: 1 }), { status: 'INVALID_ARGUMENT' }, 'test hooks off');
  });

  t.test('audit entries ride with the writes; one that fails is logged and its write still stands', async (t) => {
    const sql = openPg(await freshDatabase(pg, 'audit'), { max: 2, name: 'koor-test' });
    t.teardown(() => sql.end({ timeout: 1 }));
    await migratePg(sql);
    const logged: string[] = [];
    const d = createDispatcher(pgDriver(() => sql), { log: { error: (_o, msg) => logged.push(msg) } });
    let id = 0;
    const put = (key: string, actor?: string) => ({ id: ++id, method: 'state.put', deadline: monoNow() + 60_000, req: { key, value: Buffer.from(key), content_type: 'text/plain', updated_by: '' }, ...(actor ? { audit: { actor } } : {}) });
    // Sent without waiting for them: every entry of a batch is there after its commit.
    const ok = await d.run(['a', 'b', 'c', 'd'].map((k) => put(k, `agent-${k}`)));
    t.same(ok.replies.map((r) => r.ok), [true, true, true, true]);
    t.same((await sql`SELECT actor FROM audit_log ORDER BY id`).map((r) => r.actor), ['agent-a', 'agent-b', 'agent-c', 'agent-d']);
    // An entry PostgreSQL refuses: the batch is replayed guarded; the writes all stand.
    await sql.unsafe(`CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.actor = 'boom' THEN RAISE EXCEPTION 'no'; END IF; RETURN NEW; END $$`);
    await sql.unsafe(`CREATE TRIGGER refuse_boom BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_boom()`);
    const mixed = await d.run([put('e', 'boom'), put('f', 'agent-f'), put('g'), put('h', 'boom')]);
    t.same(mixed.replies.map((r) => r.ok), [true, true, true, true], 'every write acknowledged');
    t.same((await sql`SELECT key FROM state WHERE key IN ('e', 'f', 'g', 'h') ORDER BY key`).map((r) => r.key), ['e', 'f', 'g', 'h'], 'and committed');
    t.same((await sql`SELECT actor FROM audit_log WHERE id > 4 ORDER BY id`).map((r) => r.actor), ['agent-f'], 'the refused entries alone are missing (the first and the last of the batch)');
    t.same(logged, ['audit entry not recorded', 'audit entry not recorded']);
    // Only the batch's last entry refused: found when the batch ends, before COMMIT.
    const last = await d.run([put('i', 'agent-i'), put('j', 'boom')]);
    t.same(last.replies.map((r) => r.ok), [true, true], 'both acknowledged');
    t.same((await sql`SELECT key FROM state WHERE key IN ('i', 'j') ORDER BY key`).map((r) => r.key), ['i', 'j'], 'both committed');
    t.equal(logged.length, 3, 'the refusal logged');
  });

  t.test('a webhook run read before a live restore is not recorded on the restored data', async (t) => {
    const sql = openPg(await freshDatabase(pg, 'restores'), { max: 2, name: 'koor-test' });
    t.teardown(() => sql.end({ timeout: 1 }));
    await migratePg(sql);
    const d = createDispatcher(pgDriver(() => sql), { log: { error: () => {} } });
    let id = 0;
    const call = async (method: string, req: unknown) => {
      const r = (await d.run([{ id: ++id, method, deadline: monoNow() + 60_000, req }])).replies[0]!;
      if (!r.ok) throw new Error(JSON.stringify(r));
      return r.res as { disabled: boolean; dropped: number };
    };
    await call('webhooks.create', { id: 'w', url: 'http://127.0.0.1:9/', patterns: ['*'], secret: '' });
    for (let i = 0; i < 3; i++) await call('events.publish', { topic: 't', data: '{}', source: '' });
    const hook = async () => (await sql<{ cursor: number; delivered: number; attempts: number; last_error: string }[]>`SELECT cursor, delivered, attempts, last_error FROM webhooks WHERE id = 'w'`)[0]!;
    const settle = (restores: number | undefined, over: object) => call('webhooks.settle', { webhook_id: 'w', at: '2026-01-01 00:00:00', cursor: 3, delivered: 3, dropped: 0, max_attempts: 5, ...(restores === undefined ? {} : { restores }), ...over });
    // What a restore does in its transaction (workers/backup/pg-copy.ts), besides replacing the rows.
    await sql`UPDATE koor_counters SET value = value + 1 WHERE name = 'restores'`;
    await settle(0, {});
    await settle(0, { cursor: 0, delivered: 0, failure: { event_id: 1, error: 'refused', next_at: 1 } });
    t.same(await hook(), { cursor: 0, delivered: 0, attempts: 0, last_error: '' }, 'runs read under the replaced data: nothing recorded');
    await settle(1, { cursor: 2, delivered: 2 });
    t.same(await hook(), { cursor: 2, delivered: 2, attempts: 0, last_error: '' }, 'a run read after the restore is');
    await settle(undefined, { cursor: 3, delivered: 1 });
    t.same(await hook(), { cursor: 3, delivered: 3, attempts: 0, last_error: '' }, 'and one that does not say (SQLite has no live restore under a running writer)');
  });

  t.test('a connection lost mid-batch fails the batch, not the thread: 503 before COMMIT was sent, 504 after; the next batch reconnects', async (t) => {
    const url = await freshDatabase(pg, 'lost');
    const admin = openPg(url, { max: 1, name: 'koor-test-admin' });
    t.teardown(() => admin.end({ timeout: 1 }));
    await migratePg(admin);
    // A write of key `slow-body` waits 5 s in the batch; one of `slow-commit` waits 5 s in its
    // COMMIT (a deferred constraint trigger runs there).
    await admin.unsafe(`CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.key LIKE TG_ARGV[0] THEN PERFORM pg_sleep(5); END IF; RETURN NEW; END $$`);
    await admin.unsafe(`CREATE TRIGGER slow_body BEFORE INSERT ON state FOR EACH ROW EXECUTE FUNCTION slow('slow-body')`);
    await admin.unsafe(`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON state DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow('slow-commit')`);
    let opened = 0;
    const d = createDispatcher(
      pgDriver(() => (opened++, openPg(url, { max: 2, name: 'koor-test-writer' }))),
      { log: { error: () => {} } },
    );
    let id = 0;
    const put = (key: string) => ({ id: ++id, method: 'state.put', deadline: monoNow() + 60_000, req: { key, value: Buffer.from(key), content_type: 'text/plain', updated_by: '' } });
    /** Runs a batch of `keys`; once its session sleeps, ends the session from outside; the replies. */
    const cut = async (keys: string[]) => {
      const run = d.run(keys.map(put));
      await waitUntil('the batch sleeps', async () => (await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'koor-test-writer' AND wait_event = 'PgSleep'`)[0]!.n === 1, 10_000);
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'koor-test-writer'`;
      return (await run).replies;
    };
    const errs = (replies: ReplyEnvelope[]) => replies.map((r) => (r.ok ? 'ok' : `${r.err.status} ${r.err.message}`));

    t.same(errs(await cut(['a', 'slow-body'])), ['UNAVAILABLE database unavailable', 'UNAVAILABLE database unavailable'], 'lost before COMMIT: unavailable (certainly not committed)');
    t.same(errs((await d.run([put('b')])).replies), ['ok'], 'the next batch reconnects and commits');
    const unknown = errs(await cut(['c', 'slow-commit']));
    t.equal(unknown.length, 2);
    for (const e of unknown) t.match(e, /^OUTCOME_UNKNOWN state\.put: outcome unknown: the write may have committed/, 'lost after COMMIT was sent: outcome unknown');
    t.same(errs((await d.run([put('d')])).replies), ['ok'], 'the next batch reconnects and commits');
    t.same((await admin`SELECT key FROM state ORDER BY key`).map((r) => r.key), ['b', 'd'], 'neither cut batch committed (PostgreSQL rolled both back)');
    t.equal(opened, 3, 'a new client after each loss');
  });

  t.test('PostgreSQL out of reach: the writer retries with back-off, refusing batches at once meanwhile', async (t) => {
    let tries = 0;
    const d = createDispatcher(pgDriver(() => (tries++, openPg('postgres://postgres@127.0.0.1:1/none', { max: 2, name: 'koor-test-writer' }))), { log: { error: () => {} } });
    const put = { id: 1, method: 'state.put', deadline: monoNow() + 60_000, req: { key: 'k', value: Buffer.from('v'), content_type: 'text/plain', updated_by: '' } };
    // The first failure (in the first batch, so not before t0) holds the next try back
    // PG_RECONNECT_BACKOFF_MS: every batch that ended before t0 + that asked within it. A slow
    // machine may let the later batches run past it (then they may try again): only the ones
    // provably inside are held to it.
    const t0 = Date.now();
    let held = 0;
    for (let i = 0; i < 20; i++) {
      const before = tries;
      const { replies, commitError } = await d.run([put]);
      t.same(replies.map((r) => !r.ok && r.err.status), ['UNAVAILABLE'], 'unavailable');
      if (i === 0 || Date.now() >= t0 + PG_RECONNECT_BACKOFF_MS) continue;
      t.equal(tries, before, `batch ${i + 1}, within the back-off: refused without trying`);
      if (held++ === 0) t.match((commitError as Error).message, /next try in \d+ ms/, 'and told when the next try is');
    }
    t.ok(held > 0, `${held} of 19 batches within the back-off`);
    // Each failed try doubles the wait, as a reconnect's does (one client per try, the first made with the driver).
    const after = tries;
    await new Promise((r) => setTimeout(r, 2000 * reconnectDelayS(after - 1)));
    await d.run([put]);
    t.equal(tries, after + 1, 'the next try after the back-off');
  });

  t.test("the writer's sessions are ended by PostgreSQL when idle inside a transaction: a frozen node lets go of the write lock", async (t) => {
    const driver = await openPgDriver(await freshDatabase(pg, 'idletx'));
    t.teardown(() => driver.close());
    let setting = '';
    await driver.transaction(async (tx) => {
      setting = (await tx.get<{ idle_in_transaction_session_timeout: string }>({ sqlite: '', pg: 'SHOW idle_in_transaction_session_timeout' }))!.idle_in_transaction_session_timeout;
    });
    t.equal(setting, `${PG_WRITER_IDLE_IN_TX_MS / 1000}s`, 'idle_in_transaction_session_timeout on the connection a batch runs on');
  });

  t.test('an unreachable database fails the start with its reason, every time', async (t) => {
    // The thread posts its reason and exits; the exit could be seen first, and closing the port
    // then dropped the reason: the start never settled (1 start in 240 hung here). Sixteen at once.
    const starts = Array.from({ length: 16 }, () => {
      const writer = new WriterClient({ dbPath: 'unused', databaseUrl: 'postgres://postgres@127.0.0.1:1/none', logLevel: 'silent', deadlineMs: 5000, maxInFlight: 100, log: silentLogger() });
      const hung = new Promise<string>((resolve) => setTimeout(() => resolve('never settled'), 10_000).unref());
      return Promise.race([writer.start().then(() => 'started', (err: Error) => err.message), hung]);
    });
    const outcomes = await Promise.all(starts);
    t.same(outcomes.filter((m) => !/ECONNREFUSED/.test(m)), [], 'each start failed, naming the refused connection');
  });
}
