import t from 'tap';
import WebSocket from 'ws';
import { startReceiver } from '../helpers/receiver.js';
import { startTestServer, TEST_BACKEND } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The API description true to the replies it describes: a real server, seeded so that
 * every GET route of GET /api/openapi.json has something to say, is asked each of them (with the
 * query variants that change a reply) and each real reply is checked against the document alone —
 * its status must be one the operation declares (or `default`), its Content-Type one that reply
 * declares (the most specific media range that matches wins, as OpenAPI says), and a JSON body
 * must fit that media type's schema (OpenAPI 3.1: JSON Schema 2020-12, checked by ajv with the
 * document's components). The GET routes are enumerated from the document: a new one without a
 * sample here fails, named. The replies of the writes that seed the data are checked too.
 * test/http/replies.test.ts checks the same replies against the route declarations' schemas; this
 * file checks what a client generated from the document would believe.
 */

type Headers = Record<string, string>;
type Json = Record<string, any>;
interface Operation {
  parameters?: Array<{ name: string; in: string }>;
  responses: Record<string, Json>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, Json> };
}

/** One request of a GET route: its URL (with query), headers, and the status it must get. */
interface Sample {
  url: string;
  headers?: Headers;
  /** Default 200. */
  status?: number;
  /** A 200 JSON array may be empty (a filter that matches nothing); else a list must show an element. */
  empty?: boolean;
  /** A WebSocket route: open it (101) rather than GET it. */
  upgrade?: boolean;
}

// The document is the same on every backend, and replies.test.ts checks the replies on PostgreSQL
// against the same schemas in the cluster pass; several nodes would make this file slow (~15 s).
const skip = TEST_BACKEND === 'sqlite' ? false : 'the API description is checked in the main (SQLite) pass';

/** `application/json; charset=utf-8` → `application/json`. */
const mediaType = (contentType: string | null): string => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

/** The media type object of `content` a reply of `contentType` is described by: exact, then `type/*`, then `*\/*`. */
function mediaOf(content: Record<string, Json>, contentType: string | null): [string, Json] | undefined {
  const mt = mediaType(contentType);
  const keys = Object.keys(content);
  const key = keys.find((k) => mediaType(k) === mt) ?? keys.find((k) => mediaType(k) === `${mt.split('/')[0]}/*`) ?? keys.find((k) => mediaType(k) === '*/*');
  return key === undefined ? undefined : [key, content[key]!];
}

