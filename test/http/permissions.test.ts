import t from 'tap';
import WebSocket from 'ws';
import type { Rule } from '../../src/http/permissions.js';
import { routeName } from '../../src/http/route.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The authorization matrix, built from the routes the server declares: every REST route
 * × every role (admin, agent, reader) × in or out of a token's scopes → the status its rule
 * (src/http/route.ts `rule`, src/http/permissions.ts) says, through HTTP on one real server with
 * auth on. A route cannot be declared without a rule (the type requires one).
 */

const SERVER_TOKEN = 'matrix-server-token';
/** Scoped tokens reach the project `web` (its specs, rules, tasks, keys `web/**`, topics `web.*`). */
const SCOPES = ['project:web', 'state:shared/**', 'topic:ci.*'];

type Call = { status: number; body: any };

t.test('the matrix: each route with each role, in and out of scope, answers as its rule says', async (t) => {
  const s = await startTestServer(t, { authToken: SERVER_TOKEN });
  const rules = new Map(s.routes.map((r) => [routeName(r), r.rule]));
  // An agent deregistering itself ends its token: last.
  const ROUTES = [...rules.keys()].sort((a, b) => Number(a === 'DELETE /api/instances/:id') - Number(b === 'DELETE /api/instances/:id'));
  t.same(s.sockets.map(routeName).sort(), ['GET /api/events/subscribe', 'GET /api/inbox/subscribe', 'GET /api/specs/watch', 'GET /api/state/watch'], 'the WebSocket routes (checked below and in test/http/subscribe, state-watch, inbox)');
  const call = async (method: string, path: string, token: string, body?: unknown, instance?: string): Promise<Call> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(instance ? { 'x-koor-instance': instance } : {}) };
    const r = await fetch(`${s.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: r.status, body: parsed };
  };
  const admin = SERVER_TOKEN;
  const register = async (name: string) => (await call('POST', '/api/instances/register', admin, { name })).body as { id: string; token: string };
  const me = await register('me');
  const other = await register('other');
  const created = async (role: string, scopes?: string[]) => {
    const r = await call('POST', '/api/tokens', admin, { name: `${role}-${scopes ? 'scoped' : 'all'}`, role, ...(scopes ? { scopes } : {}) });
    if (r.status !== 200) throw new Error(`token ${role}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token as string;
  };
  const tokens: Record<string, string> = { admin, agent: me.token, reader: await created('reader'), 'scoped-agent': await created('agent', SCOPES) };
  // The scoped token acts as an agent it registered (X-Koor-Instance); a peer in `web` receives `project:web` mail.
  const mine = (await call('POST', '/api/instances/register', tokens['scoped-agent']!, { name: 'mine', workspace: '/w/web' })).body as { id: string };
  await call('POST', '/api/instances/register', admin, { name: 'peer', workspace: '/w/web' });
  const acting: Record<string, string | undefined> = { 'scoped-agent': mine.id };
  const ownId: Record<string, string> = { agent: me.id, 'scoped-agent': mine.id };

  /** A concrete request for a route: in scope (`web`, `shared/…`, `ci.…`, `web/x.ts`) or out of it (`ops`). */
  const request = (route: string, inScope: boolean, selfId: string, who: string) => {
    const [method, pattern] = route.split(' ') as [string, string];
    const project = inScope ? 'web' : 'ops';
    const path = pattern
      .replace('/api/state/*', `/api/state/${inScope ? 'shared/k' : 'ops/k'}`)
      .replace(/\/api\/instances\/:id/, `/api/instances/${selfId}`)
      .replace(':project', project)
      .replace(':rule', 'r1')
      .replace(':name', 'n1')
      .replace(':id', '1');
    const query =
      route === 'GET /api/state'
        ? `?prefix=${inScope ? 'shared/' : 'ops/'}`
        : route === 'GET /api/tasks' || route === 'GET /api/rules' || route === 'GET /api/rules/export' || route === 'GET /api/llm/usage' || route === 'GET /api/llm/usage/summary'
          ? `?project=${project}`
          : route === 'GET /api/events/history'
            ? `?topic=${inScope ? 'ci.build' : 'ops.x'}`
            : route === 'GET /api/leases'
              ? `?resource=${project}/x.ts`
              : route === 'GET /api/leases/check'
                ? `?path=${project}/x.ts`
                : route === 'GET /api/budgets'
                  ? `?scope=project:${project}`
                  : '';
    const file = `${project}/x.ts`;
    const body =
      method === 'GET'
        ? undefined
        : { project, topic: inScope ? 'ci.build' : 'ops.x', title: 't', name: 'n', rule_id: 'r1', pattern: 'x', message: 'm', to: [`project:${project}`], body: 'b', resources: [file], paths: [file], session_id: `s-${who}`, cwd: `/w/${project}`, hook_event_name: 'Stop' };
    return { method, path: path + query, body };
  };
  // `self` on an agent not its own: `other` is the operator's (the refusal names it, and how to act as one's own).
  const notOwn: Record<string, string> = {
    agent: "agent token may not act as agent other: it is agent me's token",
    'scoped-agent': 'agent token may not act as agent other: this token did not register it; act as your own agent with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)',
  };
  const expectRefused = (rule: Rule, role: string, scoped: boolean): string => (scoped ? `${role} token may not ${rule.action} outside its scopes` : `${role} token may not ${rule.action}`);

  let checked = 0;
  for (const route of ROUTES) {
    const rule = rules.get(route)!;
    if (rule.access === 'public') continue;
    // Destructive admin routes are checked for refusal only (a restore would replace the data under the test).
    const refusalOnly = route === 'POST /api/admin/restore' || route === 'POST /api/metrics/reset';
    for (const [who, role] of [['admin', 'admin'], ['agent', 'agent'], ['reader', 'reader'], ['scoped-agent', 'agent']] as const) {
      const allowedRole = rule.access === 'read' || (rule.access === 'admin' ? role === 'admin' : role !== 'reader');
      if (refusalOnly && allowedRole) continue;
      const cases: Array<{ inScope: boolean; self: string }> =
        rule.access === 'self'
          ? [{ inScope: true, self: other.id }, { inScope: true, self: ownId[who] ?? me.id }]
          : who === 'scoped-agent' && rule.scope
            ? [{ inScope: true, self: mine.id }, { inScope: false, self: mine.id }]
            : [{ inScope: true, self: ownId[who] ?? me.id }];
      // The operator deregistering an agent: one made for it, so `me` and `other` stay for the roles after.
      const victim = route === 'DELETE /api/instances/:id' && role === 'admin' ? (await register('victim')).id : null;
      for (const c of cases) {
        const req = request(route, c.inScope, victim ?? c.self, who);
        const r = await call(req.method, req.path, tokens[who]!, req.body, acting[who]);
        // `self`: an agent on its own instance (the created token's: the one it registered and acts as).
        const selfRefused = rule.access === 'self' && role === 'agent' && c.self !== ownId[who];
        const scopeRefused = who === 'scoped-agent' && rule.scope !== undefined && !c.inScope && allowedRole;
        const label = `${who} ${req.method} ${req.path}`;
        checked++;
        if (!allowedRole) t.same([r.status, r.body?.error], [403, expectRefused(rule, role, false)], `${label}: refused`);
        else if (selfRefused) t.same([r.status, r.body?.error], [403, notOwn[who]], `${label}: refused`);
        else if (scopeRefused) t.same([r.status, String(r.body?.error).split(': ')[0]], [403, expectRefused(rule, role, true)], `${label}: out of scope, naming what (${r.body?.error})`);
        else t.not(r.status, 403, `${label}: allowed (${r.status}${r.status >= 400 ? ` ${JSON.stringify(r.body)}` : ''})`);
      }
    }
  }
  t.ok(checked > 250, `${checked} calls checked`);

  // Refusals are audited (up to 20 entries a second: the matrix made far more) and counted.
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await call('POST', '/api/rules/web/r1/accept', other.token)).status, 403);
  // Written after the refusal is answered (it must not slow it down): looked for until it is there.
  const audited = await waitUntil('the refusal audited', async () => {
    const audit = (await call('GET', '/api/audit?action=auth.denied&limit=1000', admin)).body as Array<{ actor: string; resource: string; outcome: string }>;
    return audit.some((a) => a.actor === 'other' && a.resource === 'POST /api/rules/:project/:rule/accept' && a.outcome === 'denied');
  }, 10_000).catch(() => false);
  t.ok(audited, 'an agent accepting a rule: audited');
  t.match(await (await fetch(`${s.nodeUrls[0]}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text(), /koor_auth_denied_total\{role="reader"\} [1-9]/);
});

t.test('B cannot act on A: deregister, heartbeat, capabilities, intent over MCP; nor accept a rule, back up, delete a webhook', async (t) => {
  const s = await startTestServer(t, { authToken: SERVER_TOKEN });
  const call = async (method: string, path: string, token: string, body?: unknown): Promise<Call> => {
    const r = await fetch(`${s.url}${path}`, { method, headers: { authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
  };
  const a = (await call('POST', '/api/instances/register', SERVER_TOKEN, { name: 'a' })).body;
  const b = (await call('POST', '/api/instances/register', SERVER_TOKEN, { name: 'b' })).body;
  await call('POST', '/api/rules/propose', b.token, { project: 'web', rule_id: 'mine', pattern: 'x', message: 'm' });
  const hook = (await call('POST', '/api/webhooks', SERVER_TOKEN, { url: 'http://127.0.0.1:9/h', patterns: ['*'] })).body;
  for (const [method, path, body, error] of [
    ['DELETE', `/api/instances/${a.id}`, undefined, "agent token may not act as agent a: it is agent b's token"],
    ['POST', `/api/instances/${a.id}/heartbeat`, undefined, "agent token may not act as agent a: it is agent b's token"],
    ['POST', `/api/instances/${a.id}/capabilities`, { capabilities: ['x'] }, "agent token may not act as agent a: it is agent b's token"],
    ['POST', '/api/rules/web/mine/accept', undefined, 'agent token may not accept rules'],
    ['GET', '/api/admin/backup', undefined, 'agent token may not take backups'],
    ['POST', '/api/admin/restore', 'x', 'agent token may not restore backups'],
    ['DELETE', `/api/webhooks/${hook.id}`, undefined, 'agent token may not delete webhooks'],
  ] as const) {
    t.same(await call(method, path, b.token, body).then((r) => [r.status, r.body]), [403, { error, code: 403 }], `${method} ${path}`);
  }
  t.equal((await call('GET', `/api/instances/${a.id}`, SERVER_TOKEN)).status, 200, 'A is still there');
  t.equal((await call('POST', `/api/instances/${b.id}/heartbeat`, b.token)).status, 200, 'B on itself: fine');
  // X-Koor-Instance is the operator's: with B's token it does not make B act as A.
  const r = await fetch(`${s.url}/api/instances/${a.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${b.token}`, 'x-koor-instance': a.id } });
  t.equal(r.status, 403);

  // MCP: set_intent of another agent is refused, of its own allowed.
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const client = new Client({ name: 'matrix', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${b.token}` } } }));
  t.teardown(() => client.close());
  const other = (await client.callTool({ name: 'set_intent', arguments: { instance_id: a.id, intent: 'hijack' } })) as { isError?: boolean; content: Array<{ text: string }> };
  t.same([other.isError, other.content[0]!.text], [true, "agent token may not act as agent a: it is agent b's token"]);
  const own = (await client.callTool({ name: 'set_intent', arguments: { instance_id: b.id, intent: 'mine' } })) as { isError?: boolean };
  t.notOk(own.isError, 'its own intent');
  t.equal((await call('GET', `/api/instances/${a.id}`, SERVER_TOKEN)).body.intent, '', "A's intent untouched");

  // WebSockets: the upgrade is refused with the same JSON.
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/inbox/subscribe`, { headers: { authorization: `Bearer ${SERVER_TOKEN}` } });
    ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', () => {});
  });
  t.equal(refused, 400, 'an inbox needs an identity (the operator has none)');
});

t.test('watches: a scoped token watches only the keys and projects its scopes reach', async (t) => {
  const s = await startTestServer(t, { authToken: SERVER_TOKEN });
  const r = await fetch(`${s.url}/api/tokens`, { method: 'POST', headers: { authorization: `Bearer ${SERVER_TOKEN}` }, body: JSON.stringify({ name: 'watcher', role: 'reader', scopes: SCOPES }) });
  const token = ((await r.json()) as { token: string }).token;
  const upgrade = (path: string) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(`${s.url.replace('http', 'ws')}${path}`, { headers: { authorization: `Bearer ${token}` } });
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', () => {});
    });
  t.equal(await upgrade('/api/state/watch?prefix=web/'), 101, 'a prefix inside project:web');
  t.equal(await upgrade('/api/state/watch?prefix=shared/'), 101, 'a prefix inside state:shared/**');
  t.equal(await upgrade('/api/state/watch?prefix=sha'), 403, 'a prefix reaching past state:shared/** (sha…)');
  t.equal(await upgrade('/api/state/watch?prefix=ops/'), 403, 'a prefix outside its scopes');
  t.equal(await upgrade('/api/state/watch'), 403, 'the whole store');
  t.equal(await upgrade('/api/specs/watch?project=web'), 101, 'its project');
  t.equal(await upgrade('/api/specs/watch?project=ops'), 403, 'another project');
});

t.test('transactions: a scoped token reaches every key and topic of one, or it is refused whole', async (t) => {
  const s = await startTestServer(t, { authToken: SERVER_TOKEN });
  const r = await fetch(`${s.url}/api/tokens`, { method: 'POST', headers: { authorization: `Bearer ${SERVER_TOKEN}` }, body: JSON.stringify({ name: 'txn', role: 'agent', scopes: SCOPES }) });
  const token = ((await r.json()) as { token: string }).token;
  const txn = async (body: unknown) => {
    const res = await fetch(`${s.url}/api/txn`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    return [res.status, ((await res.json()) as { error?: string }).error ?? null];
  };
  t.same(await txn({ compare: [{ key: 'web/a', exists: false }], success: [{ op: 'put', key: 'shared/b', value: 1 }, { op: 'publish', topic: 'ci.done' }] }), [200, null]);
  t.same(await txn({ success: [{ op: 'put', key: 'web/a', value: 1 }, { op: 'put', key: 'ops/b', value: 1 }] }), [403, 'agent token may not run transactions outside its scopes: key ops/b']);
  t.same(await txn({ compare: [{ key: 'ops/x', exists: true }], success: [] }), [403, 'agent token may not run transactions outside its scopes: key ops/x'], 'a compare counts');
  t.same(await txn({ success: [{ op: 'publish', topic: 'ops.x' }] }), [403, 'agent token may not run transactions outside its scopes: topic ops.x'], 'a topic counts');
  const a = await fetch(`${s.url}/api/state/web/a`, { headers: { authorization: `Bearer ${SERVER_TOKEN}` } });
  t.equal(a.status, 404, 'the refused transaction applied nothing');
});
