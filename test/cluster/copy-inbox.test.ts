import path from 'node:path';
import t from 'tap';
import type { MessageRow as Message } from '../../schemas/rpc/writer.js';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { openPg } from '../../src/shared/pg.js';
import { pgIntoSqlite, sqliteIntoPg } from '../../workers/backup/pg-copy.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { pgDriver } from '../../workers/writer/pg/driver.js';
import { openWriterDb } from '../../workers/writer/sqlite/db.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import type { Driver } from '../../workers/writer/sql.js';
import { freshDatabase, filePostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/server.js';
import { monoNow } from '../../src/shared/mono-clock.js';

/**
 * The inbox survives a copy between the stores: `--migrate-from` and a restore carry
 * its rows, and message ids continue from where they were on the other side (the PostgreSQL
 * counter row, SQLite's sqlite_sequence), so a recipient's `since` cursor stays valid.
 */
const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`inbox copies: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());

  function writer(driver: Driver) {
    const d = createDispatcher(driver);
    let n = 1;
    return async <T = any>(method: string, req: unknown): Promise<T> => {
      const r = (await d.run([{ id: n++, method, deadline: monoNow() + 10_000, req }])).replies[0]!;
      if (!r.ok) throw new Error(`${method}: ${r.err.message}`);
      return r.res as T;
    };
  }
  const send = (from: string, to: string[], body: string) => ({ from, from_name: 'x', to, recipients: to, subject: '', body, importance: 'normal', ack_required: false });

  t.test('SQLite → PostgreSQL → SQLite: rows carried, ids continue', async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, 'data.db');
    const db = openWriterDb(file, WRITER_LIMITS);
    const onSqlite = writer(sqliteDriver(db));
    const a = (await onSqlite<{ id: string }>('instances.register', { name: 'a', workspace: '', intent: '', stack: '', capabilities: [] })).id;
    const b = (await onSqlite<{ id: string }>('instances.register', { name: 'b', workspace: '', intent: '', stack: '', capabilities: [] })).id;
    for (let i = 0; i < 3; i++) await onSqlite('messages.send', send(a, [b], `m${i}`));
    await onSqlite('messages.prune', { before: '9999-01-01 00:00:00', chunk: 1 }); // id 1 pruned: the copies skip nothing else
    await onSqlite('messages.ack', { recipient: b, id: 3 });
    db.close();

    const sql = openPg(await freshDatabase(pg, 'inbox_copy'), { max: 2, name: 'koor-inbox-copy' });
    t.teardown(() => sql.end({ timeout: 1 }));
    await sqliteIntoPg(file, sql, { replace: false });
    t.same((await sql`SELECT id, body FROM messages ORDER BY id`).map((r) => [r.id, r.body]), [[2, 'm1'], [3, 'm2']], 'the messages');
    t.same((await sql`SELECT message_id, acked_at <> '' AS acked FROM message_recipients ORDER BY message_id`).map((r) => [r.message_id, r.acked]), [[2, false], [3, true]], 'and each recipient’s state');
    const onPg = writer(pgDriver(() => sql));
    t.equal((await onPg<{ message: Message }>('messages.send', send(b, [a], 'on pg'))).message.id, 4, 'ids continue on PostgreSQL');

    const back = path.join(dir, 'back.db');
    await pgIntoSqlite(sql, back);
    const db2 = openWriterDb(back, WRITER_LIMITS);
    t.teardown(() => db2.close());
    t.equal((await writer(sqliteDriver(db2))<{ message: Message }>('messages.send', send(a, [b], 'back'))).message.id, 5, 'and on SQLite again');
    t.equal(db2.prepare('SELECT count(*) FROM message_recipients').pluck().get(), 4, 'every inbox row came back');
  });
}
