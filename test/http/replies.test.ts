import t from 'tap';
import { ErrorBody } from '../../schemas/errors.js';
import { Lease, LeaseListReply } from '../../schemas/http/leases.js';
import { Compile, type TSchema } from '../../schemas/typebox.js';
import { isMedia, routeName, type Body, type Route } from '../../src/http/route.js';
import { startReceiver } from '../helpers/receiver.js';
import { spawnServer, startTestServer, tempDir } from '../helpers/server.js';

/**
 * The reply schemas of schemas/http/ against a real server: every REST route is called
 * and its 200 body checked with the compiled validator of the reply its declaration names
 * (src/http/route.ts `replies`, or `modes` for a query that changes the reply), so a reply that
 * loses or renames a member, or changes a type, fails here, and so do the CLI and the dashboard,
 * which read replies through these types. Every declared JSON reply must have been called.
 */

type Headers = Record<string, string>;

const validators = new Map<TSchema, ReturnType<typeof Compile>>();
function validator(schema: TSchema) {
  let v = validators.get(schema);
  if (!v) validators.set(schema, (v = Compile(schema)));
  return v;
}

/** What a body breaks in `schema`, as `/path: message` lines ('' when it fits). */
function misfit(schema: TSchema, body: unknown): string {
  const v = validator(schema);
  if (v.Check(body)) return '';
  return [...v.Errors(body)].map((e) => `${e.instancePath || '/'}: ${e.message}`).join('\n');
}

/** The server's routes by `METHOD path` (the first test's server: all servers declare the same). */
let declared = new Map<string, Route>();
let declaredList: readonly Route[] = [];

/** The 200 body of `route` (`METHOD path`, or `METHOD path?mode` for a query that changes it). */
function replyOf(route: string): Body {
  const q = route.indexOf('?');
  const decl = declared.get(q < 0 ? route : route.slice(0, q));
  if (!decl) throw new Error(`no route ${route} is declared`);
  const body = q < 0 ? decl.replies[200] : decl.modes?.[route.slice(q + 1)];
  if (!body) throw new Error(`${route}: no such mode`);
  return body;
}

/** The routes a test called, to check that each declared JSON reply was exercised. */
const called = new Set<string>();

type Asserts = Pick<typeof t, 'equal' | 'ok'>;

function client(t: Asserts, base: string) {
  /** Calls `route` (the table's key) at `url`, expects 200 and a body that fits its schema. */
  return async <T = any>(route: string, url: string, init: { body?: unknown; headers?: Headers; nonEmpty?: boolean } = {}): Promise<T> => {
    const method = route.slice(0, route.indexOf(' '));
    const body = init.body === undefined ? undefined : typeof init.body === 'string' || init.body instanceof Uint8Array ? init.body : JSON.stringify(init.body);
    const r = await fetch(`${base}${url}`, { method, headers: init.headers, body: body as BodyInit | undefined });
    const text = await r.text();
    t.equal(r.status, 200, `${route} (${method} ${url}): 200 ${r.status === 200 ? '' : text}`);
    const parsed = JSON.parse(text) as T;
    const schema = replyOf(route);
    if (isMedia(schema)) throw new Error(`${route} has no reply schema`);
    t.equal(misfit(schema, parsed), '', `${route}: the reply fits its schema`);
    if (init.nonEmpty) t.ok(Array.isArray(parsed) ? parsed.length > 0 : true, `${route}: a non-empty list was checked`);
    called.add(route);
    return parsed;
  };
}

const CONTRACT = {
  kind: 'contract',
  version: 1,
  endpoints: {
    'POST /api/trucks': { request: { plate: { type: 'string', required: true } }, response: { id: { type: 'string', required: true } } },
    'GET /api/trucks': { response_array: { id: { type: 'string' } } },
    // No schema at all: a compliance run reports it.
    'DELETE /api/trucks': {},
  },
};

