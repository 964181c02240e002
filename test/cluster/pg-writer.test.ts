import t from 'tap';
import { WriterClient } from '../../src/rpc/writer-client.js';
import { silentLogger } from '../../src/log.js';
import { providePostgres } from '../helpers/postgres.js';

/**
 * Cluster mode's writer thread (workers/pg/main.ts) through the same client as SQLite's: it
 * migrates the database, commits, answers, refuses what the SQLite writer refuses, and closes.
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

  t.test('an unreachable database fails the start with its reason', async (t) => {
    const writer = new WriterClient({ dbPath: 'unused', databaseUrl: 'postgres://postgres@127.0.0.1:1/none', logLevel: 'silent', deadlineMs: 5000, maxInFlight: 100, log: silentLogger() });
    await t.rejects(writer.start(), /ECONNREFUSED|connect/);
  });
}
