import path from 'node:path';
import t from 'tap';
import Database from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestServer, json } from '../helpers/server.js';
import { openPg } from '../../src/shared/pg.js';

type Server = Awaited<ReturnType<typeof startTestServer>>;

function api(s: Server) {
  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${s.url}${p}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    return { status: r.status, body: await json(r) };
  };
  return {
    call,
    put: (project: string, rules: unknown) => call('PUT', `/api/validate/${project}/rules`, rules),
    list: (project: string, q = '') => call('GET', `/api/validate/${project}/rules${q}`),
    validate: (project: string, body: unknown) => call('POST', `/api/validate/${project}`, body),
    propose: (body: unknown, headers?: Record<string, string>) => call('POST', '/api/rules/propose', body, headers),
  };
}

const err = (code: number, error: string) => ({ status: code, body: { error, code } });

t.test('PUT and GET rules: defaults, all statuses, stack filter, replace semantics', async (t) => {
  const s = await startTestServer(t);
  const a = api(s);
  t.same(await a.list('web'), { status: 200, body: { project: 'web', rules: [] } });

  const put = await a.put('web', [
    { rule_id: 'z-last', pattern: 'x', stack: 'goth', project: 'ignored', proposed_by: 'dropped', context: 'dropped' },
    { rule_id: 'a-first', pattern: 'y', severity: 'warning', match_type: 'missing', message: 'need y', applies_to: [], source: 'team' },
  ]);
  t.same(put, { status: 200, body: { project: 'web', count: 2 } });
  const list = await a.list('web');
  t.equal(list.status, 200);
  t.same(list.body.rules.map((r: any) => r.rule_id), ['a-first', 'z-last'], 'by rule_id');
  const z = list.body.rules[1];
  t.same({ ...z, created_at: undefined }, {
    project: 'web', rule_id: 'z-last', severity: 'error', match_type: 'regex', pattern: 'x', message: '', stack: 'goth',
    applies_to: ['*'], source: 'local', status: 'accepted', created_at: undefined,
  }, 'path project wins; defaults; proposed_by/context dropped');
  t.match(z.created_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, 'created_at is storage text');
  t.same(list.body.rules[0].applies_to, [], 'an explicit [] is kept');
  t.equal(list.body.rules[0].source, 'team');

  t.same((await a.list('web', '?stack=goth')).body.rules.map((r: any) => r.rule_id), ['a-first', 'z-last'], '"" and the stack');
  t.same((await a.list('web', '?stack=react')).body.rules.map((r: any) => r.rule_id), ['a-first']);

  // A proposed rule is replaced too (PUT replaces every status).
  t.equal((await a.propose({ project: 'web', rule_id: 'p1', pattern: 'q' })).status, 200);
  t.same((await a.list('web')).body.rules.map((r: any) => [r.rule_id, r.status]), [['a-first', 'accepted'], ['p1', 'proposed'], ['z-last', 'accepted']]);
  t.same(await a.put('web', [{ rule_id: 'only', pattern: 'o' }]), { status: 200, body: { project: 'web', count: 1 } });
  t.same((await a.list('web')).body.rules.map((r: any) => r.rule_id), ['only']);

  t.same(await a.put('web', [{ rule_id: 'd', pattern: '1' }, { rule_id: 'd', pattern: '2' }]), err(500, 'failed to save rules'));
  t.same((await a.list('web')).body.rules.map((r: any) => r.rule_id), ['only'], 'nothing changed');
  const bad = await a.put('web', [{ rule_id: 'ok', pattern: 'a' }, { rule_id: 'bad', pattern: '(unclosed' }]);
  t.equal(bad.status, 400);
  t.match(bad.body.error, /^rule "bad": invalid regex pattern: .*Unterminated group/, 'names the rule and the reason');
  t.same(await a.put('web', [{ rule_id: 'g', pattern: 'a', applies_to: ['['] }]), err(400, 'invalid pattern: ['));
  t.same((await a.list('web')).body.rules.map((r: any) => r.rule_id), ['only'], 'a refused PUT stores nothing');
  t.same(await a.put('web', { rule_id: 'x' }), err(400, 'body: expected array or null'));
  t.same(await a.put('web', [{ rule_id: 7 }]), err(400, '[0].rule_id: expected string or null'));

  t.same(await a.put('web', 'null'), { status: 200, body: { project: 'web', count: 0 } }, 'null deletes all');
  t.same((await a.list('web')).body.rules, []);
});

