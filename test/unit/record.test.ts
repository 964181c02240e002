import t from 'tap';
import { Compile, Type } from '../../schemas/typebox.js';
import { f, hidden, named, nullable, omit, omitEmpty, record, shown } from '../../schemas/db/record.js';
import { addColumn, createTable } from '../../schemas/db/table.js';
import { INSTANCE } from '../../schemas/db/tables/instances.js';
import { RULE } from '../../schemas/db/tables/rules.js';
import { TASK } from '../../schemas/db/tables/tasks.js';
import { InstanceSummary } from '../../schemas/http/instances.js';
import { Rule, RuleInput } from '../../schemas/http/rules.js';

/** A record declared once: its table, its row, its reply schema and its reply writer agree. */

const THING = record(
  'things',
  {
    id: f.int({ id: 'log' }),
    name: f.text(),
    note: nullable(f.text()),
    score: nullable(f.real()),
    kind: shown(f.text(), Type.Union([Type.Literal('a'), Type.Literal('b')])),
    tags: f.list(Type.String()),
    data: f.raw(),
    at: f.time(),
    seen: nullable(f.time()),
    secret: hidden(f.text({ default: "''" })),
    owner_id: named('owner', f.text()),
  },
  { indexes: [{ name: 'things_name', on: 'name' }] },
);

