import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor } from './helpers.js';

t.test('templates commands', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);

  const empty = await cli('templates', 'list');
  t.same([empty.code, empty.stdout], [0, '[]\n']);

  // create: the file is sent as data unchanged (big numbers, member order), tags trimmed.
  const contract = path.join(dir, 'contract.json');
  fs.writeFileSync(contract, '{\n  "kind": "contract",\n  "z": 1,\n  "big": 12345678901234567890123\n}\n');
  const c1 = await cli('templates', 'create', '--id', 'users-api', '--name', 'Users API', '--kind', 'contracts', '--file', contract, '--tags', ' api , users,,');
  t.equal(c1.code, 0, c1.stderr);
  t.ok(c1.stdout.includes('"data":{"kind":"contract","z":1,"big":12345678901234567890123}'), c1.stdout);
  t.match(JSON.parse(c1.stdout), { id: 'users-api', name: 'Users API', description: '', kind: 'contracts', tags: ['api', 'users'], version: 1 });

  const rulesFile = path.join(dir, 'rules.json');
  fs.writeFileSync(rulesFile, JSON.stringify([{ rule_id: 'no-debugger', pattern: 'debugger;', message: 'no debugger' }]));
  const c2 = await cli('templates', 'create', '--id', 'js-rules', '--name', 'JS rules', '--file', rulesFile);
  t.equal(c2.code, 0, c2.stderr);
  t.match(JSON.parse(c2.stdout), { kind: 'rules', tags: [], data: [{ rule_id: 'no-debugger' }] }, 'kind defaults to rules, tags to []');

  // duplicate: 409 body on stdout, exit 1
  const dup = await cli('templates', 'create', '--id', 'js-rules', '--name', 'again', '--file', rulesFile);
  t.same([dup.code, JSON.parse(dup.stdout), dup.stderr], [1, { error: 'failed to create template', code: 409 }, '']);

  // local checks: a file that is not JSON, a missing file, missing flags
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"kind": ');
  const notJson = await cli('templates', 'create', '--id', 'x', '--name', 'x', '--file', bad);
  t.equal(notJson.code, 1);
  t.equal(notJson.stdout, '');
  t.match(notJson.stderr, new RegExp(`^error: invalid JSON in ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
  const missing = await cli('templates', 'create', '--id', 'x', '--name', 'x', '--file', path.join(dir, 'nope.json'));
  t.same([missing.code, missing.stdout], [1, '']);
  t.match(missing.stderr, /^error: cannot read .*nope\.json: no such file\n$/);
  const noFile = await cli('templates', 'create', '--id', 'x', '--name', 'x');
  t.equal(noFile.code, 1);
  t.match(noFile.stderr, /--file/);

  // list with filters; get; pretty
  const list = await cli('templates', 'list');
  t.same(JSON.parse(list.stdout).map((x: { id: string }) => x.id), ['js-rules', 'users-api']);
  t.notOk('data' in JSON.parse(list.stdout)[0], 'summaries without data');
  t.same(JSON.parse((await cli('templates', 'list', '--kind', 'contracts')).stdout).map((x: { id: string }) => x.id), ['users-api']);
  t.same(JSON.parse((await cli('templates', 'list', '--tag', 'users')).stdout).map((x: { id: string }) => x.id), ['users-api']);
  t.same(JSON.parse((await cli('templates', 'list', '--tag', 'a b&c')).stdout), [], 'query values are URL-encoded');

  const get = await cli('templates', 'get', 'users-api');
  t.equal(get.code, 0);
  t.same(JSON.parse(get.stdout).data, { kind: 'contract', z: 1, big: 12345678901234567890123 });
  const pretty = await cli('templates', 'get', 'users-api', '--pretty');
  t.match(pretty.stdout, /^\{\n  "id": "users-api",\n[\s\S]*  "data": \{\n    "kind": "contract",\n    "z": 1,\n    "big": 12345678901234567890123\n  \},\n[\s\S]*\}\n$/);
  const nf = await cli('templates', 'get', 'nope');
  t.same([nf.code, JSON.parse(nf.stdout)], [1, { error: 'template not found: nope', code: 404 }]);

  // apply: a contracts template becomes a spec; a rules template imports rules
  const ap = await cli('templates', 'apply', 'users-api', '--project', 'web');
  t.same([ap.code, JSON.parse(ap.stdout)], [0, { applied: 'users-api', project: 'web', kind: 'contracts' }]);
  t.equal((await cli('specs', 'get', 'web/users-api')).stdout, fs.readFileSync(contract, 'utf8').trimEnd(), 'spec holds the JSON text of the file (indentation kept; whitespace around the value is not part of it)');
  const ar = await cli('templates', 'apply', 'js-rules', '--project', 'web');
  t.same([ar.code, JSON.parse(ar.stdout)], [0, { applied: 'js-rules', project: 'web', kind: 'rules' }]);
  const rules = (await (await fetch(`${s.url}/api/validate/web/rules`)).json()) as { rules: Array<{ project: string; rule_id: string; status: string }> };
  t.same(rules.rules.map((r) => [r.project, r.rule_id, r.status]), [['web', 'no-debugger', 'accepted']]);
  const noProject = await cli('templates', 'apply', 'js-rules');
  t.equal(noProject.code, 1);
  t.match(noProject.stderr, /--project/);
  const apNf = await cli('templates', 'apply', 'nope', '--project', 'web');
  t.same([apNf.code, JSON.parse(apNf.stdout)], [1, { error: 'template not found: nope', code: 404 }]);

  // delete
  const del = await cli('templates', 'delete', 'users-api');
  t.same([del.code, JSON.parse(del.stdout)], [0, { deleted: 'users-api' }]);
  const del2 = await cli('templates', 'delete', 'users-api');
  t.same([del2.code, JSON.parse(del2.stdout)], [1, { error: 'template not found: users-api', code: 404 }]);
});

t.test('rules import and export', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);

  const file = path.join(dir, 'rules.json');
  fs.writeFileSync(
    file,
    JSON.stringify([
      { project: 'web', rule_id: 'no-eval', pattern: 'eval\\(', source: 'local' },
      { project: 'api', rule_id: 'no-todo', pattern: 'TODO', severity: 'warning', source: 'learned' },
      { project: 'api', rule_id: 'ext', pattern: 'x' },
    ]),
  );
  const imp = await cli('rules', 'import', '--file', file);
  t.same([imp.code, JSON.parse(imp.stdout), imp.stderr], [0, { imported: 3 }, '']);

  // export: always pretty, default sources local,learned, by project then rule_id
  const exp = await cli('rules', 'export');
  t.equal(exp.code, 0, exp.stderr);
  t.match(exp.stdout, /^\[\n  \{\n    "project": "api",\n/, 'pretty without --pretty');
  t.ok(exp.stdout.endsWith(']\n'));
  t.same(JSON.parse(exp.stdout).map((r: { project: string; rule_id: string }) => `${r.project}/${r.rule_id}`), ['api/no-todo', 'web/no-eval']);
  const all = await cli('rules', 'export', '--source', 'local,learned,external');
  t.same(JSON.parse(all.stdout).map((r: { rule_id: string }) => r.rule_id), ['ext', 'no-todo', 'no-eval']);

  // --output: the file gets the pretty JSON + newline, stderr says where, stdout stays empty
  const out = path.join(dir, 'out.json');
  const saved = await cli('rules', 'export', '--source', 'external', '--output', out);
  t.same([saved.code, saved.stdout, saved.stderr], [0, '', `exported to ${out}\n`]);
  const text = fs.readFileSync(out, 'utf8');
  t.match(text, /^\[\n  \{\n    "project": "api",\n    "rule_id": "ext",[\s\S]*\n\]\n$/);
  t.same(JSON.parse(text).map((r: { rule_id: string }) => r.rule_id), ['ext']);

  // A round trip: what export wrote, import takes back (upsert, nothing new).
  const again = await cli('rules', 'import', '--file', out);
  t.same([again.code, JSON.parse(again.stdout)], [0, { imported: 1 }]);

  // local checks on the import file
  const obj = path.join(dir, 'obj.json');
  fs.writeFileSync(obj, '{"rules":[]}');
  const notArray = await cli('rules', 'import', '--file', obj);
  t.same([notArray.code, notArray.stdout, notArray.stderr], [1, '', `error: invalid JSON in ${obj}: expected an array of rules, got object\n`]);
  const broken = path.join(dir, 'broken.json');
  fs.writeFileSync(broken, '[{"rule_id":');
  const notJson = await cli('rules', 'import', '--file', broken);
  t.same([notJson.code, notJson.stdout], [1, '']);
  t.match(notJson.stderr, new RegExp(`^error: invalid JSON in ${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .+\\n$`));
  const noFile = await cli('rules', 'import');
  t.equal(noFile.code, 1);
  t.match(noFile.stderr, /--file/);

  // server-side errors: body on stdout, exit 1
  const emptyFile = path.join(dir, 'empty.json');
  fs.writeFileSync(emptyFile, '[]');
  const emptyArr = await cli('rules', 'import', '--file', emptyFile);
  t.same([emptyArr.code, JSON.parse(emptyArr.stdout)], [1, { error: 'empty rules array', code: 400 }]);
  const badRe = path.join(dir, 'bad-re.json');
  fs.writeFileSync(badRe, JSON.stringify([{ project: 'web', rule_id: 'bad', pattern: 'a(b' }]));
  const badReR = await cli('rules', 'import', '--file', badRe);
  t.equal(badReR.code, 1);
  t.equal(JSON.parse(badReR.stdout).code, 400);

  // an error reply is printed (pretty), never written to the file
  const locked = await startTestServer(t, { authToken: 'secret' });
  const denied = await cliFor(locked.url, dir)('rules', 'export', '--output', path.join(dir, 'never.json'));
  t.same([denied.code, denied.stdout, denied.stderr], [1, '{\n  "error": "invalid or missing bearer token",\n  "code": 401\n}\n', '']);
  t.notOk(fs.existsSync(path.join(dir, 'never.json')), 'no file on an error reply');
  const deny = cliFor(s.url, dir, { KOOR_SERVER: 'http://127.0.0.1:1' });
  const unreachable = await deny('rules', 'export', '--output', path.join(dir, 'never.json'));
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, /^error: request failed: /);
  t.notOk(fs.existsSync(path.join(dir, 'never.json')), 'no file on a transport error');
});