t.test('validate: regex, missing, custom, _global, stack and applies_to', async (t) => {
  const s = await startTestServer(t);
  const a = api(s);
  await a.put('web', [
    { rule_id: 'b-regex', pattern: '(?i)style\\s*=', message: 'no inline styles', applies_to: ['*.html', 'templates/*.templ'] },
    { rule_id: 'a-missing', match_type: 'missing', pattern: 'use strict' },
    { rule_id: 'c-console', match_type: 'custom', pattern: 'no-console-log', severity: 'warning' },
    { rule_id: 'd-custom-regex', match_type: 'custom', pattern: 'TODO' },
    { rule_id: 'e-other-type', match_type: 'ast', pattern: 'x' },
    { rule_id: 'f-goth', pattern: 'goth', stack: 'goth' },
    { rule_id: 'g-empty-match', pattern: 'z*' },
  ]);
  await a.put('_global', [{ rule_id: 'a-global', pattern: 'secret', message: 'no secrets' }]);

  const content = ['<div STYLE = "x" style="y">', 'console.log(1); console.log(2)', 'TODO: goth secret', 'zz'].join('\n');
  const r = await a.validate('web', { filename: 'pages/index.html', content });
  t.equal(r.status, 200);
  t.same(r.body.violations, [
    { rule_id: 'a-missing', severity: 'error', message: "required pattern 'use strict' not found" },
    { rule_id: 'b-regex', severity: 'error', message: 'no inline styles', line: 1, match: 'STYLE =' },
    { rule_id: 'c-console', severity: 'warning', message: "pattern 'console\\.log\\(' matched", line: 2, match: 'console.log(' },
    { rule_id: 'd-custom-regex', severity: 'error', message: "pattern 'TODO' matched", line: 3, match: 'TODO' },
    { rule_id: 'f-goth', severity: 'error', message: "pattern 'goth' matched", line: 3, match: 'goth' },
    { rule_id: 'g-empty-match', severity: 'error', message: "pattern 'z*' matched", line: 4, match: 'zz' },
    { rule_id: 'a-global', severity: 'error', message: 'no secrets', line: 3, match: 'secret' },
  ], 'project rules by id, then _global; one violation per matching line; empty matches on lines 1-3 ignored; unknown match type ignored');
  t.equal(r.body.count, 7);

  const other = await a.validate('web', { filename: 'src/app.ts', content, stack: 'react' });
  t.same(other.body.violations.map((v: any) => v.rule_id), ['a-missing', 'c-console', 'd-custom-regex', 'g-empty-match', 'a-global'], 'applies_to excludes b-regex; stack react excludes f-goth');
  const base = await a.validate('web', { filename: 'deep/templates/x.templ', content: 'style=1' });
  t.same(base.body.violations.map((v: any) => v.rule_id), ['a-missing'], 'the glob is tried on the whole name and the basename (neither matches "templates/*.templ" here)');
  const viaBase = await a.validate('web', { filename: 'templates/x.templ', content: 'style=1\nuse strict' });
  t.same(viaBase.body.violations.map((v: any) => v.rule_id), ['b-regex']);
  const noFile = await a.validate('web', { content: 'style=1\nuse strict' });
  t.same(noFile.body.violations.map((v: any) => v.rule_id), ['b-regex'], 'no filename: every rule runs');

  const globalOnly = await a.validate('_global', { content: 'secret' });
  t.same(globalOnly.body.violations.map((v: any) => v.rule_id), ['a-global'], '_global rules once');
  t.same(await a.validate('nobody', {}), { status: 200, body: { project: 'nobody', violations: [], count: 0 } }, 'no rules: no violations');
  t.same(await a.validate('web', 'null'), (await a.validate('web', {})), 'a null body reads as {}');
  t.same(await a.validate('web', { content: 5 }), err(400, 'content: expected string or null'));
  t.same(await a.validate('web', '{"content":'), err(400, 'invalid JSON body'));

  // A stored pattern that does not compile (written behind the API's back) reports itself.
  const legacy = "INSERT INTO validation_rules (project, rule_id, pattern, created_at) VALUES ('legacy', 'broken', '(x', '2026-01-01 00:00:00')";
  if (s.config.database) {
    const pg = openPg(s.config.database, { max: 1, name: 'koor-test' });
    await pg.unsafe(legacy);
    await pg.end();
  } else {
    const db = new Database(path.join(s.config.dataDir, 'data.db'));
    db.prepare(legacy).run();
    db.close();
  }
  const broken = await a.validate('legacy', { content: 'x' });
  t.equal(broken.body.violations.length, 1);
  t.match(broken.body.violations[0], { rule_id: 'broken', severity: 'error', message: /^invalid regex pattern: / });
});