t.test('the table and its columns come from the fields, in declared order', async (t) => {
  t.equal(THING.columns, 'id, name, note, score, kind, tags, data, at, seen, secret, owner_id');
  t.match(createTable(THING.table, 'sqlite'), /CREATE TABLE things \(\n {2}id INTEGER PRIMARY KEY AUTOINCREMENT,\n {2}name TEXT NOT NULL,\n {2}note TEXT,/);
  t.match(createTable(THING.table, 'sqlite'), /tags TEXT NOT NULL DEFAULT '\[\]'/);
  t.match(createTable(THING.table, 'pg'), /data text COLLATE "C" NOT NULL DEFAULT 'null'/);
  t.match(createTable(THING.table, 'sqlite'), /CREATE INDEX things_name ON things \(name\);/);
});

t.test('the reply: hidden fields left out, renamed ones renamed, times RFC 3339, raw JSON spliced, nulls null', async (t) => {
  const db = { id: 7, name: 'x "q"\n', note: null, score: null, kind: 'b', tags: '["t1","t\\"2"]', data: '{"any":[1,2]}', at: '2026-11-29 18:00:00', seen: null, secret: 's3cret', owner_id: 'ag-1' };
  const row = THING.decode(db);
  t.same(row.tags, ['t1', 't"2'], 'lists decoded');
  t.equal(row.data, '{"any":[1,2]}', 'raw JSON kept as text in the row');
  const text = THING.json(row);
  const wire = JSON.parse(text) as Record<string, unknown>;
  t.same(wire, { id: 7, name: 'x "q"\n', note: null, score: null, kind: 'b', tags: ['t1', 't"2'], data: { any: [1, 2] }, at: '2026-11-29T18:00:00Z', seen: null, owner: 'ag-1' });
  t.notOk(text.includes('s3cret'), 'a hidden field never reaches a reply');
  t.ok(Compile(THING.Wire).Check(wire), 'the reply matches the reply schema');
  t.ok(Compile(THING.Row).Check(row), 'the decoded row matches the row schema');
  t.same(Object.keys(THING.Wire.properties), ['id', 'name', 'note', 'score', 'kind', 'tags', 'data', 'at', 'seen', 'owner']);
  const full = THING.json({ ...row, note: 'n', score: 1.5, seen: '2026-11-29 18:00:01' });
  t.same(JSON.parse(full).seen, '2026-11-29T18:00:01Z');
  t.equal(JSON.parse(full).score, 1.5);
});

t.test('a record without some fields: the row, the reply and the codecs of a read that leaves their columns out', async (t) => {
  const LISTED = omit(THING, 'data', 'secret');
  t.equal(LISTED.columns, 'id, name, note, score, kind, tags, at, seen, owner_id', 'a SELECT list without them');
  t.same(Object.keys(LISTED.Row.properties), ['id', 'name', 'note', 'score', 'kind', 'tags', 'at', 'seen', 'owner_id']);
  t.same(Object.keys(LISTED.Wire.properties), ['id', 'name', 'note', 'score', 'kind', 'tags', 'at', 'seen', 'owner']);
  t.same(LISTED.Wire.properties.kind, THING.Wire.properties.kind, "each field's reply schema as the record has it");
  const row = LISTED.decode({ id: 7, name: 'x', note: null, score: 2, kind: 'a', tags: '["t"]', at: '2026-11-29 18:00:00', seen: null, owner_id: 'ag-1' });
  const wire = { id: 7, name: 'x', note: null, score: 2, kind: 'a', tags: ['t'], at: '2026-11-29T18:00:00Z', seen: null, owner: 'ag-1' };
  t.same(JSON.parse(LISTED.json(row)), wire);
  t.same(LISTED.wire(row), wire);
  t.ok(Compile(LISTED.Wire).Check(wire));
  t.equal(THING.columns, 'id, name, note, score, kind, tags, data, at, seen, secret, owner_id', 'the record itself unchanged');
});

t.test('the task reply, as the API documents it', async (t) => {
  const row = TASK.decode({ id: 1, project: 'p', title: 'T', data: 'null', priority: 0, deps: '[]', capabilities: '["go"]', status: 'ready', claimed_by: '', claimed_by_name: '', attempts: 0, max_attempts: 3, reason: '', created_at: '2026-11-29 18:00:00', updated_at: '2026-11-29 18:00:00', fence: 0, paths: '["src/**"]', lease_id: 'L1', blocked_by: '' });
  const wire = JSON.parse(TASK.json(row)) as Record<string, unknown>;
  t.ok(Compile(TASK.Wire).Check(wire), 'valid against Task');
  t.notOk('lease_id' in wire, "the claim's lease id is the server's");
  t.same(wire.paths, ['src/**']);
});

t.test("a column added later: the migration's statement from the declaration, as the released ones were written", async (t) => {
  t.equal(addColumn(TASK.table, 'paths', 'sqlite'), "ALTER TABLE tasks ADD COLUMN paths TEXT NOT NULL DEFAULT '[]';");
  t.equal(addColumn(TASK.table, 'paths', 'pg'), `ALTER TABLE tasks ADD COLUMN paths text COLLATE "C" NOT NULL DEFAULT '[]';`);
  t.throws(() => addColumn(TASK.table, 'max_attempts', 'sqlite'), /nullable or has a default/, 'NOT NULL without a default cannot be added to a table with rows');
  t.throws(() => addColumn(TASK.table, 'nope', 'pg'), /declares no column nope/);
});

t.test('a create body: the inputs, optional; what the writer is given: their row values', async (t) => {
  t.same(TASK.inputs, ['project', 'title', 'data', 'priority', 'deps', 'capabilities', 'max_attempts', 'paths']);
  t.same(Object.keys(TASK.Create.properties), TASK.inputs);
  t.same(TASK.Body.required ?? [], [], 'every body field optional');
  t.same(TASK.defaultOf('deps'), []);
  t.equal(TASK.defaultOf('data'), 'null', 'raw JSON text');
  t.equal(TASK.defaultOf('priority'), 0);
  t.equal(TASK.defaultOf('max_attempts'), undefined, 'none: the route gives it');
  t.same(TASK.values({ project: 'p', title: 't', data: '{"a":1}', priority: 2, deps: [1], capabilities: [], max_attempts: 3, paths: ['a/**'] }), ['p', 't', '{"a":1}', 2, '[1]', '[]', 3, '["a/**"]']);
});

t.test('booleans and epoch-ms instants: 0/1 and ms in the table, a boolean and RFC 3339 (or "") in the reply; the reply as a value agrees with its text', async (t) => {
  const FLAG = record('flags', { id: f.text(), on: f.bool(), until: named('until_at', f.ms()), data: f.raw(), at: f.time(), gone: nullable(f.time()), hush: hidden(f.int({ default: 0 })) });
  const row = FLAG.decode({ id: 'a', on: 1, until: Date.UTC(2026, 10, 29, 18, 0, 5), data: '[1]', at: '2026-11-29 18:00:00', gone: null, hush: 3 });
  t.equal(row.on, true);
  const wire = JSON.parse(FLAG.json(row)) as Record<string, unknown>;
  t.same(wire, { id: 'a', on: true, until_at: '2026-11-29T18:00:05Z', data: [1], at: '2026-11-29T18:00:00Z', gone: null });
  t.same(FLAG.wire(row), wire, 'the value and the text are the same reply');
  t.ok(Compile(FLAG.Wire).Check(wire));
  const none = FLAG.decode({ id: 'b', on: 0, until: 0, data: 'null', at: '2026-11-29 18:00:00', gone: '2026-11-29 18:00:01', hush: 0 });
  t.same(JSON.parse(FLAG.json(none)), { id: 'b', on: false, until_at: '', data: null, at: '2026-11-29T18:00:00Z', gone: '2026-11-29T18:00:01Z' });
  t.same(FLAG.wire(none), JSON.parse(FLAG.json(none)));
  t.match(createTable(FLAG.table, 'sqlite'), /until INTEGER NOT NULL DEFAULT 0/);
});

t.test('bytes are stored, never written into a reply: a record that shows them is refused where it is declared', async (t) => {
  t.throws(() => record('blobs', { id: f.text(), data: f.bytes() }), /blobs\.data: bytes have no JSON form/);
  const BLOB = record('blobs', { id: f.text(), data: hidden(f.bytes()) });
  t.equal(BLOB.json({ id: 'a' }), '{"id":"a"}');
  t.match(createTable(BLOB.table, 'pg'), /data bytea NOT NULL/);
});

t.test("a member left out when empty: the reply's text and value agree, and its schema makes it optional", async (t) => {
  const NOTE = record('notes', { id: f.text(), by: omitEmpty(f.text({ default: "''" })), tags: f.list(Type.String()), why: named('reason', omitEmpty(f.text({ default: "''" }))) });
  t.same(NOTE.Wire.required, ['id', 'tags']);
  const full = NOTE.decode({ id: 'a', by: 'x', tags: '["t"]', why: 'w "q"' });
  t.equal(NOTE.json(full), '{"id":"a","by":"x","tags":["t"],"reason":"w \\"q\\""}', 'in declared order');
  t.same(NOTE.wire(full), JSON.parse(NOTE.json(full)));
  const bare = NOTE.decode({ id: 'b', by: '', tags: '[]', why: '' });
  t.equal(NOTE.json(bare), '{"id":"b","tags":[]}');
  t.same(NOTE.wire(bare), { id: 'b', tags: [] });
  t.ok(Compile(NOTE.Wire).Check(NOTE.wire(bare)) && Compile(NOTE.Wire).Check(NOTE.wire(full)));
  t.throws(() => record('x', { a: omitEmpty(f.text()), b: f.text() }), /first member/, 'the first member opens the object');
});

t.test('the instance and rule replies, as the API documents them', async (t) => {
  const at = '2026-11-29 18:00:00';
  const agent = INSTANCE.decode({ id: 'i1', name: 'a', workspace: '', intent: '', stack: 'go', capabilities: '["db"]', status: 'active', token_hash: 'h'.repeat(64), registered_at: at, last_seen: at, token_id: 't1' });
  const reply = JSON.parse(INSTANCE.json(agent)) as Record<string, unknown>;
  t.same(reply, { id: 'i1', name: 'a', workspace: '', intent: '', stack: 'go', capabilities: ['db'], status: 'active', registered_at: '2026-11-29T18:00:00Z', last_seen: '2026-11-29T18:00:00Z' }, 'no token hash, no token id');
  t.same(INSTANCE.wire(agent), reply);
  t.ok(Compile(InstanceSummary).Check(reply));
  const rule = RULE.decode({ project: 'p', rule_id: 'r', severity: 'error', match_type: 'regex', pattern: 'x', message: '', stack: '', applies_to: '["*"]', source: 'local', status: 'accepted', proposed_by: '', context: 'why', created_at: at });
  const shown = RULE.wire(rule);
  t.same(shown, { project: 'p', rule_id: 'r', severity: 'error', match_type: 'regex', pattern: 'x', message: '', stack: '', applies_to: ['*'], source: 'local', status: 'accepted', context: 'why', created_at: at }, 'an empty proposed_by left out; created_at as stored');
  t.ok(Compile(Rule).Check(shown));
  t.same(Object.keys(RuleInput.properties), RULE.inputs, 'a rule as clients write it names the fields its writer stores');
});

t.test('an id with 0 for none: 0 in the table and the row, null in the reply; replyOrder orders the reply, never the columns', async (t) => {
  const NOTE = record('notes', { id: f.int({ id: 'counter' }), body: f.text(), parent: f.ref(), by_id: named('by', f.text()) }, { replyOrder: ['id', 'by_id', 'parent', 'body'] });
  t.equal(NOTE.columns, 'id, body, parent, by_id', 'the columns in declared order');
  t.match(createTable(NOTE.table, 'sqlite'), /body TEXT NOT NULL,\n {2}parent INTEGER NOT NULL DEFAULT 0,\n {2}by_id TEXT NOT NULL/);
  t.same(Object.keys(NOTE.Wire.properties), ['id', 'by', 'parent', 'body']);
  const row = { id: 2, body: 'b', parent: 0, by_id: 'ag' };
  t.equal(NOTE.json(row), '{"id":2,"by":"ag","parent":null,"body":"b"}');
  t.equal(NOTE.json({ ...row, parent: 1 }), '{"id":2,"by":"ag","parent":1,"body":"b"}');
  t.same(Object.entries(NOTE.wire(row)), Object.entries(JSON.parse(NOTE.json(row)) as object), 'the value: the same members in the same order');
  t.ok(Compile(NOTE.Wire).Check(NOTE.wire(row)) && Compile(NOTE.Wire).Check(NOTE.wire({ ...row, parent: 1 })));
  t.throws(() => record('bad', { a: f.int(), b: f.int() }, { replyOrder: ['a'] }), /every field once/);
  t.throws(() => record('bad', { a: f.int(), b: f.int() }, { replyOrder: ['a', 'a'] }), /every field once/);
});

t.test("a row is the record's fields only: a query's other columns (a join's, an index's sort key) stay out of what the writer returns", async (t) => {
  const PAIR = record('pairs', { id: f.text(), on: f.bool(), tags: f.list(Type.String()) });
  t.same(PAIR.decode({ id: 'a', on: 1, tags: '[]', seq: 10, held: 'src/**' } as never), { id: 'a', on: true, tags: [] });
});