t.test('every GET reply (and the seeding writes) is what GET /api/openapi.json says it is', { skip }, async (t) => {
  const started = Date.now();
  const s = await startTestServer(t, { livenessTimeoutMs: 2000, livenessIntervalMs: 3_600_000 });
  const up = Date.now() - started;
  const doc = (await (await fetch(`${s.url}/api/openapi.json`)).json()) as Doc;
  const { Ajv2020 } = await import('ajv/dist/2020.js');
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  // The document's components, once, under an id; a schema of the document refers to them as `#/components/…`.
  const ROOT = 'https://koor.invalid/openapi.json';
  ajv.addKeyword('components');
  ajv.addSchema({ $id: ROOT, components: doc.components });
  const compiled = new Map<unknown, ReturnType<typeof ajv.compile>>();
  const validate = (schema: object) => {
    let v = compiled.get(schema);
    if (!v) compiled.set(schema, (v = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${ROOT}#/components/`)) as object)));
    return v;
  };
  /** What `body` breaks in `schema`, as `/path: message` lines ('' when it fits). */
  const misfit = (schema: object, body: unknown): string => {
    const v = validate(schema);
    return v(body) ? '' : (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`).join('; ');
  };
  const resolve = (r: Json): Json => (typeof r.$ref === 'string' ? doc.components.responses[r.$ref.replace('#/components/responses/', '')]! : r);

  /** `path media-type` of each GET 200 reply a sample got, by the media type of the document that described it. */
  const produced = new Set<string>();
  /** The `?mode=`s a reply's description names, each with its schema ("with `?history=`: JSON (StateHistoryReply)"). */
  const modesOf = (description: string): Array<[string, string]> => [...description.matchAll(/with `\?(\w+)=`: JSON \((\w+)\)/g)].map((m) => [m[1]!, m[2]!]);
  const modesSeen = new Set<string>();
  /** `METHOD path ?name` of every query parameter a request sent. */
  const paramsSent = new Set<string>();

  /**
   * Checks one real reply of `METHOD path` (the document's path) against the document; returns its
   * parsed JSON body (or its text).
   */
  const checkReply = (method: string, path: string, url: string, status: number, contentType: string | null, text: string): unknown => {
    const label = `${method} ${url} (${method} ${path}) → ${status}`;
    const op = doc.paths[path]?.[method.toLowerCase()];
    if (!op) {
      t.fail(`${label}: the document has no ${method} ${path}`);
      return text;
    }
    const params = op.parameters ?? [];
    for (const name of new Set(new URL(url, 'http://x').searchParams.keys())) {
      paramsSent.add(`${method} ${path} ?${name}`);
      if (!params.some((p) => p.in === 'query' && p.name === name)) t.fail(`${label}: the query parameter ${name} is not declared`);
    }
    const declared = op.responses[String(status)] ?? op.responses.default;
    if (!declared) {
      t.fail(`${label}: status not declared (declared: ${Object.keys(op.responses).join(', ')})`);
      return text;
    }
    const reply = resolve(declared);
    const content = (reply.content ?? {}) as Record<string, Json>;
    if (Object.keys(content).length === 0) {
      t.equal(text, '', `${label}: no content declared, none sent`);
      return text;
    }
    const media = mediaOf(content, contentType);
    if (!media) {
      t.fail(`${label}: Content-Type ${contentType} is none of the declared ${Object.keys(content).join(', ')}`);
      return text;
    }
    if (method === 'GET' && status === 200) produced.add(`${path} ${media[0]}`);
    if (!media[1].schema) return text;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      t.fail(`${label}: ${media[0]} with a schema, but the body is no JSON: ${text.slice(0, 200)}`);
      return text;
    }
    const problems = misfit(media[1].schema as object, body);
    if (problems !== '') t.fail(`${label}: the body does not fit the ${media[0]} schema: ${problems}\n${text.slice(0, 500)}`);
    else t.pass(`${label}: fits its ${media[0]} schema`);
    // A query that changes the reply: the body fits the schema the description names for it.
    if (status === 200 && mediaType(contentType) === 'application/json') {
      const query = new URL(url, 'http://x').searchParams;
      for (const [mode, name] of modesOf(String(reply.description ?? ''))) {
        if (!query.has(mode)) continue;
        modesSeen.add(`${path}?${mode}`);
        t.equal(misfit({ $ref: `#/components/schemas/${name}` }, body), '', `${label}: fits ${name}, which the description names for ?${mode}=`);
      }
    }
    return body;
  };

  /** A write that seeds data: must succeed, and its reply is checked against the document too. */
  const call = async (method: string, path: string, url: string, body?: unknown, headers: Headers = {}): Promise<any> => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const r = await fetch(`${s.url}${url}`, { method, headers, body: payload });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`seeding: ${method} ${url} → ${r.status} ${text}`);
    return checkReply(method, path, url, r.status, r.headers.get('content-type'), text);
  };

  // --- Seed: something for every GET route to show. ---
  const rx = await startReceiver(t);
  // An agent that goes stale: active first, judged once its last_seen is over two seconds old (below).
  const ghost = await call('POST', '/api/instances/register', '/api/instances/register', { name: 'ghost', workspace: 'web', stack: 'go' });
  await call('POST', '/api/instances/{id}/activate', `/api/instances/${ghost.id}/activate`);
  const alice = await call('POST', '/api/instances/register', '/api/instances/register', { name: 'alice', workspace: 'web', stack: 'ts', capabilities: ['ts'] });
  const bob = await call('POST', '/api/instances/register', '/api/instances/register', { name: 'bob', workspace: 'api', capabilities: ['go'] });
  const A: Headers = { 'x-koor-instance': alice.id };
  const B: Headers = { 'x-koor-instance': bob.id };

  // State: a JSON key with two versions (history, diff), JSON scalars, text and bytes.
  const state = '/api/state/{key}';
  await call('PUT', state, '/api/state/app/config', '{"name":"A","age":30}', { ...A, 'content-type': 'application/json' });
  const config = await call('PUT', state, '/api/state/app/config', '{"name":"A","age":31,"city":"L"}', { ...A, 'content-type': 'application/json' });
  await call('PUT', state, '/api/state/app/list', '[1,"two",{"three":3}]', { 'content-type': 'application/json' });
  await call('PUT', state, '/api/state/app/count', '42', { 'content-type': 'application/json' });
  await call('PUT', state, '/api/state/app/flag', 'null', { 'content-type': 'application/json' });
  await call('PUT', state, '/api/state/app/name', '"koor"', { 'content-type': 'application/json' });
  await call('PUT', state, '/api/state/notes/readme', 'hello\n', { 'content-type': 'text/plain' });
  await call('PUT', state, '/api/state/notes/readme', 'hello again\n', { 'content-type': 'text/plain' });
  await call('PUT', state, '/api/state/blob', '\u0001\u0002', { 'content-type': 'application/octet-stream' });
  await call('PUT', state, '/api/state/untyped', 'no type given');
  await call('PUT', state, '/api/state/app/ttl?ttl=1h', '{"short":true}', { 'content-type': 'application/json' });
  await call('POST', state, '/api/state/app/config?rollback=1', undefined, A);

  // Specs: a contract (compliance and contracts read it), a text spec.
  const CONTRACT = {
    kind: 'contract',
    version: 1,
    endpoints: {
      'POST /api/trucks': { request: { plate: { type: 'string', required: true } }, response: { id: { type: 'string', required: true } } },
      'DELETE /api/trucks': {},
    },
  };
  const spec = '/api/specs/{project}/{name}';
  const trucks = await call('PUT', spec, '/api/specs/web/trucks', JSON.stringify(CONTRACT), { 'content-type': 'application/json' });
  await call('PUT', spec, '/api/specs/web/notes', '# Notes\n', { 'content-type': 'text/markdown' });
  await call('POST', '/api/contracts/{project}/{name}/validate', '/api/contracts/web/trucks/validate', { endpoint: 'POST /api/trucks', payload: { plate: 1 } });

  // Events, of two sources.
  const first = await call('POST', '/api/events/publish', '/api/events/publish', { topic: 'api.change', data: { n: 1 }, source: 'ci' }, A);
  await call('POST', '/api/events/publish', '/api/events/publish', { topic: 'api.none' });
  await call('POST', '/api/events/publish', '/api/events/publish', { topic: 'build.done', data: [1, 2], source: 'ci' });

  // Leases, tasks with a checkpoint.
  const lease = await call('POST', '/api/leases', '/api/leases', { resources: ['src/**'], ttl: '10m', reason: 'refactor', project: 'web' }, A);
  await call('POST', '/api/leases', '/api/leases', { resources: ['docs/*'], exclusive: false, project: 'web' }, B);
  const t1 = await call('POST', '/api/tasks', '/api/tasks', { project: 'web', title: 'one', data: { n: 1 }, capabilities: ['ts'], paths: ['lib/**'] });
  await call('POST', '/api/tasks', '/api/tasks', { project: 'web', title: 'two', deps: [t1.id] });
  const t3 = await call('POST', '/api/tasks', '/api/tasks', { project: 'api', title: 'three' });
  // Settled tasks: one done, one failed for good.
  await call('POST', '/api/tasks', '/api/tasks', { project: 'ops', title: 'four' });
  await call('POST', '/api/tasks', '/api/tasks', { project: 'ops', title: 'five', priority: -1 });
  const t4 = await call('POST', '/api/tasks/claim', '/api/tasks/claim', { project: 'ops' }, B);
  await call('POST', '/api/tasks/{id}/complete', `/api/tasks/${t4.id}/complete`, undefined, B);
  const t5 = await call('POST', '/api/tasks/claim', '/api/tasks/claim', { project: 'ops' }, B);
  await call('POST', '/api/tasks/{id}/fail', `/api/tasks/${t5.id}/fail`, { reason: 'broken', retry: false }, B);
  const claimed = await call('POST', '/api/tasks/claim', '/api/tasks/claim', { project: 'web' }, A);
  await call('POST', '/api/tasks/{id}/checkpoint', `/api/tasks/${claimed.id}/checkpoint`, { done: 'half', next: 'the rest', data: { n: 1 } }, A);
  await call('POST', '/api/tasks/{id}/checkpoint', `/api/tasks/${claimed.id}/checkpoint`, { done: 'more', next: 'the end' }, A);

  // The inbox: a thread of two messages.
  const msg = await call('POST', '/api/messages', '/api/messages', { to: ['bob'], subject: 's', body: 'hello', ack_required: true }, A);
  await call('POST', '/api/messages', '/api/messages', { to: [alice.id], body: 'hi', reply_to: msg.id }, B);
  await call('POST', '/api/messages', '/api/messages', { to: ['bob'], body: 'and another', importance: 'high' }, A);
  await call('POST', '/api/inbox/{id}/ack', `/api/inbox/${msg.id}/ack`, undefined, B);

  // A coding-agent session (its agent, its digest).
  const hook = { session_id: 'openapi-replies-1', hook_event_name: 'UserPromptSubmit', cwd: '/w/shop', prompt: 'hi' };
  await call('POST', '/api/hooks/claude-code', '/api/hooks/claude-code', hook);
  await call('POST', '/api/hooks/claude-code', '/api/hooks/claude-code', { ...hook, hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: '/w/shop/a.ts' } });

  // Tokens, rules of every status, templates, webhooks.
  await call('POST', '/api/tokens', '/api/tokens', { name: 'ci', role: 'reader', scopes: ['project:web'], ttl: '1h' });
  await call('POST', '/api/tokens', '/api/tokens', { name: 'ops', role: 'admin' });
  await call('PUT', '/api/validate/{project}/rules', '/api/validate/web/rules', [
    { rule_id: 'no-todo', pattern: 'TODO', message: 'no TODOs', stack: 'ts' },
    { rule_id: 'need-license', match_type: 'missing', pattern: 'LICENSE' },
  ]);
  await call('POST', '/api/rules/propose', '/api/rules/propose', { project: 'web', rule_id: 'no-log', pattern: 'console\\.log', proposed_by: alice.id, context: 'seen in review' });
  await call('POST', '/api/rules/propose', '/api/rules/propose', { project: 'web', rule_id: 'no-any', pattern: ': any' });
  await call('POST', '/api/rules/{project}/{rule}/reject', '/api/rules/web/no-any/reject');
  await call('POST', '/api/rules/propose', '/api/rules/propose', { project: 'api', rule_id: 'no-eval', pattern: 'eval\\(' });
  await call('POST', '/api/rules/{project}/{rule}/accept', '/api/rules/api/no-eval/accept');
  await call('POST', '/api/templates', '/api/templates', { id: 'base', name: 'Base rules', tags: ['ts'], data: [{ rule_id: 'no-debugger', pattern: 'debugger' }] });
  await call('POST', '/api/templates', '/api/templates', { id: 'doc', name: 'A spec', kind: 'contracts', description: 'trucks', data: CONTRACT });
  await call('POST', '/api/webhooks', '/api/webhooks', { id: 'ci', url: rx.url, patterns: ['api.*'], secret: 's3cret' });
  await call('POST', '/api/webhooks', '/api/webhooks', { id: 'all', url: rx.url });
  // Delivered in the background (POST /api/webhooks/{id}/test would wait for the receiver).
  await call('POST', '/api/events/publish', '/api/events/publish', { topic: 'api.hooked', data: { n: 2 } });

  // LLM usage (a priced record, one of an unknown model), budgets.
  await call('POST', '/api/llm/usage', '/api/llm/usage', { project: 'web', provider: 'anthropic', model: 'opus', tokens_in: 100, tokens_out: 50, cost_usd: 0.25, session_tag: 's1' }, A);
  await call('POST', '/api/llm/usage', '/api/llm/usage', { project: 'api', provider: 'acme', model: 'unknown-model', tokens_in: 10, tokens_out: 5, session_tag: 's2' }, B);
  // OpenTelemetry in: a record of a coding-agent session (session_id set).
  const otlp = {
    resourceLogs: [
      {
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: '1',
                body: { stringValue: 'claude_code.api_request' },
                attributes: [
                  { key: 'event.name', value: { stringValue: 'api_request' } },
                  { key: 'session.id', value: { stringValue: 'otel-session' } },
                  { key: 'event.sequence', value: { intValue: 1 } },
                  { key: 'model', value: { stringValue: 'claude-haiku-4-5' } },
                  { key: 'input_tokens', value: { intValue: 5 } },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
  await call('POST', '/v1/logs', '/v1/logs', otlp, { 'content-type': 'application/json' });
  const spans = { resourceSpans: [{ scopeSpans: [{ spans: [{ spanId: 'a1', name: 'chat gpt-4.1', attributes: [{ key: 'gen_ai.operation.name', value: { stringValue: 'chat' } }, { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4.1' } }, { key: 'gen_ai.usage.input_tokens', value: { intValue: '5' } }] }] }] }] };
  await call('POST', '/v1/traces', '/v1/traces', spans, { 'content-type': 'application/json' });
  await call('PUT', '/api/budgets/{scope}', '/api/budgets/project:web', { usd: 0.1, period: 'day' });
  await call('PUT', '/api/budgets/{scope}', '/api/budgets/global', { tokens: 1_000_000, period: 'month', warn_at: 0.5 });

  // The ghost goes stale (its last_seen has one-second precision); then alice is active, so a
  // compliance pass checks her workspace's contract (which has an endpoint without schemas).
  // Alice and bob beat just before each check: a seeding slower than the timeout (a loaded
  // machine's, ~3 s) would make them stale too, and their leases and claim would be gone.
  const beat = (id: string) => fetch(`${s.url}/api/instances/${id}/heartbeat`, { method: 'POST', headers: { 'x-koor-instance': id } }).then((r) => r.arrayBuffer());
  await waitUntil(
    'the ghost to go stale',
    async () => {
      await Promise.all([beat(alice.id), beat(bob.id)]);
      return (await call('POST', '/api/liveness/check', '/api/liveness/check')).count > 0;
    },
    10_000,
    100,
  );
  await call('POST', '/api/instances/{id}/activate', `/api/instances/${alice.id}/activate`);
  await call('POST', '/api/compliance/run', '/api/compliance/run');
  const seeded = Date.now() - started;

  // --- Every GET route of the document, with its samples. ---
  const hour = new Date().toISOString().slice(0, 13);
  const today = new Date().toISOString().slice(0, 10);
  const actor = ((await (await fetch(`${s.url}/api/audit?limit=1`)).json()) as Array<{ actor: string }>)[0]!.actor;
  const samples: Record<string, Sample[]> = {
    'GET /health': [{ url: '/health' }],
    'GET /api/metrics': [{ url: '/api/metrics' }],
    'GET /metrics': [{ url: '/metrics' }],
    'GET /api/openapi.json': [{ url: '/api/openapi.json' }],
    'GET /api/admin/backup': [{ url: '/api/admin/backup' }],
    'GET /api/state': [{ url: '/api/state' }, { url: '/api/state?prefix=app/' }, { url: '/api/state?limit=2' }, { url: '/api/state?after=app/flag&limit=3' }, { url: '/api/state?prefix=none/', empty: true }, { url: '/api/state?limit=0', status: 400 }],
    'GET /api/state/{key}': [
      { url: '/api/state/app/config' },
      { url: '/api/state/app/list' },
      { url: '/api/state/app/count' },
      { url: '/api/state/app/flag' },
      { url: '/api/state/app/name' },
      { url: '/api/state/app/ttl' },
      { url: '/api/state/notes/readme' },
      { url: '/api/state/blob' },
      { url: '/api/state/untyped' },
      { url: '/api/state/app/config?history=1' },
      { url: '/api/state/app/config?history=1&limit=1' },
      { url: '/api/state/notes/readme?history=1' },
      { url: '/api/state/nothing/here?history=1' },
      { url: '/api/state/app/config?version=1' },
      { url: '/api/state/notes/readme?version=1' },
      { url: '/api/state/app/config?diff=1,2' },
      { url: `/api/state/app/config?diff=1,${config.version + 1}` },
      { url: '/api/state/notes/readme?diff=1,2', status: 400 },
      { url: '/api/state/app/config?version=99', status: 404 },
      { url: '/api/state/nothing/here', status: 404 },
    ],
    'GET /api/specs/{project}': [{ url: '/api/specs/web' }, { url: '/api/specs/nobody' }],
    'GET /api/specs/{project}/{name}': [
      { url: '/api/specs/web/trucks' },
      { url: '/api/specs/web/notes' },
      { url: '/api/specs/web/nothing', status: 404 },
    ],
    'GET /api/validate/{project}/rules': [{ url: '/api/validate/web/rules' }, { url: '/api/validate/web/rules?stack=ts' }, { url: '/api/validate/nobody/rules' }],
    'GET /api/rules': [{ url: '/api/rules' }, { url: '/api/rules?status=proposed' }, { url: '/api/rules?status=rejected' }, { url: '/api/rules?project=api' }],
    'GET /api/rules/export': [{ url: '/api/rules/export' }, { url: '/api/rules/export?source=local' }, { url: '/api/rules/export?project=web' }],
    'GET /api/templates': [{ url: '/api/templates' }, { url: '/api/templates?kind=contracts' }, { url: '/api/templates?tag=ts' }],
    'GET /api/templates/{id}': [{ url: '/api/templates/base' }, { url: '/api/templates/doc' }, { url: '/api/templates/nothing', status: 404 }],
    'GET /api/events/history': [
      { url: '/api/events/history' },
      { url: '/api/events/history?last=2' },
      { url: '/api/events/history?topic=api.*' },
      { url: '/api/events/history?source=ci' },
      { url: `/api/events/history?since=${first.id}` },
      { url: `/api/events/history?before=${first.id + 2}` },
      { url: `/api/events/history?from=${today}T00:00:00Z&to=2999-01-01T00:00:00Z` },
      { url: '/api/events/history?last=0', status: 400 },
    ],
    'GET /api/instances': [{ url: '/api/instances' }, { url: '/api/instances?name=alice' }, { url: '/api/instances?workspace=web' }, { url: '/api/instances?stack=ts' }, { url: '/api/instances?capability=go' }, { url: '/api/instances?limit=2' }],
    'GET /api/instances/stale': [{ url: '/api/instances/stale' }],
    'GET /api/instances/{id}': [{ url: `/api/instances/${alice.id}` }, { url: `/api/instances/${ghost.id}` }, { url: '/api/instances/nobody', status: 404 }],
    'GET /api/leases': [{ url: '/api/leases' }, { url: `/api/leases?holder=${alice.id}` }, { url: '/api/leases?project=web' }, { url: '/api/leases?resource=src/a.ts&project=web' }, { url: '/api/leases?limit=1' }],
    'GET /api/leases/check': [{ url: '/api/leases/check?path=src/a.ts&project=web' }, { url: '/api/leases/check?path=lib/x.ts', headers: A }, { url: '/api/leases/check?path=nothing.txt&project=web', empty: true }],
    'GET /api/leases/{id}': [{ url: `/api/leases/${lease.id}` }, { url: '/api/leases/nothing', status: 404 }],
    'GET /api/tasks': [
      { url: '/api/tasks' },
      { url: '/api/tasks?project=web' },
      { url: '/api/tasks?status=claimed,blocked' },
      { url: '/api/tasks?status=done,failed' },
      { url: `/api/tasks?claimed_by=${alice.id}` },
      { url: `/api/tasks?after=${t1.id}&limit=1` },
    ],
    'GET /api/tasks/{id}': [{ url: `/api/tasks/${claimed.id}` }, { url: `/api/tasks/${t3.id}` }, { url: '/api/tasks/999999', status: 404 }],
    'GET /api/tasks/{id}/checkpoints': [{ url: `/api/tasks/${claimed.id}/checkpoints` }, { url: `/api/tasks/${t3.id}/checkpoints`, empty: true }],
    'GET /api/inbox': [
      { url: '/api/inbox', headers: B },
      { url: '/api/inbox?unread=1', headers: B },
      { url: `/api/inbox?since=${msg.id}`, headers: B },
      { url: `/api/inbox?thread=${msg.id}`, headers: B },
      { url: '/api/inbox?limit=1', headers: A },
      { url: '/api/inbox', status: 400 },
    ],
    'GET /api/messages/{id}': [{ url: `/api/messages/${msg.id}`, headers: A }, { url: '/api/messages/999999', headers: A, status: 404 }],
    'GET /api/threads/{id}': [{ url: `/api/threads/${msg.id}`, headers: A }, { url: `/api/threads/${msg.id}?since=${msg.id}&limit=1`, headers: B }],
    'GET /api/hooks/claude-code/sessions/{id}': [{ url: '/api/hooks/claude-code/sessions/openapi-replies-1' }, { url: '/api/hooks/claude-code/sessions/nothing', status: 404 }],
    'GET /api/agents/{id}/digest': [{ url: `/api/agents/${bob.id}/digest` }, { url: `/api/agents/${alice.id}/digest` }],
    'GET /api/compliance/history': [{ url: '/api/compliance/history' }, { url: `/api/compliance/history?instance_id=${alice.id}&limit=1` }],
    'GET /api/webhooks': [{ url: '/api/webhooks' }],
    'GET /api/audit': [{ url: '/api/audit' }, { url: '/api/audit?action=token.create' }, { url: `/api/audit?actor=${encodeURIComponent(actor)}` }, { url: `/api/audit?from=${today}&to=2999-01-01&limit=2` }],
    'GET /api/audit/summary': [{ url: '/api/audit/summary' }, { url: `/api/audit/summary?from=${today}T00:00:00Z&to=2999-01-01T00:00:00Z` }],
    'GET /api/metrics/agents': [{ url: '/api/metrics/agents' }, { url: `/api/metrics/agents?instance_id=${alice.id}` }, { url: `/api/metrics/agents?instance_id=${alice.id}&period=${hour}` }, { url: `/api/metrics/agents?period=${today}` }],
    'GET /api/metrics/agents/{id}': [{ url: `/api/metrics/agents/${alice.id}` }, { url: `/api/metrics/agents/${alice.id}?period=${hour}` }],
    'GET /api/llm/usage': [
      { url: '/api/llm/usage' },
      { url: `/api/llm/usage?instance=${alice.id}` },
      { url: '/api/llm/usage?project=api' },
      { url: '/api/llm/usage?session_tag=s1&limit=1' },
      { url: `/api/llm/usage?from=${today}T00:00:00Z&to=2999-01-01T00:00:00Z` },
    ],
    'GET /api/llm/usage/summary': [
      { url: '/api/llm/usage/summary' },
      { url: '/api/llm/usage/summary?group_by=model' },
      { url: '/api/llm/usage/summary?group_by=instance' },
      { url: '/api/llm/usage/summary?group_by=session_tag&project=web' },
      { url: `/api/llm/usage/summary?from=${today}T00:00:00Z&to=2999-01-01T00:00:00Z` },
    ],
    'GET /api/budgets': [{ url: '/api/budgets' }, { url: '/api/budgets?scope=project:web' }],
    'GET /api/tokens': [{ url: '/api/tokens' }],
    // WebSocket routes: opened (101), and a plain GET without the upgrade (an error). Not so for
    // the two watches: without the upgrade, /api/state/watch is the key `watch` and
    // /api/specs/watch the project `watch`'s spec list (the REST routes' replies, as documented there).
    'GET /api/state/watch': [{ url: '/api/state/watch?prefix=app/&since_revision=0', upgrade: true }, { url: '/api/state/watch?prefix=app/&values=1', upgrade: true }],
    'GET /api/specs/watch': [{ url: `/api/specs/watch?project=web&since_revision=${trucks.revision - 1}`, upgrade: true }, { url: '/api/specs/watch?project=web&values=1', upgrade: true }],
    'GET /api/events/subscribe': [{ url: '/api/events/subscribe?pattern=api.*&since=0', upgrade: true }, { url: '/api/events/subscribe?overflow=drop', upgrade: true }, { url: '/api/events/subscribe', status: 400 }],
    'GET /api/inbox/subscribe': [{ url: '/api/inbox/subscribe?since=0', headers: B, upgrade: true }, { url: '/api/inbox/subscribe?unread=1', headers: B, upgrade: true }, { url: '/api/inbox/subscribe', headers: B, status: 400 }],
  };

  const gets = Object.entries(doc.paths).flatMap(([p, item]) => (item.get ? [`GET ${p}`] : []));
  t.same(
    gets.filter((g) => !(g in samples)),
    [],
    'every GET route of the document has samples here (a new route: seed its data and add them)',
  );
  t.same(
    Object.keys(samples).filter((k) => !gets.includes(k)),
    [],
    'every sampled route is in the document',
  );

  for (const [route, list] of Object.entries(samples)) {
    const path = route.slice('GET '.length);
    for (const sample of list) {
      const want = sample.status ?? 200;
      if (sample.upgrade) {
        const status = await new Promise<number>((ok, fail) => {
          const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}${sample.url}`, { headers: sample.headers });
          ws.once('upgrade', (res) => {
            ok(res.statusCode ?? 0);
            ws.close();
          });
          ws.once('unexpected-response', (_req, res) => ok(res.statusCode ?? 0));
          ws.once('error', fail);
        });
        t.equal(status, 101, `${sample.url}: the WebSocket opens`);
        checkReply('GET', path, sample.url, status, null, '');
        continue;
      }
      const r = await fetch(`${s.url}${sample.url}`, { headers: sample.headers });
      const bytes = Buffer.from(await r.arrayBuffer());
      // The SQLite snapshot is no text: only its type is checked.
      const text = mediaType(r.headers.get('content-type')) === 'application/vnd.sqlite3' ? '' : bytes.toString('utf8');
      t.equal(r.status, want, `GET ${sample.url}: ${want}${r.status === want ? '' : ` (got ${r.status}: ${text.slice(0, 200)})`}`);
      if (r.status === 200) t.ok(bytes.length > 0, `GET ${sample.url}: a body`);
      const body = checkReply('GET', path, sample.url, r.status, r.headers.get('content-type'), text);
      if (r.status === 200 && Array.isArray(body) && !sample.empty) t.ok(body.length > 0, `GET ${sample.url}: real content (a non-empty list)`);
      // A reply with an ETag: asked again with it, whatever comes back is declared too (a 304).
      const etag = r.headers.get('etag');
      if (r.status === 200 && etag !== null) {
        const again = await fetch(`${s.url}${sample.url}`, { headers: { ...sample.headers, 'if-none-match': etag } });
        const text = await again.text();
        t.equal(again.status, 304, `GET ${sample.url} with If-None-Match: its ETag → 304`);
        checkReply('GET', path, sample.url, again.status, again.headers.get('content-type'), text);
      }
    }
  }

  // Every media type a GET's 200 declares was produced by some sample, and every mode was asked.
  const declaredMedia = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys((resolve(item.get?.responses['200'] ?? {}).content ?? {}) as Json).map((m) => `${p} ${m}`));
  t.same(
    declaredMedia.filter((m) => !produced.has(m)),
    [],
    'each media type a GET 200 declares was seen',
  );
  const declaredModes = Object.entries(doc.paths).flatMap(([p, item]) => modesOf(String(resolve(item.get?.responses['200'] ?? {}).description ?? '')).map(([m]) => `${p}?${m}`));
  t.same(
    declaredModes.filter((m) => !modesSeen.has(m)),
    [],
    'each query that changes a JSON reply was asked',
  );
  const declaredParams = Object.entries(doc.paths).flatMap(([p, item]) => (item.get?.parameters ?? []).filter((x) => x.in === 'query').map((x) => `GET ${p} ?${x.name}`));
  t.same(
    declaredParams.filter((x) => !paramsSent.has(x)),
    [],
    'each query parameter a GET declares was sent',
  );
  t.comment(`server up in ${up} ms, seeded in ${seeded} ms, all in ${Date.now() - started} ms`);
});