t.test('rule lifecycle over REST: proposed never fires, accepted fires, rejected stays rejected', async (t) => {
  const s = await startTestServer(t);
  const a = api(s);
  t.same(await a.propose({}), err(400, 'project is required'));
  t.same(await a.propose({ project: 'p', pattern: 'x' }), err(400, 'rule_id is required'));
  t.same(await a.propose({ project: 'p', rule_id: 'r' }), err(400, 'pattern is required'));
  t.same(await a.propose('null'), err(400, 'project is required'));
  t.match(await a.propose({ project: 'p', rule_id: 'r', pattern: '(' }), { status: 400, body: { error: /^invalid regex pattern: / } });

  const reg = await a.call('POST', '/api/instances/register', { name: 'fixer' });
  t.same(await a.propose({ project: 'p', rule_id: 'no-eval', pattern: 'eval\\(', message: 'no eval', context: 'broke prod' }, { 'X-Koor-Instance': reg.body.id }), {
    status: 200,
    body: { project: 'p', rule_id: 'no-eval', status: 'proposed' },
  });
  t.same(await a.propose({ project: 'p', rule_id: 'no-eval', pattern: 'other' }), err(409, 'failed to propose rule'), 'duplicate → 409, no overwrite');
  const stored = (await a.list('p')).body.rules[0];
  t.match(stored, { status: 'proposed', source: 'learned', pattern: 'eval\\(', proposed_by: reg.body.id, context: 'broke prod' }, 'proposer defaults to the caller');

  t.same((await a.validate('p', { content: 'eval(x)' })).body.count, 0, 'a proposed rule does not fire');
  t.same(await a.call('POST', '/api/rules/p/no-eval/accept'), { status: 200, body: { project: 'p', rule_id: 'no-eval', status: 'accepted' } });
  t.same((await a.validate('p', { content: 'eval(x)' })).body.violations, [{ rule_id: 'no-eval', severity: 'error', message: 'no eval', line: 1, match: 'eval(' }]);
  t.same(await a.call('POST', '/api/rules/p/no-eval/accept'), err(404, 'proposed rule not found: p/no-eval'), 'only a proposed rule');
  t.same(await a.call('POST', '/api/rules/p/no-eval/reject'), err(404, 'proposed rule not found: p/no-eval'));

  await a.propose({ project: 'p', rule_id: 'meh', pattern: 'meh' });
  t.same(await a.call('POST', '/api/rules/p/meh/reject'), { status: 200, body: { project: 'p', rule_id: 'meh', status: 'rejected' } });
  t.same(await a.call('POST', '/api/rules/p/meh/accept'), err(404, 'proposed rule not found: p/meh'), 'rejected stays rejected');
  t.same((await a.validate('p', { content: 'meh' })).body.count, 0);
  t.same(await a.call('POST', '/api/rules/p/ghost/accept'), err(404, 'proposed rule not found: p/ghost'));
});