t.test('every REST reply fits its schema', async (t) => {
  const s = await startTestServer(t);
  declaredList = s.routes;
  declared = new Map(s.routes.map((r) => [routeName(r), r]));
  const rx = await startReceiver(t);
  const call = client(t, s.url);

  await call('GET /health', '/health');

  const alice = await call('POST /api/instances/register', '/api/instances/register', { body: { name: 'alice', workspace: 'web', stack: 'ts', capabilities: ['ts'] } });
  const bob = await call('POST /api/instances/register', '/api/instances/register', { body: { name: 'bob', capabilities: ['go'] } });
  const A: Headers = { 'x-koor-instance': alice.id };
  const B: Headers = { 'x-koor-instance': bob.id };
  await call('POST /api/instances/:id/activate', `/api/instances/${alice.id}/activate`);
  await call('POST /api/instances/:id/heartbeat', `/api/instances/${alice.id}/heartbeat`);
  await call('POST /api/instances/:id/capabilities', `/api/instances/${bob.id}/capabilities`, { body: { capabilities: ['go', 'sql'] } });
  await call('GET /api/instances', '/api/instances', { nonEmpty: true });
  await call('GET /api/instances/stale', '/api/instances/stale');
  await call('GET /api/instances/:id', `/api/instances/${alice.id}`);
  await call('POST /api/liveness/check', '/api/liveness/check');

  // State: two versions of one key, so history, diff and rollback have something to say.
  await call('PUT /api/state/*', '/api/state/app/config', { body: '{"name":"A","age":30}', headers: A });
  await call('PUT /api/state/*', '/api/state/app/config', { body: '{"name":"A","age":31,"city":"L"}', headers: A });
  await call('PUT /api/state/*', '/api/state/scratch', { body: 'x', headers: { 'content-type': 'text/plain' } });
  await call('GET /api/state', '/api/state', { nonEmpty: true });
  const hist = await call('GET /api/state/*?history', '/api/state/app/config?history=1');
  t.equal(hist.versions.length, 2);
  const diff = await call('GET /api/state/*?diff', '/api/state/app/config?diff=1,2');
  t.equal(diff.diffs.length, 2);
  await call('POST /api/state/*', '/api/state/app/config?rollback=1');
  await call('DELETE /api/state/*', '/api/state/scratch');
  await call('POST /api/txn', '/api/txn', { body: JSON.stringify({ compare: [{ key: 'app/config', exists: true }], success: [{ op: 'get', key: 'app/config' }, { op: 'put', key: 'app/txn', value: 1 }, { op: 'publish', topic: 'app.txn' }] }) });

  await call('PUT /api/specs/:project/:name', '/api/specs/web/trucks', { body: JSON.stringify(CONTRACT) });
  await call('PUT /api/specs/:project/:name', '/api/specs/web/notes', { body: '{"n":1}' });
  await call('GET /api/specs/:project', '/api/specs/web');
  await call('DELETE /api/specs/:project/:name', '/api/specs/web/notes');
  const bad = await call('POST /api/contracts/:project/:name/validate', '/api/contracts/web/trucks/validate', { body: { endpoint: 'POST /api/trucks', payload: { plate: 1 } } });
  t.equal(bad.violations.length, 1, 'a violation was checked');
  await call('POST /api/contracts/:project/:name/test', '/api/contracts/web/trucks/test', { body: { endpoint: 'POST /api/trucks', base_url: rx.url, test_data: { plate: 'AB-12' } } });

  await call('POST /api/events/publish', '/api/events/publish', { body: { topic: 'api.change', data: { n: 1 } }, headers: A });
  await call('POST /api/events/publish', '/api/events/publish', { body: { topic: 'api.none' } });
  await call('GET /api/events/history', '/api/events/history', { nonEmpty: true });

  const lease = await call('POST /api/leases', '/api/leases', { body: { resources: ['src/**'], ttl: '10m', reason: 'refactor' }, headers: A });
  await call('POST /api/leases', '/api/leases', { body: { resources: ['docs/*'], exclusive: false }, headers: B });
  await call('GET /api/leases', '/api/leases', { nonEmpty: true });
  await call('GET /api/leases/check', '/api/leases/check?path=src/a.ts&project=web', { nonEmpty: true });
  await call('POST /api/leases/check', '/api/leases/check', { body: { paths: ['src/a.ts', 'README.md'], project: 'web' }, nonEmpty: true });
  await call('GET /api/leases/:id', `/api/leases/${lease.id}`);
  await call('POST /api/leases/:id/renew', `/api/leases/${lease.id}/renew`, { body: { ttl: '20m' }, headers: A });
  await call('DELETE /api/leases/:id', `/api/leases/${lease.id}`, { headers: A });

  const task = await call('POST /api/tasks', '/api/tasks', { body: { project: 'web', title: 'one', data: { n: 1 }, capabilities: ['ts'] } });
  await call('POST /api/tasks', '/api/tasks', { body: { project: 'web', title: 'two', deps: [task.id] } });
  await call('POST /api/tasks', '/api/tasks', { body: { project: 'api', title: 'three' } });
  await call('POST /api/tasks', '/api/tasks', { body: { project: 'ops', title: 'four' } });
  await call('GET /api/tasks', '/api/tasks', { nonEmpty: true });
  const claimed = await call('POST /api/tasks/claim', '/api/tasks/claim', { body: { project: 'web' }, headers: A });
  await call('GET /api/tasks/:id', `/api/tasks/${claimed.id}`);
  await call('POST /api/tasks/:id/checkpoint', `/api/tasks/${claimed.id}/checkpoint`, { body: { done: 'half', next: 'the rest', data: { n: 1 } }, headers: A });
  await call('GET /api/tasks/:id/checkpoints', `/api/tasks/${claimed.id}/checkpoints`, { nonEmpty: true });
  await call('POST /api/tasks/:id/complete', `/api/tasks/${claimed.id}/complete`, { headers: A });
  const other = await call('POST /api/tasks/claim', '/api/tasks/claim', { body: { project: 'api' }, headers: B });
  await call('POST /api/tasks/:id/fail', `/api/tasks/${other.id}/fail`, { body: { reason: 'broken', retry: false }, headers: B });

  // The agent inbox.
  const msg = await call('POST /api/messages', '/api/messages', { body: { to: ['bob'], subject: 's', body: 'hello', ack_required: true }, headers: A });
  await call('POST /api/messages', '/api/messages', { body: { to: [alice.id], body: 'hi', reply_to: msg.id }, headers: B });
  await call('GET /api/inbox', '/api/inbox', { headers: B, nonEmpty: true });
  await call('POST /api/inbox/read', '/api/inbox/read', { body: { up_to: msg.id }, headers: B });
  await call('POST /api/inbox/:id/ack', `/api/inbox/${msg.id}/ack`, { headers: B });
  await call('GET /api/messages/:id', `/api/messages/${msg.id}`, { headers: A });
  await call('GET /api/threads/:id', `/api/threads/${msg.id}`, { headers: A, nonEmpty: true });

  // Coding-agent hooks.
  const hookInput = { session_id: 'replies-session-1', hook_event_name: 'UserPromptSubmit', cwd: '/w/shop', prompt: 'hi' };
  await call('POST /api/hooks/claude-code', '/api/hooks/claude-code', { body: hookInput });
  await call('POST /api/hooks/claude-code', '/api/hooks/claude-code', { body: { ...hookInput, hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: '/w/shop/a.ts' } } });
  const hs = await call('GET /api/hooks/claude-code/sessions/:id', '/api/hooks/claude-code/sessions/replies-session-1');
  await call('GET /api/agents/:id/digest', `/api/agents/${hs.instance_id}/digest`);
  // Created tokens.
  const tok = await call('POST /api/tokens', '/api/tokens', { body: { name: 'ci', role: 'reader', scopes: ['project:web'], ttl: '1h' } });
  await call('GET /api/tokens', '/api/tokens', { nonEmpty: true });
  await call('DELETE /api/tokens/:id', `/api/tokens/${tok.id}`);
  const third = await call('POST /api/tasks/claim', '/api/tasks/claim', { body: { project: 'ops' }, headers: B });
  await call('POST /api/tasks/:id/release', `/api/tasks/${third.id}/release`, { headers: B });

  await call('PUT /api/validate/:project/rules', '/api/validate/web/rules', {
    body: [{ rule_id: 'no-todo', pattern: 'TODO', message: 'no TODOs' }, { rule_id: 'need-license', match_type: 'missing', pattern: 'LICENSE' }],
  });
  await call('GET /api/validate/:project/rules', '/api/validate/web/rules');
  const v = await call('POST /api/validate/:project', '/api/validate/web', { body: { filename: 'a.ts', content: 'ok\n// TODO later\n' } });
  t.equal(v.count, 2, 'a violation with a line and one without were checked');
  await call('POST /api/rules/propose', '/api/rules/propose', { body: { project: 'web', rule_id: 'no-log', pattern: 'console\\.log', proposed_by: alice.id, context: 'seen in review' } });
  await call('POST /api/rules/:project/:rule/accept', '/api/rules/web/no-log/accept');
  await call('POST /api/rules/propose', '/api/rules/propose', { body: { project: 'web', rule_id: 'no-any', pattern: ': any' } });
  await call('POST /api/rules/:project/:rule/reject', '/api/rules/web/no-any/reject');
  await call('GET /api/rules', '/api/rules', { nonEmpty: true });
  await call('GET /api/rules/export', '/api/rules/export', { nonEmpty: true });
  await call('POST /api/rules/import', '/api/rules/import', { body: [{ project: 'api', rule_id: 'no-eval', pattern: 'eval\\(' }] });
  await call('DELETE /api/rules/:project/:rule', '/api/rules/web/no-any');

  // alice is active in workspace `web`, which holds a contract with an endpoint without schemas.
  const run = await call('POST /api/compliance/run', '/api/compliance/run');
  t.ok(run.runs.some((r: any) => r.violations.length > 0), 'a failed run was checked');
  await call('GET /api/compliance/history', '/api/compliance/history', { nonEmpty: true });

  await call('POST /api/webhooks', '/api/webhooks', { body: { id: 'ci', url: rx.url, patterns: ['api.*'], secret: 's3cret' } });
  await call('POST /api/webhooks', '/api/webhooks', { body: { id: 'gone', url: rx.url } });
  await call('GET /api/webhooks', '/api/webhooks', { nonEmpty: true });
  await call('POST /api/webhooks/:id/test', '/api/webhooks/ci/test');
  await call('DELETE /api/webhooks/:id', '/api/webhooks/gone');

  await call('POST /api/templates', '/api/templates', { body: { id: 'base', name: 'Base rules', tags: ['ts'], data: [{ rule_id: 'no-debugger', pattern: 'debugger' }] } });
  await call('POST /api/templates', '/api/templates', { body: { id: 'doc', name: 'A spec', kind: 'contracts', data: CONTRACT } });
  await call('GET /api/templates', '/api/templates', { nonEmpty: true });
  await call('GET /api/templates/:id', '/api/templates/base');
  await call('POST /api/templates/:id/apply', '/api/templates/base/apply', { body: { project: 'api' } });
  await call('DELETE /api/templates/:id', '/api/templates/doc');

  await call('POST /api/llm/usage', '/api/llm/usage', { body: { project: 'web', provider: 'anthropic', model: 'opus', tokens_in: 100, tokens_out: 50, cost_usd: 0.25, session_tag: 's1' }, headers: A });
  await call('GET /api/llm/usage', '/api/llm/usage', { nonEmpty: true });
  await call('GET /api/llm/usage/summary', '/api/llm/usage/summary?group_by=model');
  // OpenTelemetry in, budgets.
  const otlp = '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":{"stringValue":"claude_code.api_request"},"attributes":[{"key":"event.name","value":{"stringValue":"api_request"}},{"key":"session.id","value":{"stringValue":"s"}},{"key":"event.sequence","value":{"intValue":1}},{"key":"model","value":{"stringValue":"claude-haiku-4-5"}},{"key":"input_tokens","value":{"intValue":5}}]}]}]}]}';
  await call('POST /v1/logs', '/v1/logs', { body: otlp, headers: { 'content-type': 'application/json' } });
  const span = '{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"a1","name":"chat gpt-4.1","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.conversation.id","value":{"stringValue":"s"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4.1"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"5"}}]}]}]}]}';
  await call('POST /v1/traces', '/v1/traces', { body: span, headers: { 'content-type': 'application/json' } });
  await call('POST /v1/metrics', '/v1/metrics', { body: '{"resourceMetrics":[]}', headers: { 'content-type': 'application/json' } });
  await call('PUT /api/budgets/:scope', '/api/budgets/project:web', { body: { usd: 0.1, period: 'day' } });
  await call('GET /api/budgets', '/api/budgets', { nonEmpty: true });
  await call('DELETE /api/budgets/:scope', '/api/budgets/project:web');

  await call('GET /api/audit', '/api/audit', { nonEmpty: true });
  await call('GET /api/audit/summary', '/api/audit/summary');

  // alice's identified calls above were counted for her, per hour.
  await call('GET /api/metrics/agents', '/api/metrics/agents', { nonEmpty: true });
  await call('GET /api/metrics/agents?instance_id', `/api/metrics/agents?instance_id=${alice.id}`, { nonEmpty: true });
  await call('GET /api/metrics/agents/:id', `/api/metrics/agents/${alice.id}`, { nonEmpty: true });
  await call('GET /api/metrics', '/api/metrics');
  await call('GET /api/openapi.json', '/api/openapi.json');
  await call('POST /api/metrics/reset', '/api/metrics/reset');

  await call('DELETE /api/instances/:id', `/api/instances/${bob.id}`);

  // Errors carry ErrorBody.
  const missing = await fetch(`${s.url}/api/instances/nobody`);
  t.equal(missing.status, 404);
  t.equal(misfit(ErrorBody, await missing.json()), '', 'an error reply fits ErrorBody');
});

