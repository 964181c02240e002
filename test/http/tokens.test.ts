import t from 'tap';
import postgres from 'postgres';
import { startTestServer, json, TEST_BACKEND } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/** Created tokens: POST/GET/DELETE /api/tokens, what a created token may do, revocation at once and across nodes. */

const ADMIN = { authorization: 'Bearer T', 'content-type': 'application/json' };
const post = (url: string, body: unknown, headers: Record<string, string> = ADMIN) => fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const status = async (r: Response) => {
  await r.arrayBuffer();
  return r.status;
};

t.test('create, list, use, revoke', async (t) => {
  const s = await startTestServer(t, { authToken: 'T' });
  const u = (p: string) => `${s.url}${p}`;
  const r = await post(u('/api/tokens'), { name: 'ci', role: 'agent', scopes: ['project:web', 'state:web/**', 'topic:web.*'], ttl: '1h' });
  t.equal(r.status, 200);
  const made = await json(r);
  t.same(Object.keys(made), ['id', 'name', 'role', 'scopes', 'created_at', 'expires_at', 'token']);
  t.match(made, { name: 'ci', role: 'agent', scopes: ['project:web', 'state:web/**', 'topic:web.*'] });
  t.match(made.token, /^koor_[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
  const ttl = Date.parse(made.expires_at) - Date.parse(made.created_at);
  t.ok(ttl >= 3599_000 && ttl <= 3601_000, `expires an hour after its creation (${ttl} ms)`);

  // It authenticates, as no agent, within its scopes (a whole listing would be out of them).
  const got = await fetch(u('/api/state?prefix=web/'), { headers: bearer(made.token) });
  t.equal(await status(got), 200, 'a created token authenticates');
  t.equal(await status(await fetch(u('/api/state'), { headers: bearer(made.token) })), 403, 'scoped: not every key');

  // The list never shows a token or its hash.
  const listed = await fetch(u('/api/tokens'), { headers: ADMIN });
  const text = await listed.text();
  t.equal(listed.status, 200);
  t.same(JSON.parse(text), [{ id: made.id, name: 'ci', role: 'agent', scopes: made.scopes, created_at: made.created_at, expires_at: made.expires_at }]);
  t.same(Object.keys(JSON.parse(text)[0]), ['id', 'name', 'role', 'scopes', 'created_at', 'expires_at'], 'no other member, in this order');
  t.notMatch(text, made.token.slice(5, 20), 'no token in the list');
  t.notMatch(text, /[0-9a-f]{64}/, 'no hash in the list');

  // Revoked: refused at once, like any unknown token.
  const rev = await fetch(u(`/api/tokens/${made.id}`), { method: 'DELETE', headers: ADMIN });
  t.same([rev.status, await json(rev)], [200, { revoked: made.id }]);
  const dead = await waitUntil('the revoked token refused', async () => {
    const x = await fetch(u('/api/state'), { headers: bearer(made.token) });
    return x.status === 401 ? json(x) : (await x.arrayBuffer(), false);
  }, TEST_BACKEND === 'cluster' ? 1000 : 0);
  t.same(dead, { error: 'invalid or missing bearer token', code: 401 });
  const again = await fetch(u(`/api/tokens/${made.id}`), { method: 'DELETE', headers: ADMIN });
  t.same([again.status, await json(again)], [404, { error: `token not found: ${made.id}`, code: 404 }]);
  t.same(await json(await fetch(u('/api/tokens'), { headers: ADMIN })), []);

  // Audited: who created and revoked what (never the token).
  const audit = await json(await fetch(u('/api/audit?limit=50'), { headers: ADMIN }));
  t.ok(Array.isArray(audit), JSON.stringify(audit).slice(0, 300));
  const entries = audit as Array<{ action: string; resource: string; detail: unknown }>;
  const mine = entries.filter((e) => e.action.startsWith('token.'));
  t.same(mine.map((e) => [e.action, e.resource]).sort(), [['token.create', made.id], ['token.revoke', made.id]]);
  t.notMatch(JSON.stringify(audit), made.token.slice(5, 20));
});

t.test("a token scoped to a project lists and exports that project's rules, not every project's", async (t) => {
  // The rule checked ?project= against the token's scopes, but the handlers ignored it and answered every project's rules.
  const s = await startTestServer(t, { authToken: 'T' });
  const u = (p: string) => `${s.url}${p}`;
  t.equal((await post(u('/api/rules/import'), [{ project: 'web', rule_id: 'w1', pattern: 'x' }, { project: 'api', rule_id: 'a1', pattern: 'y' }])).status, 200);
  const made = await json(await post(u('/api/tokens'), { name: 'web-ci', role: 'reader', scopes: ['project:web'] }));
  const read = async (p: string) => {
    const r = await fetch(u(p), { headers: bearer(made.token) });
    return [r.status, await json(r)] as const;
  };
  const [ls, listed] = await read('/api/rules?project=web');
  t.equal(ls, 200);
  t.same((listed as Array<{ project: string }>).map((r) => r.project), ['web'], "only web's rules");
  const [es, exported] = await read('/api/rules/export?project=web&source=external');
  t.equal(es, 200);
  t.same((exported as Array<{ project: string }>).map((r) => r.project), ['web'], "only web's rules exported");
  t.equal((await read('/api/rules?project=api'))[0], 403, 'another project: refused');
  t.equal((await read('/api/rules'))[0], 403, 'no project: refused');
  const all = await json(await fetch(u('/api/rules'), { headers: ADMIN }));
  t.same((all as Array<{ project: string }>).map((r) => r.project).sort(), ['api', 'web'], 'an admin without ?project= still lists every project');
});

t.test('an expired token is refused like an unknown one', async (t) => {
  const s = await startTestServer(t, { authToken: 'T' });
  const made = await json(await post(`${s.url}/api/tokens`, { name: 'short', role: 'reader', ttl: 1 }));
  const first = await fetch(`${s.url}/api/state`, { headers: bearer(made.token) });
  // Created within the same second as its expiry may fall: it may already be refused.
  t.ok([200, 401].includes(await status(first)));
  const refused = await waitUntil('the token to expire', async () => {
    const x = await fetch(`${s.url}/api/state`, { headers: bearer(made.token) });
    return x.status === 401 ? json(x) : (await x.arrayBuffer(), false);
  }, 3000);
  t.same(refused, { error: 'invalid or missing bearer token', code: 401 });
  t.ok(Date.now() >= Date.parse(made.expires_at), 'not before its expires_at');
  t.same((await json(await fetch(`${s.url}/api/tokens`, { headers: ADMIN })))[0].id, made.id, 'still listed until revoked');
});

t.test('bodies are checked: name and role required, roles and scopes known, ttl readable', async (t) => {
  const s = await startTestServer(t, { authToken: 'T' });
  const bad = async (body: unknown) => {
    const r = await post(`${s.url}/api/tokens`, body);
    return [r.status, (await json(r)).error];
  };
  t.same(await bad({ role: 'agent' }), [400, 'name and role are required']);
  t.same(await bad({ name: 'x' }), [400, 'name and role are required']);
  t.same(await bad({ name: 'x', role: 'root' }), [400, 'role must be admin, agent or reader: "root"']);
  t.same(await bad({ name: 'x', role: 'agent', scopes: ['repo:web', 'project:web', 'db:x'] }), [400, 'unknown scope kinds: repo, db (known: project, state, topic, path)']);
  t.same(await bad({ name: 'x', role: 'agent', scopes: ['web'] }), [400, 'unknown scope kind: web (known: project, state, topic, path)']);
  t.same(await bad({ name: 'x', role: 'agent', scopes: ['topic:'] }), [400, 'invalid scope "topic:": expected topic:<glob>']);
  t.same(await bad({ name: 'x', role: 'agent', scopes: ['project:w*'] }), [400, 'invalid scope "project:w*": a project is a name, not a glob']);
  t.same(await bad({ name: 'x', role: 'agent', scopes: ['topic:a.[b'] }), [400, 'invalid scope "topic:a.[b": not a topic glob']);
  t.same(await bad({ name: 'x', role: 'agent', scopes: 'project:web' }), [400, 'scopes: expected array or null']);
  t.same(await bad({ name: 'x', role: 'agent', ttl: 'soon' }), [400, 'ttl must be a positive number of seconds or a duration like 90d, 12h, 30m: "soon"']);
  t.same(await bad({ name: 'x', role: 'agent', ttl: '0s' }), [400, 'ttl must be a positive number of seconds or a duration like 90d, 12h, 30m: "0s"']);
  const ok = await json(await post(`${s.url}/api/tokens`, { name: 'x', role: 'reader', ttl: '90d', scopes: null }));
  t.same([ok.scopes, Date.parse(ok.expires_at) - Date.parse(ok.created_at)], [[], 90 * 86_400_000]);
  const forever = await json(await post(`${s.url}/api/tokens`, { name: 'y', role: 'admin' }));
  t.equal(forever.expires_at, null, 'no ttl: never expires');
});

t.test('only an admin manages tokens (until the permission table says so)', async (t) => {
  const s = await startTestServer(t, { authToken: 'T' });
  const agent = await json(await post(`${s.url}/api/instances/register`, { name: 'a' }));
  const reader = await json(await post(`${s.url}/api/tokens`, { name: 'r', role: 'reader' }));
  const createdAdmin = await json(await post(`${s.url}/api/tokens`, { name: 'ops', role: 'admin' }));
  for (const [who, token] of [['agent', agent.token], ['reader', reader.token]] as const) {
    const c = await post(`${s.url}/api/tokens`, { name: 'x', role: 'admin' }, { ...bearer(token), 'content-type': 'application/json' });
    t.same([c.status, await json(c)], [403, { error: `${who} token may not manage tokens`, code: 403 }], `${who}: create`);
    const l = await fetch(`${s.url}/api/tokens`, { headers: bearer(token) });
    t.equal(await status(l), 403, `${who}: list`);
    const d = await fetch(`${s.url}/api/tokens/${reader.id}`, { method: 'DELETE', headers: bearer(token) });
    t.equal(await status(d), 403, `${who}: revoke`);
  }
  const byAdmin = await post(`${s.url}/api/tokens`, { name: 'z', role: 'reader' }, { ...bearer(createdAdmin.token), 'content-type': 'application/json' });
  t.equal(await status(byAdmin), 200, 'a token created as admin manages tokens');
});

t.test('a created token survives a restart; an instance token too', async (t) => {
  const { tempDir } = await import('../helpers/server.js');
  const dataDir = tempDir(t);
  const s1 = await startTestServer(t, { dataDir, authToken: 'T' });
  const made = await json(await post(`${s1.url}/api/tokens`, { name: 'keep', role: 'reader' }));
  await s1.close();
  const s2 = await startTestServer(t, { dataDir, authToken: 'T' });
  t.equal(await status(await fetch(`${s2.url}/api/state`, { headers: bearer(made.token) })), 200);
});

t.test('cluster: a token revoked, or removed without a notification, is refused on every node within a second', async (t) => {
  if (TEST_BACKEND !== 'cluster') return t.skip('the cluster pass runs it (KOOR_TEST_BACKEND=cluster)');
  const s = await startTestServer(t, { authToken: 'T' });
  const sql = postgres(s.config.database, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  const everyNode = async (token: string) => Promise.all(s.nodeUrls.map(async (n) => status(await fetch(`${n}/api/state`, { headers: bearer(token) }))));
  const everyOk = s.nodeUrls.map(() => 200);
  /** ms until every node refuses `token`, polled every 20 ms. */
  const refusedEverywhere = async (token: string, since: number) => {
    await waitUntil('every node refusing the token', async () => (await everyNode(token)).every((x) => x === 401), 2000, 20);
    return Date.now() - since;
  };

  // Revoked through one node.
  const a = await json(await post(`${s.url}/api/tokens`, { name: 'a', role: 'agent' }));
  t.same(await everyNode(a.token), everyOk, 'every node knows it (and remembers it)');
  const t0 = Date.now();
  t.equal(await status(await fetch(`${s.nodeUrls[0]}/api/tokens/${a.id}`, { method: 'DELETE', headers: ADMIN })), 200);
  const ms = await refusedEverywhere(a.token, t0);
  t.ok(ms <= 1000, `revoked: refused on every node after ${ms} ms`);

  // Deleted behind the server's back: no notification, only the confirmation bound holds.
  const b = await json(await post(`${s.url}/api/tokens`, { name: 'b', role: 'agent' }));
  t.same(await everyNode(b.token), everyOk);
  const t1 = Date.now();
  await sql`DELETE FROM api_tokens WHERE id = ${b.id}`;
  const quiet = await refusedEverywhere(b.token, t1);
  t.ok(quiet <= 1000, `gone without a notification: refused on every node after ${quiet} ms`);

  // An agent's instance token, the same.
  const agent = await json(await post(`${s.url}/api/instances/register`, { name: 'gone' }));
  t.same(await everyNode(agent.token), everyOk);
  const t2 = Date.now();
  await sql`DELETE FROM instances WHERE id = ${agent.id}`;
  const inst = await refusedEverywhere(agent.token, t2);
  t.ok(inst <= 1000, `an instance removed without a notification: its token refused on every node after ${inst} ms`);
});

t.test('expired tokens are deleted after --expired-token-retention; at most 1,000 tokens', async (t) => {
  const s = await startTestServer(t, { authToken: 'T', expiredTokenRetentionMs: 1000 });
  const short = await json(await post(`${s.url}/api/tokens`, { name: 'short', role: 'reader', ttl: 1 }));
  const kept = await json(await post(`${s.url}/api/tokens`, { name: 'kept', role: 'reader' }));
  const ids = async () => ((await json(await fetch(`${s.url}/api/tokens`, { headers: ADMIN }))) as Array<{ id: string }>).map((x) => x.id);
  // Times are kept to the second: listed while within a second of its expiry, gone once past it.
  const gone = await waitUntil('the expired token pruned', async () => {
    await s.retention.runPass();
    const now = await ids();
    return !now.includes(short.id) ? now : false;
  }, 10_000);
  t.same(gone, [kept.id], 'only the expired one went');
  t.ok(Date.now() >= Date.parse(short.expires_at) + 1000, 'not before a second past its expiry');
  t.match(await (await fetch(`${s.nodeUrls[0]}/metrics`, { headers: ADMIN })).text(), /koor_retention_pruned_total\{table="api_tokens"\} 1/);

  // The cap: 1,000 in all (the one kept counts).
  for (let i = 0; i < 999; i += 37) {
    const batch = Array.from({ length: Math.min(37, 999 - i) }, (_, j) => post(`${s.url}/api/tokens`, { name: `t${i + j}`, role: 'reader' }).then(status));
    t.same([...new Set(await Promise.all(batch))], [200], `tokens ${i + 1}…`);
  }
  const over = await post(`${s.url}/api/tokens`, { name: 'one-too-many', role: 'reader' });
  t.same([over.status, await json(over)], [400, { error: 'too many tokens: 1001 (max 1000)', code: 400 }]);
});
