import t from 'tap';
import postgres from 'postgres';
import { filePostgres } from '../helpers/postgres.js';
import { migratePg } from '../../workers/writer/pg/migrate.js';
import { PG_MIGRATIONS } from '../../schemas/db/pg-migrations.js';

/** Cluster mode: schema migrations on a real PostgreSQL, several nodes starting at once. */

const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`PostgreSQL migrations: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const connect = () => postgres(pg.url, { max: 1, onnotice: () => {} });

  t.test('three nodes starting at once: the schema is applied exactly once, all of them start', async (t) => {
    const nodes = [connect(), connect(), connect()];
    t.teardown(() => Promise.all(nodes.map((n) => n.end())));
    const results = await Promise.all(nodes.map((n) => migratePg(n)));
    const latest = PG_MIGRATIONS.at(-1)!.version;
    t.same(results.map((r) => r.to), [latest, latest, latest], 'every node ends at the latest version');
    t.equal(results.filter((r) => r.from === 0).length, 1, 'one node applied it; the others found it done');
    const applied = await nodes[0]!<{ version: number }[]>`SELECT version FROM koor_schema ORDER BY version`;
    t.same(applied.map((r) => r.version), PG_MIGRATIONS.map((m) => m.version), 'each migration recorded once');
    const tables = await nodes[0]!<{ n: string }[]>`SELECT count(*)::text AS n FROM information_schema.tables WHERE table_schema = 'public'`;
    t.ok(Number(tables[0]!.n) >= 18, 'the tables exist');
    t.same(await migratePg(nodes[1]!), { from: latest, to: latest }, 'a restart finds nothing to do');
  });

  t.test('a database from a newer koor is refused, and left as it is', async (t) => {
    const sql = connect();
    t.teardown(() => sql.end());
    await migratePg(sql);
    // A server that knows fewer migrations than the database has.
    await t.rejects(migratePg(sql, []), /newer than this server/);
    const [row] = await sql<{ v: number }[]>`SELECT max(version) AS v FROM koor_schema`;
    t.equal(row!.v, PG_MIGRATIONS.at(-1)!.version);
  });

  t.test('a migration that fails rolls back whole: no half-applied schema, the version unchanged', async (t) => {
    const sql = connect();
    t.teardown(() => sql.end());
    await migratePg(sql);
    const latest = PG_MIGRATIONS.at(-1)!.version;
    const broken = [...PG_MIGRATIONS, { version: latest + 1, name: 'broken', sql: 'CREATE TABLE half_done (x int); SELECT no_such_function();' }];
    await t.rejects(migratePg(sql, broken));
    const [row] = await sql<{ v: number }[]>`SELECT max(version) AS v FROM koor_schema`;
    t.equal(row!.v, latest, 'version unchanged');
    const [half] = await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM information_schema.tables WHERE table_name = 'half_done'`;
    t.equal(half!.n, '0', 'its first statement was rolled back too');
  });

  t.test('event ids from the counter row: 200 concurrent publishers, some aborted, leave ids 1..n without a gap', async (t) => {
    const sql = postgres(pg.url, { max: 8, onnotice: () => {} });
    t.teardown(() => sql.end());
    await migratePg(sql);
    // What a node's writer will do per publish: take the next id on the counter row, insert.
    const publish = (i: number) =>
      sql.begin(async (tx) => {
        const [c] = await tx<{ id: string }[]>`UPDATE koor_counters SET value = value + 1 WHERE name = 'events' RETURNING value::text AS id`;
        await tx`INSERT INTO events (id, topic, data, source, created_at) VALUES (${c!.id}, ${`t.${i}`}, 'null', '', '2026-01-01 00:00:00')`;
        if (i % 7 === 0) throw new Error('rolled back'); // an aborted publish gives its id back
        return Number(c!.id);
      }).catch(() => null);
    const ids = (await Promise.all(Array.from({ length: 200 }, (_, i) => publish(i)))).filter((x): x is number => x !== null);
    const stored = (await sql<{ id: string }[]>`SELECT id::text AS id FROM events ORDER BY events.id`).map((r) => Number(r.id));
    t.equal(stored.length, ids.length, 'every committed publish stored');
    t.same(stored, Array.from({ length: stored.length }, (_, i) => i + 1), 'ids 1..n, no gap left by the rolled-back ones');
  });
}