t.test('export and import', async (t) => {
  const s = await startTestServer(t);
  const a = api(s);
  await a.put('b', [{ rule_id: 'loc', pattern: 'l' }]);
  await a.put('a', [{ rule_id: 'ext', pattern: 'e', source: 'external' }, { rule_id: 'loc2', pattern: 'l2' }]);
  await a.propose({ project: 'a', rule_id: 'learned-1', pattern: 'x', proposed_by: 'bot', context: 'why' });
  await a.call('POST', '/api/rules/a/learned-1/accept');
  await a.propose({ project: 'a', rule_id: 'still-proposed', pattern: 'x' });

  const ex = await a.call('GET', '/api/rules/export');
  t.equal(ex.status, 200);
  t.same(ex.body.map((r: any) => `${r.project}/${r.rule_id}`), ['a/learned-1', 'a/loc2', 'b/loc'], 'accepted, local+learned, by project and rule_id');
  t.same((await a.call('GET', '/api/rules/export?source=external')).body.map((r: any) => r.rule_id), ['ext']);
  t.same((await a.call('GET', '/api/rules/export?source=nothing')).body, []);

  t.same(await a.call('POST', '/api/rules/import', []), err(400, 'empty rules array'));
  t.same(await a.call('POST', '/api/rules/import', 'null'), err(400, 'empty rules array'));
  t.same(await a.call('POST', '/api/rules/import', { a: 1 }), err(400, 'body: expected array or null'));
  t.match(await a.call('POST', '/api/rules/import', [{ project: 'c', rule_id: 'x', pattern: '[' }]), { status: 400, body: { error: /^invalid regex pattern: / } });

  const imp = await a.call('POST', '/api/rules/import', [
    { project: 'a', rule_id: 'learned-1', pattern: 'changed', severity: 'warning', proposed_by: 'ignored', context: 'ignored' },
    { project: 'a', rule_id: 'still-proposed', pattern: 'now-accepted' },
    { project: 'c', rule_id: 'new', pattern: 'n', proposed_by: 'importer', context: 'ctx' },
    { project: 'c', rule_id: 'no-pattern' },
    { rule_id: 'no-project', pattern: 'x' },
  ]);
  t.same(imp, { status: 200, body: { imported: 3 } }, 'entries lacking project/rule_id/pattern skipped');
  const rulesA = (await a.list('a')).body.rules;
  t.match(rulesA.find((r: any) => r.rule_id === 'learned-1'), { pattern: 'changed', severity: 'warning', source: 'external', status: 'accepted', proposed_by: 'bot', context: 'why' }, 'update keeps stored proposed_by/context');
  t.match(rulesA.find((r: any) => r.rule_id === 'still-proposed'), { pattern: 'now-accepted', status: 'accepted' }, 'import forces accepted');
  t.match((await a.list('c')).body.rules, [{ rule_id: 'new', source: 'external', status: 'accepted', severity: 'error', match_type: 'regex', applies_to: ['*'], proposed_by: 'importer', context: 'ctx' }]);

  // Round trip: what export gives, import takes back into an empty server.
  const s2 = await startTestServer(t);
  const all = (await a.call('GET', '/api/rules/export?source=local,learned,external')).body;
  t.same((await api(s2).call('POST', '/api/rules/import', all)).body, { imported: all.length });
  t.same((await api(s2).call('GET', '/api/rules/export?source=local,learned,external')).body.map((r: any) => [r.project, r.rule_id, r.pattern]), all.map((r: any) => [r.project, r.rule_id, r.pattern]));
});

t.test('every project\'s rules by status, and deleting one rule (extensions for the dashboard)', async (t) => {
  const s = await startTestServer(t);
  const a = api(s);
  await a.put('b', [{ rule_id: 'acc', pattern: 'a' }]);
  await a.propose({ project: 'a', rule_id: 'wait', pattern: 'w', proposed_by: 'bot' });
  await a.propose({ project: 'c', rule_id: 'nope', pattern: 'n' });
  await a.call('POST', '/api/rules/c/nope/reject');

  const all = await a.call('GET', '/api/rules');
  t.equal(all.status, 200);
  t.same(all.body.map((r: any) => [r.project, r.rule_id, r.status]), [['a', 'wait', 'proposed'], ['b', 'acc', 'accepted'], ['c', 'nope', 'rejected']], 'every status, by project and rule_id');
  t.match((await a.call('GET', '/api/rules?status=proposed')).body, [{ project: 'a', rule_id: 'wait', status: 'proposed', proposed_by: 'bot' }]);
  t.same((await a.call('GET', '/api/rules?status=accepted')).body.map((r: any) => r.rule_id), ['acc']);
  t.same(await a.call('GET', '/api/rules?status=maybe'), err(400, 'status must be accepted, proposed or rejected'));

  t.same(await a.call('DELETE', '/api/rules/a/wait'), { status: 200, body: { deleted: 'a/wait' } }, 'a proposed rule can be deleted');
  t.same(await a.call('DELETE', '/api/rules/b/acc'), { status: 200, body: { deleted: 'b/acc' } });
  t.same(await a.call('DELETE', '/api/rules/b/acc'), err(404, 'rule not found: b/acc'));
  t.same((await a.validate('b', { content: 'a' })).body.count, 0, 'a deleted rule no longer fires');
  t.same((await a.call('GET', '/api/rules')).body.map((r: any) => r.rule_id), ['nope']);
  const audit = (await a.call('GET', '/api/audit?action=rule.delete')).body;
  t.same(audit.map((e: any) => e.resource), ['b/acc', 'a/wait'], 'audited as rule.delete');
  const wrong = await a.call('PUT', '/api/rules/b/acc');
  t.equal(wrong.status, 405, 'other methods: 405');
});

