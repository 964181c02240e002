import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';

/** Templates over HTTP: `data` any JSON value, kept as sent; a duplicate id a 409. */

type Server = Awaited<ReturnType<typeof startTestServer>>;

function client(s: Server) {
  const u = (p: string) => `${s.url}${p}`;
  const post = (p: string, body: string) => fetch(u(p), { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const create = (body: unknown) => post('/api/templates', typeof body === 'string' ? body : JSON.stringify(body));
  const get = (p: string) => fetch(u(p));
  const del = (p: string) => fetch(u(p), { method: 'DELETE' });
  return { u, post, create, get, del };
}

async function expectError(t: Tap.Test, res: Response, status: number, error: string, what?: string) {
  t.same([res.status, await json(res)], [status, { error, code: status }], what ?? error);
}

t.test('create, get, list, delete', async (t) => {
  const s = await startTestServer(t);
  const c = client(s);

  t.same(await json(await c.get('/api/templates')), [], 'empty list is []');

  // data keeps its exact JSON text: nesting, member order, big and precise numbers, unicode.
  const data = '{"z":1,"a":[{"n":12345678901234567890123,"f":0.10000000000000000001,"e":1E+400}],"s":"é\\u00e9","t":true,"n":null}';
  const body = `{"id":"go-rules","name":"Go rules","description":"for Go","kind":"bundle","data": ${data} ,"tags":["go","backend"]}`;
  const r = await c.create(body);
  t.equal(r.status, 200);
  t.equal(r.headers.get('content-type'), 'application/json');
  const text = await r.text();
  t.ok(text.endsWith('}\n'), 'body ends in a newline');
  t.ok(text.includes(`"data":${data},`), 'data spliced back exactly as sent');
  const created = JSON.parse(text);
  t.match(created, { id: 'go-rules', name: 'Go rules', description: 'for Go', kind: 'bundle', tags: ['go', 'backend'], version: 1 });
  t.match(created.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.equal(created.updated_at, created.created_at);
  t.same(Object.keys(created), ['id', 'name', 'description', 'kind', 'data', 'tags', 'version', 'created_at', 'updated_at']);

  const g = await c.get('/api/templates/go-rules');
  t.equal(g.status, 200);
  const gText = await g.text();
  t.equal(gText, text, 'GET returns the same Template as the create reply');

  // Whitespace inside data is insignificant: the reply is compact, the value unchanged.
  const spaced = await c.create('{"id":"spaced","name":"S","data":{\n  "k" : [ 1 , 2 ],\n  "v": "a b"\n}}');
  t.ok((await spaced.text()).includes('"data":{"k":[1,2],"v":"a b"},'));

  // Defaults: kind rules, description '', tags []; null members read as absent.
  const d = await json(await c.create({ id: 'minimal', name: 'M', data: [], description: null, kind: null, tags: null }));
  t.match(d, { id: 'minimal', name: 'M', description: '', kind: 'rules', data: [], tags: [], version: 1 });
  const emptyKind = await json(await c.create({ id: 'empty-kind', name: 'E', kind: '', data: 0 }));
  t.same([emptyKind.kind, emptyKind.data], ['rules', 0], 'an empty kind is the default; data may be any JSON value');

  // list: summaries without data, updated_at desc (created in order within one second: newest first).
  const list = await json(await c.get('/api/templates'));
  t.same(list.map((x: { id: string }) => x.id), ['empty-kind', 'minimal', 'spaced', 'go-rules']);
  for (const x of list) t.notOk('data' in x, `${x.id}: list entry without data`);
  t.same(Object.keys(list[3]), ['id', 'name', 'description', 'kind', 'tags', 'version', 'created_at', 'updated_at']);

  const del = await c.del('/api/templates/spaced');
  t.same([del.status, await json(del)], [200, { deleted: 'spaced' }]);
  await expectError(t, await c.get('/api/templates/spaced'), 404, 'template not found: spaced', 'gone after delete');
  await expectError(t, await c.del('/api/templates/spaced'), 404, 'template not found: spaced', 'second delete 404');
  t.same((await json(await c.get('/api/templates'))).map((x: { id: string }) => x.id), ['empty-kind', 'minimal', 'go-rules']);

  // An id that needs encoding in the path.
  await c.create({ id: 'a b/c', name: 'odd', data: {} });
  t.equal((await json(await c.get(`/api/templates/${encodeURIComponent('a b/c')}`))).id, 'a b/c');
  t.same(await json(await c.del(`/api/templates/${encodeURIComponent('a b/c')}`)), { deleted: 'a b/c' });
});

t.test('list filters: kind and tag (exact member)', async (t) => {
  const s = await startTestServer(t);
  const c = client(s);
  for (const [id, kind, tags] of [
    ['r1', 'rules', ['go', 'backend']],
    ['c1', 'contracts', ['go']],
    ['r2', 'rules', ['golang']],
    ['b1', 'bundle', []],
  ] as const) {
    t.equal((await c.create({ id, name: id, kind, tags, data: [] })).status, 200);
  }
  const ids = async (q: string) => (await json(await c.get(`/api/templates${q}`))).map((x: { id: string }) => x.id);
  t.same(await ids(''), ['b1', 'r2', 'c1', 'r1']);
  t.same(await ids('?kind=rules'), ['r2', 'r1']);
  t.same(await ids('?tag=go'), ['c1', 'r1'], 'tag is an exact member: golang does not match go');
  t.same(await ids('?tag=go&kind=rules'), ['r1']);
  t.same(await ids('?tag=g'), []);
  t.same(await ids('?kind=nothing'), []);
  t.same(await ids('?kind=&tag='), ['b1', 'r2', 'c1', 'r1'], 'empty values are absent');
  t.same(await ids(`?tag=${encodeURIComponent('go')}&unknown=1`), ['c1', 'r1']);
});

t.test('create errors', async (t) => {
  const s = await startTestServer(t);
  const c = client(s);
  await expectError(t, await c.create({ name: 'n', data: 1 }), 400, 'id and name are required', 'no id');
  await expectError(t, await c.create({ id: 'x', data: 1 }), 400, 'id and name are required', 'no name');
  await expectError(t, await c.create({ id: '', name: 'n', data: 1 }), 400, 'id and name are required', 'empty id');
  await expectError(t, await c.create({ id: 'x', name: 'n' }), 400, 'data is required', 'no data');
  await expectError(t, await c.create({ id: 'x', name: 'n', data: null }), 400, 'data is required', 'null data');
  await expectError(t, await c.create({ name: 'n' }), 400, 'id and name are required', 'id/name checked before data');
  await expectError(t, await c.create({ id: 5, name: 'n', data: 1 }), 400, 'id: expected string or null', 'wrong type names the field');
  await expectError(t, await c.create({ id: 'x', name: 'n', data: 1, tags: 'a' }), 400, 'tags: expected array or null');
  await expectError(t, await c.create({ id: 'x', name: 'n', data: 1, tags: ['a', 2] }), 400, 'tags[1]: expected string');
  await expectError(t, await c.create('{"id":"x","name":"n","data":'), 400, 'invalid JSON body', 'malformed body');
  await expectError(t, await c.create(''), 400, 'invalid JSON body', 'empty body');
  await expectError(t, await c.create({ id: 'x'.repeat(1025), name: 'n', data: 1 }), 400, 'id too long: 1025 bytes (max 1024)');
  t.same(await json(await c.get('/api/templates')), [], 'nothing stored by a failed create');

  t.equal((await c.create({ id: 'dup', name: 'first', data: { v: 1 } })).status, 200);
  await expectError(t, await c.create({ id: 'dup', name: 'second', data: { v: 2 } }), 409, 'failed to create template', 'duplicate → 409');
  const kept = await json(await c.get('/api/templates/dup'));
  t.same([kept.name, kept.data], ['first', { v: 1 }], 'the duplicate did not overwrite');

  await expectError(t, await c.get('/api/templates/nope'), 404, 'template not found: nope');
  await expectError(t, await c.del('/api/templates/nope'), 404, 'template not found: nope');
});

t.test('apply: other kinds store a spec; errors', async (t) => {
  const s = await startTestServer(t);
  const c = client(s);
  const contract = '{"kind":"contract","version":1,"endpoints":{"GET /users":{"response":{"id":"string","big":12345678901234567890}}}}';
  t.equal((await c.create(`{"id":"users-api","name":"Users","kind":"contracts","data":${contract}}`)).status, 200);

  const a = await c.post('/api/templates/users-api/apply', '{"project":"web"}');
  t.same([a.status, await json(a)], [200, { applied: 'users-api', project: 'web', kind: 'contracts' }]);
  const spec = await c.get('/api/specs/web/users-api');
  t.same([spec.status, await spec.text()], [200, contract], 'stored as spec <project>/<template id>, bytes as created');
  const again = await json(await c.post('/api/templates/users-api/apply', '{"project":"web"}'));
  t.equal(again.kind, 'contracts');
  t.equal((await json(await c.get('/api/specs/web'))).specs[0].version, 2, 'applying again overwrites the spec (version +1)');

  // project is checked before the lookup.
  await expectError(t, await c.post('/api/templates/nope/apply', '{}'), 400, 'project is required', 'missing project on an unknown template');
  await expectError(t, await c.post('/api/templates/users-api/apply', '{"project":""}'), 400, 'project is required');
  await expectError(t, await c.post('/api/templates/users-api/apply', 'null'), 400, 'project is required', 'a null body is an empty object');
  await expectError(t, await c.post('/api/templates/users-api/apply', '{"project":3}'), 400, 'project: expected string or null');
  await expectError(t, await c.post('/api/templates/users-api/apply', ''), 400, 'invalid JSON body');
  await expectError(t, await c.post('/api/templates/nope/apply', '{"project":"web"}'), 404, 'template not found: nope');

  // A rules template whose data is not an array of rules.
  for (const [id, data] of [
    ['obj', '{"rules":[]}'],
    ['num', '42'],
    ['bad-member', '[{"rule_id":5,"pattern":"x"}]'],
    ['not-objects', '["a"]'],
  ] as const) {
    t.equal((await c.create(`{"id":"${id}","name":"n","data":${data}}`)).status, 200);
    await expectError(t, await c.post(`/api/templates/${id}/apply`, '{"project":"p"}'), 400, 'template data is not valid rules JSON', id);
  }
});

t.test('apply: a rules template imports its rules into the project', async (t) => {
  // A generous pool budget: the validate call below must not time out on a loaded test machine.
  const s = await startTestServer(t, { poolDeadlineMs: 60_000 });
  const c = client(s);
  const rules = [
    // project forced to the target, whatever the entry says (or lacks)
    { project: 'elsewhere', rule_id: 'no-console', pattern: 'console\\.log\\(', message: 'no console.log', applies_to: ['*.ts'] },
    { rule_id: 'no-todo', pattern: '(?i)todo', severity: 'warning', stack: 'node', source: 'shared' },
    { rule_id: 'skipped-no-pattern' },
  ];
  t.equal((await c.create({ id: 'node-rules', name: 'Node rules', data: rules, tags: ['node'] })).status, 200);

  const a = await c.post('/api/templates/node-rules/apply', '{"project":"web"}');
  t.same([a.status, await json(a)], [200, { applied: 'node-rules', project: 'web', kind: 'rules' }]);

  const got = await json(await c.get('/api/validate/web/rules'));
  t.equal(got.project, 'web');
  t.match(got.rules, [
    { project: 'web', rule_id: 'no-console', severity: 'error', match_type: 'regex', pattern: 'console\\.log\\(', message: 'no console.log', applies_to: ['*.ts'], source: 'external', status: 'accepted' },
    { project: 'web', rule_id: 'no-todo', severity: 'warning', pattern: '(?i)todo', stack: 'node', applies_to: ['*'], source: 'shared', status: 'accepted' },
  ]);
  t.equal(got.rules.length, 2, 'the entry without a pattern was skipped');
  t.same((await json(await c.get('/api/validate/elsewhere/rules'))).rules, [], "the entry's own project is not used");
  t.same(await json(await c.get('/api/specs/web')), { project: 'web', specs: [] }, 'a rules template stores no spec');

  // The imported rules fire.
  const vr = await c.post('/api/validate/web', JSON.stringify({ filename: 'src/a.ts', content: 'ok\nconsole.log(1) // TODO' }));
  const v = await json(vr);
  t.equal(vr.status, 200, JSON.stringify(v));
  t.same(v.violations.map((x: { rule_id: string; line: number }) => [x.rule_id, x.line]).sort(), [['no-console', 2], ['no-todo', 2]]);
});

t.test('apply: an invalid regex in a rules template is a 400 and nothing is stored', async (t) => {
  const s = await startTestServer(t);
  const c = client(s);
  const data = [
    { rule_id: 'fine', pattern: 'fine' },
    { rule_id: 'broken', pattern: 'a(b' },
  ];
  t.equal((await c.create({ id: 'broken', name: 'Broken', data })).status, 200);
  const a = await c.post('/api/templates/broken/apply', '{"project":"web"}');
  t.equal(a.status, 400);
  const body = await json(a);
  t.equal(body.code, 400);
  t.match(body.error, /broken/, 'the reason names the rule');
  t.match(body.error, /regex|pattern/i);
  t.same((await json(await c.get('/api/validate/web/rules'))).rules, [], 'not even the valid rule was stored');

  t.equal((await c.create({ id: 'empty', name: 'Empty', data: [] })).status, 200);
  await expectError(t, await c.post('/api/templates/empty/apply', '{"project":"web"}'), 400, 'empty rules array', 'an empty rules template (as the rules import refuses it)');
});
