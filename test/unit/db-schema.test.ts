import Database from 'better-sqlite3';
import t from 'tap';
import { MIGRATIONS } from '../../schemas/db/sqlite-migrations.js';
import { createTable } from '../../schemas/db/table.js';
import { TABLES } from '../../schemas/db/tables/index.js';

/**
 * The tables are declared once (schemas/db/tables) and the migrations that data files
 * out there have been through are history that never changes: the two must describe the same
 * database, column for column and index for index. (The PostgreSQL twin is
 * test/cluster/db-schema.test.ts.)
 */

type Db = Database.Database;

function describe(db: Db): Record<string, unknown> {
  const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
  const info = (sql: string) => db.pragma(sql) as Array<Record<string, unknown>>;
  return Object.fromEntries(
    tables.map((name) => [
      name,
      {
        columns: info(`table_xinfo(${name})`),
        withoutRowid: info(`table_list(${name})`)[0]!.wr,
        // AUTOINCREMENT or a plain rowid: the one thing table_xinfo does not show.
        autoincrement: /AUTOINCREMENT/i.test(String(db.prepare<[string], string>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(name))),
        foreignKeys: info(`foreign_key_list(${name})`),
        indexes: info(`index_list(${name})`)
          .filter((i) => i.origin === 'c')
          .map((i) => ({
            name: i.name,
            unique: i.unique,
            // The partial index's WHERE, as written (whitespace aside).
            where: String(db.prepare<[string], string>("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").pluck().get(String(i.name))).replace(/\s+/g, ' ').replace(/^.*?\)( WHERE|$)/, '$1'),
            key: info(`index_xinfo(${String(i.name)})`).filter((c) => c.key === 1).map((c) => [c.name, c.desc]),
          }))
          .sort((a, b) => String(a.name).localeCompare(String(b.name))),
      },
    ]),
  );
}

t.test('the SQLite migrations arrive at the declared tables, column for column and index for index', async (t) => {
  const migrated = new Database(':memory:');
  for (const m of MIGRATIONS) {
    migrated.exec(m.sql);
    m.run?.(migrated);
  }
  const declared = new Database(':memory:');
  for (const table of TABLES) if (table.onlyIn !== 'pg') declared.exec(createTable(table, 'sqlite'));
  const a = describe(migrated);
  const b = describe(declared);
  t.same(Object.keys(b), Object.keys(a), 'the same tables');
  for (const name of Object.keys(a)) t.same(b[name], a[name], name);
  migrated.close();
  declared.close();
});

t.test('the check sees a difference: a column declared with another default fails it', async (t) => {
  const migrated = new Database(':memory:');
  for (const m of MIGRATIONS) migrated.exec(m.sql);
  const changed = TABLES.map((x) => (x.name === 'state' ? { ...x, columns: { ...x.columns, updated_by: { type: 'text' as const, default: "'someone'" } } } : x));
  const declared = new Database(':memory:');
  for (const table of changed) if (table.onlyIn !== 'pg') declared.exec(createTable(table, 'sqlite'));
  t.notSame(describe(declared).state, describe(migrated).state);
  t.same(describe(declared).specs, describe(migrated).specs, 'the others still agree');
});

t.test('v20: a file from before keeps its change log and audit log, whose ids go on from the newest', async (t) => {
  const db = new Database(':memory:');
  const v20 = MIGRATIONS.findIndex((m) => m.version === 20);
  for (const m of MIGRATIONS.slice(0, v20)) {
    db.exec(m.sql);
    m.run?.(db);
  }
  // As v19 left a file: both logs AUTOINCREMENT (state_changes made by the declaration of the time).
  db.exec(`DROP TABLE state_changes;
    CREATE TABLE state_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, type TEXT NOT NULL, version INTEGER NOT NULL,
      hash TEXT NOT NULL DEFAULT '', content_type TEXT NOT NULL DEFAULT '', updated_by TEXT NOT NULL DEFAULT '')`);
  const change = db.prepare("INSERT INTO state_changes (topic, type, version) VALUES (?, 'put', 1)");
  const audit = db.prepare("INSERT INTO audit_log (timestamp, action) VALUES ('2026-11-26 08:00:00', ?)");
  for (let i = 0; i < 5; i++) {
    change.run(`s:k${i}`);
    audit.run(`a${i}`);
  }
  db.exec('DELETE FROM state_changes WHERE id <= 2; DELETE FROM audit_log WHERE id <= 3');
  const m = MIGRATIONS[v20]!;
  db.exec(m.sql);
  t.same(db.prepare('SELECT id, topic FROM state_changes ORDER BY id').all(), [3, 4, 5].map((id) => ({ id, topic: `s:k${id - 1}` })), 'the change log kept, revisions unchanged');
  t.same(db.prepare('SELECT id, action FROM audit_log ORDER BY id').all(), [4, 5].map((id) => ({ id, action: `a${id - 1}` })), 'the audit log kept, ids unchanged');
  t.equal(Number(change.run('s:next').lastInsertRowid), 6, 'the next revision follows the newest');
  t.equal(Number(db.prepare("INSERT INTO audit_log (timestamp, action) VALUES ('2026-11-26 08:00:01', 'next')").run().lastInsertRowid), 6, 'the next audit id follows the newest');
  t.same(db.prepare("SELECT name FROM sqlite_sequence WHERE name IN ('state_changes', 'audit_log')").all(), [], 'no sequence rows left to rewrite');
  t.same(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log'").all(), [{ name: 'audit_log_digest' }], 'no audit index but the partial one of what digests report (step 33)');
  db.close();
});

t.test('a named rowid is declared SQLite-only, in a table with a rowid', async (t) => {
  const table = (id: Record<string, unknown>, withoutRowid?: true) => ({ name: 'x', columns: { id: { type: 'int' as const, id: 'rowid' as const, ...id }, v: { type: 'text' as const } }, ...(withoutRowid ? { withoutRowid } : {}) });
  t.throws(() => createTable(table({}), 'sqlite'), /x\.id: a named rowid is declared onlyIn: 'sqlite'/, 'without onlyIn');
  t.throws(() => createTable(table({ onlyIn: 'pg' }), 'pg'), /x\.id/, "onlyIn: 'pg'");
  t.throws(() => createTable(table({ onlyIn: 'sqlite' }, true), 'sqlite'), /in a table with a rowid/, 'WITHOUT ROWID');
  t.match(createTable(table({ onlyIn: 'sqlite' }), 'sqlite'), /id INTEGER PRIMARY KEY/);
  t.notMatch(createTable(table({ onlyIn: 'sqlite' }), 'pg'), /\bid\b/, 'PostgreSQL has no such column');
});