t.test('a live restore replies with RestoreReply (koor-server itself: it restarts on the snapshot)', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t)]);
  t.teardown(() => {
    srv.child.kill('SIGKILL');
  });
  await fetch(`${srv.url}/api/state/a`, { method: 'PUT', body: '1' });
  const snapshot = new Uint8Array(await (await fetch(`${srv.url}/api/admin/backup`)).arrayBuffer());
  const r = await client(t, srv.url)('POST /api/admin/restore', '/api/admin/restore', { body: snapshot });
  t.equal(r.counts.state_keys, 1);
});

t.test('the schemas catch a changed reply: a member missing, renamed or of another type', async (t) => {
  const lease = { id: 'l1', holder: 'i1', holder_name: 'alice', resources: ['src/**'], exclusive: true, reason: '', acquired_at: '2026-01-01T00:00:00Z', expires_at: '', fence: 3, project: 'web' };
  const schema = Lease;
  t.equal(misfit(schema, lease), '', 'the reply as sent');
  t.equal(misfit(schema, { ...lease, extra: 1 }), '', 'a member added is allowed (clients ignore it)');
  const { holder_name: _, ...missing } = lease;
  t.not(misfit(schema, missing), '', 'a member missing');
  t.not(misfit(schema, { ...missing, holderName: 'alice' }), '', 'a member renamed');
  t.not(misfit(schema, { ...lease, exclusive: 'yes' }), '', 'a member of another type');
  t.not(misfit(LeaseListReply, [missing]), '', 'inside a list too');
});

t.test('every route declares a summary, a rule and its 200 reply, once', async (t) => {
  t.ok(declared.size > 80, `${declared.size} routes declared`);
  t.equal(declared.size, declaredList.length, 'no `METHOD path` declared twice');
  const all = [...declared.values()];
  t.same(all.filter((r) => r.summary.trim() === '' || r.summary.includes('\n')).map(routeName), [], 'a one-line summary each');
  t.same(all.filter((r) => r.rule.action.trim() === '').map(routeName), [], 'a rule each, its refusal worded');
  t.same(all.filter((r) => !r.replies[200]).map(routeName), [], 'a 200 reply each');
});

t.test('every declared JSON reply was called above', async (t) => {
  const withSchema = [...declared.values()].flatMap((r) => [
    ...(isMedia(r.replies[200]) ? [] : [routeName(r)]),
    ...Object.entries(r.modes ?? {}).flatMap(([mode, body]) => (isMedia(body) ? [] : [`${routeName(r)}?${mode}`])),
  ]);
  t.same(withSchema.filter((k) => !called.has(k)), [], 'no reply schema left unchecked');
});
