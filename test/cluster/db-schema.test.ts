import t from 'tap';
import postgres, { type Sql } from 'postgres';
import { createTable } from '../../schemas/db/table.js';
import { TABLES } from '../../schemas/db/tables/index.js';
import { migratePg } from '../../workers/writer/pg/migrate.js';
import { PG_MIGRATIONS } from '../../schemas/db/pg-migrations.js';
import { freshDatabase, filePostgres } from '../helpers/postgres.js';

/**
 * PostgreSQL's half of test/unit/db-schema.test.ts: the PostgreSQL migrations (a history that
 * never changes) arrive at the tables declared once in schemas/db/tables — columns with their
 * types, collations, defaults and identities, constraints and indexes.
 */

async function describe(sql: Sql): Promise<Record<string, unknown>> {
  const columns = await sql`
    SELECT table_name, column_name, row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position) AS position, data_type, is_nullable, column_default, collation_name, is_identity, identity_generation
      FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'koor_schema' ORDER BY table_name, ordinal_position`;
  const constraints = await sql`
    SELECT c.conrelid::regclass::text AS table_name, c.contype, pg_get_constraintdef(c.oid) AS def
      FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
     WHERE n.nspname = 'public' AND c.conrelid::regclass::text <> 'koor_schema' ORDER BY 1, 2, 3`;
  const indexes = await sql`SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'koor_schema' ORDER BY 1, 2`;
  return { columns: [...columns], constraints: [...constraints], indexes: [...indexes] };
}

const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`PostgreSQL schema declarations: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const open = async (prefix: string) => {
    const sql = postgres(await freshDatabase(pg, prefix), { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end({ timeout: 1 }));
    return sql;
  };

  t.test('the PostgreSQL migrations arrive at the declared tables', async (t) => {
    const migrated = await open('migrated');
    await migratePg(migrated);
    const declared = await open('declared');
    for (const table of TABLES) if (table.onlyIn !== 'sqlite') await declared.unsafe(createTable(table, 'pg'));
    const a = await describe(migrated);
    const b = await describe(declared);
    for (const part of ['columns', 'constraints', 'indexes'] as const) t.same(b[part], a[part], part);
  });

  t.test('v11, the version log: each current value moves into state_history, older versions kept', async (t) => {
    const sql = await open('upgraded');
    await migratePg(sql, PG_MIGRATIONS.filter((m) => m.version <= 10));
    const at = '2026-01-01 00:00:00';
    await sql`INSERT INTO state_history (key, version, value, hash, content_type, updated_at) VALUES ('k', 1, ${Buffer.from('one')}, 'h1', 'text/plain', ${at})`;
    await sql`INSERT INTO state (key, value, version, hash, content_type, updated_at) VALUES ('k', ${Buffer.from('two')}, 2, 'h2', 'text/plain', ${at}), ('solo', ${Buffer.from('only')}, 1, 'h', 'text/plain', ${at})`;
    t.same(await migratePg(sql), { from: 10, to: PG_MIGRATIONS.at(-1)!.version });
    const rows = await sql`SELECT key, version, convert_from(value, 'UTF8') AS value, hash FROM state_history ORDER BY key, version`;
    t.same([...rows], [
      { key: 'k', version: '1', value: 'one', hash: 'h1' },
      { key: 'k', version: '2', value: 'two', hash: 'h2' },
      { key: 'solo', version: '1', value: 'only', hash: 'h' },
    ]);
    const cols = await sql`SELECT column_name FROM information_schema.columns WHERE table_name = 'state' AND column_name = 'value'`;
    t.equal(cols.length, 0, 'state holds no value any more');
  });

  t.test('the check sees a difference: an index declared without its tie-breaker fails it', async (t) => {
    const migrated = await open('migrated');
    await migratePg(migrated);
    const declared = await open('changed');
    const changed = TABLES.map((x) => (x.name === 'instances' ? { ...x, indexes: [{ name: 'instances_status', on: 'status, last_seen' }] } : x));
    for (const table of changed) if (table.onlyIn !== 'sqlite') await declared.unsafe(createTable(table, 'pg'));
    const [a, b] = [await describe(migrated), await describe(declared)];
    t.notSame(b.indexes, a.indexes);
    t.same(b.columns, a.columns, 'the columns still agree');
  });
}