t.test('a catastrophic pattern times out in the pool; the server keeps answering; other rules still report', async (t) => {
  const s = await startTestServer(t, { poolDeadlineMs: 1000 }, { oneNode: "reads the node's own pool figures" }); // microseconds of work for the fine rules: a wide margin on a loaded machine
  const a = api(s);
  await a.put('slow', [
    { rule_id: 'a-fine', pattern: 'a!' },
    { rule_id: 'b-catastrophic', pattern: '(a+)+$' },
    { rule_id: 'c-fine', pattern: '!' },
  ]);
  const content = `${'a'.repeat(40)}!`;
  let healthy = 0;
  let unhealthy = 0;
  let validating = true;
  const health = (async () => {
    while (validating) {
      const r = await fetch(`${s.url}/health`);
      await r.arrayBuffer();
      if (r.status === 200) healthy++;
      else unhealthy++;
    }
  })();
  const r = await a.validate('slow', { content });
  validating = false;
  await health;
  t.same(r.body.violations, [
    { rule_id: 'a-fine', severity: 'error', message: "pattern 'a!' matched", line: 1, match: 'a!' },
    { rule_id: 'b-catastrophic', severity: 'error', message: 'pattern timed out' },
    { rule_id: 'c-fine', severity: 'error', message: "pattern '!' matched", line: 1, match: '!' },
  ]);
  // The probe loop only advances when /health answers: a stalled event loop would leave it at 0
  // until the validation ended (the validation itself takes a budget of about 1 s, twice).
  t.ok(healthy >= 1, `GET /health answered while the validation ran (${healthy} answers)`);
  t.equal(unhealthy, 0);
  t.ok(s.pool.stats.timeouts >= 1, 'the pool job was cut off');
  // The pool recovered: a normal validation right after works.
  t.same((await a.validate('slow', { content: 'a!' })).body.count, 2);

  // Several runaway patterns in one project: each is reported, the request still ends.
  await a.put('worse', Array.from({ length: 5 }, (_, i) => ({ rule_id: `r${i}`, pattern: `(a+)+${'$'}` })).concat([{ rule_id: 'z', pattern: '!' }]));
  const w = await a.validate('worse', { content });
  t.equal(w.status, 200);
  t.same(w.body.violations.map((v: any) => [v.rule_id, v.message]), [
    ['r0', 'pattern timed out'], ['r1', 'pattern timed out'], ['r2', 'pattern timed out'],
    ['r3', 'pattern not run: the time budget went to patterns that timed out'],
    ['r4', 'pattern not run: the time budget went to patterns that timed out'],
    ['z', 'pattern not run: the time budget went to patterns that timed out'],
  ], 'after three runaway patterns, what the job had not reached is reported as not run');
});

t.test('a validation reports at most 1000 violations, and says so', async (t) => {
  const s = await startTestServer(t);
  const a = api(s);
  await a.put('big', [{ rule_id: 'a-every-line', pattern: 'x' }, { rule_id: 'b-also', pattern: 'x' }]);
  const r = await a.validate('big', { content: 'x\n'.repeat(5000) });
  t.equal(r.status, 200);
  t.equal(r.body.count, 1000);
  t.equal(r.body.violations.length, 1000);
  t.equal(r.body.truncated, true);
  t.same(r.body.violations.at(-1), { rule_id: 'a-every-line', severity: 'error', message: "pattern 'x' matched", line: 1000, match: 'x' }, 'rule order kept: the first rule fills the budget');
  const small = await a.validate('big', { content: 'x' });
  t.same(small.body, { project: 'big', count: 2, violations: small.body.violations }, 'no truncated member when nothing was cut');
});

t.test('MCP propose_rule, then REST accept, then validate fires it', async (t) => {
  const s = await startTestServer(t);
  const a = api(s);
  const client = new Client({ name: 'koor-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`)));
  t.teardown(() => client.close());
  const res: any = await client.callTool({ name: 'propose_rule', arguments: { project: 'shop', rule_id: 'no-any', pattern: ':\\s*any\\b', message: 'no any', match_type: 'regex' } });
  t.same(JSON.parse(res.content[0].text), { project: 'shop', rule_id: 'no-any', status: 'proposed', message: 'Rule proposed successfully. It will be reviewed by the user before activation.' });
  const custom: any = await client.callTool({ name: 'propose_rule', arguments: { project: 'shop', rule_id: 'no-log', pattern: 'no-console-log', match_type: 'custom', message: 'm' } });
  t.notOk(custom.isError, 'the built-in custom pattern name is accepted');
  t.equal((await a.validate('shop', { content: 'let x: any' })).body.count, 0);
  await a.call('POST', '/api/rules/shop/no-any/accept');
  t.same((await a.validate('shop', { content: 'ok\nlet x: any' })).body.violations, [{ rule_id: 'no-any', severity: 'error', message: 'no any', line: 2, match: ': any' }]);
});
