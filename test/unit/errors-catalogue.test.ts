import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ERRORS, errorMessage, type ErrorCode } from '../../schemas/error-catalogue.js';
import { STATUS_NAMES, type StatusName } from '../../schemas/errors.js';
import { AppError, HTTP_STATUS, fail, failWith, toAppError } from '../../src/errors.js';
import { Fault, fault, preconditionFailed } from '../../workers/writer/fault.js';
import { REPO } from '../helpers/paths.js';

/**
 * The error catalogue (schemas/error-catalogue.ts) pinned, as fastify pins its error codes: every
 * entry's code, status, HTTP status and message, rendered here from sample parameters. A message
 * is part of the contract (docs/errors.md lists them, clients match on them), so changing one must change this
 * table too, on purpose. Then the call sites: a client-visible error raised anywhere but through
 * the catalogue fails the scan at the end.
 */
const TABLE: ReadonlyArray<[code: ErrorCode, params: readonly unknown[], status: StatusName, http: number, message: string]> = [
  ['UNAUTHENTICATED', [], 'UNAUTHENTICATED', 401, 'invalid or missing bearer token'],
  ['ROLE_FORBIDDEN', ['agent', 'accept rules'], 'PERMISSION_DENIED', 403, 'agent token may not accept rules'],
  ['NOT_OWN_AGENT', ['agent', 'a1'], 'PERMISSION_DENIED', 403, 'agent token may not act as agent a1: this token did not register it; act as your own agent with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)'],
  ['NOT_THIS_INSTANCE', ['agent', 'a1', 'b1'], 'PERMISSION_DENIED', 403, "agent token may not act as agent a1: it is agent b1's token"],
  ['AGENT_REQUIRED', ['agent', 'send messages'], 'PERMISSION_DENIED', 403, 'agent token may not send messages without acting as an agent: give one with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)'],
  ['RATE_LIMITED', [500], 'RATE_LIMITED', 429, 'rate limit exceeded: 500 requests per second per token'],
  ['SCOPE_FORBIDDEN', ['agent', 'take leases', 'b.ts in project ops'], 'PERMISSION_DENIED', 403, 'agent token may not take leases outside its scopes: b.ts in project ops'],
  ['HOST_NOT_ALLOWED', ['evil.example.com'], 'PERMISSION_DENIED', 403, 'Host header "evil.example.com" names a host this server does not serve; to serve it, add its name to allowed_hosts (--allowed-hosts, KOOR_ALLOWED_HOSTS)'],
  ['ORIGIN_NOT_ALLOWED', ['http://evil.example.com'], 'PERMISSION_DENIED', 403, 'Origin header "http://evil.example.com" is not allowed: a page of another site may not call this server; to allow it, add the origin to allowed_origins (--allowed-origins, KOOR_ALLOWED_ORIGINS)'],
  ['ROUTE_NOT_FOUND', [], 'NOT_FOUND', 404, 'not found'],
  ['METHOD_NOT_ALLOWED', [], 'METHOD_NOT_ALLOWED', 405, 'method not allowed'],
  ['WEBSOCKET_REQUIRED', [], 'INVALID_ARGUMENT', 400, 'websocket upgrade required'],
  ['BODY_TOO_LARGE', [], 'PAYLOAD_TOO_LARGE', 413, 'body too large'],
  ['URL_TOO_LONG', [9000, 8192], 'URI_TOO_LONG', 414, 'URL too long: 9000 bytes (max 8192)'],
  ['INVALID_JSON', [], 'INVALID_ARGUMENT', 400, 'invalid JSON body'],
  ['JSON_TOO_DEEP', [64], 'INVALID_ARGUMENT', 400, 'JSON nested too deeply (max 64 levels)'],
  ['INVALID_UTF8', ['key'], 'INVALID_ARGUMENT', 400, 'key is not valid UTF-8'],
  ['TEXT_NUL', ['events.publish'], 'INVALID_ARGUMENT', 400, 'events.publish: text must not contain U+0000 (NUL)'],
  ['EMPTY_BODY', [], 'INVALID_ARGUMENT', 400, 'empty body'],
  ['FIELD_REQUIRED', ['project'], 'INVALID_ARGUMENT', 400, 'project is required'],
  ['FIELDS_REQUIRED', ['id', 'name'], 'INVALID_ARGUMENT', 400, 'id and name are required'],
  ['FIELD_INVALID', ['rules[0].severity', 'must match a pattern'], 'INVALID_ARGUMENT', 400, 'rules[0].severity: must match a pattern'],
  ['FIELD_WRONG_TYPE', ['topic', ['string', 'null']], 'INVALID_ARGUMENT', 400, 'topic: expected string or null'],
  ['INVALID_URL_ENCODING', ['key'], 'INVALID_ARGUMENT', 400, 'invalid URL encoding in key'],
  ['NAME_HAS_NUL', ['key'], 'INVALID_ARGUMENT', 400, 'key must not contain NUL bytes'],
  ['PROJECT_INVALID', ['project', 'empty'], 'INVALID_ARGUMENT', 400, 'invalid project: empty'],
  ['NAME_TOO_LONG', ['key', 1100, 1024], 'INVALID_ARGUMENT', 400, 'key too long: 1100 bytes (max 1024)'],
  ['TOO_MANY', ['deps', 101, 100], 'INVALID_ARGUMENT', 400, 'too many deps: 101 (max 100)'],
  ['NOT_POSITIVE_INTEGER', ['limit'], 'INVALID_ARGUMENT', 400, 'limit must be a positive integer'],
  ['ABOVE_MAXIMUM', ['limit', 1000], 'INVALID_ARGUMENT', 400, 'limit must be at most 1000'],
  ['SINCE_INVALID', [], 'INVALID_ARGUMENT', 400, 'since must be a non-negative integer'],
  ['INVALID_PATTERN', ['a[', 'rules[2]: '], 'INVALID_ARGUMENT', 400, 'rules[2]: invalid pattern: a['],
  ['INVALID_REGEX', ['missing )', ''], 'INVALID_ARGUMENT', 400, 'invalid regex pattern: missing )'],
  ['INVALID_TIME', ['since',true], 'INVALID_ARGUMENT', 400, 'since must be an RFC 3339 time or YYYY-MM-DD[ HH:MM:SS]'],
  ['IDENTITY_REQUIRED', ['task claim'], 'INVALID_ARGUMENT', 400, 'task claim requires an agent identity'],
  ['OVERFLOW_INVALID', [], 'INVALID_ARGUMENT', 400, 'overflow must be "close" or "drop"'],
  ['DASHBOARD_NOT_BUILT', ['/srv/dashboard/index.html'], 'NOT_FOUND', 404, 'dashboard not built: /srv/dashboard/index.html is missing (run npm run build)'],
  ['DATABASE_UNAVAILABLE', [], 'UNAVAILABLE', 503, 'database unavailable'],
  ['OPERATION_FAILED', ['save rules'], 'INTERNAL', 500, 'failed to save rules'],
  ['SHUTTING_DOWN', [], 'UNAVAILABLE', 503, 'server is shutting down'],
  ['RESTARTING', [], 'UNAVAILABLE', 503, 'server is restarting on a restored backup; retry'],
  ['WRITER_UNAVAILABLE', [], 'UNAVAILABLE', 503, 'writer unavailable'],
  ['STORAGE_FULL', [], 'INSUFFICIENT_STORAGE', 507, 'insufficient storage: the disk holding the database is full; nothing was written, retry once space is freed'],
  ['WRITER_QUEUE_FULL', [], 'RESOURCE_EXHAUSTED', 503, 'writer queue full'],
  ['DEADLINE_EXCEEDED', ['state.put'], 'DEADLINE_EXCEEDED', 503, 'state.put: deadline exceeded'],
  ['DEADLINE_BEFORE_WRITE', [], 'DEADLINE_EXCEEDED', 503, 'deadline exceeded before the write started'],
  ['WRITE_OUTCOME_UNKNOWN', ['tasks.create'], 'OUTCOME_UNKNOWN', 504, 'tasks.create: outcome unknown: the write may have committed; retry with the same Idempotency-Key, or read it back before retrying'],
  ['JOB_OVER_BUDGET', ['diff'], 'DEADLINE_EXCEEDED', 503, 'diff: job exceeded its time budget'],
  ['POOL_QUEUE_FULL', [], 'RESOURCE_EXHAUSTED', 503, 'worker pool queue full'],
  ['DELIVERY_QUEUE_FULL', [], 'RESOURCE_EXHAUSTED', 503, 'webhook delivery queue full'],
  ['DELIVERY_NOT_RUNNING', [], 'UNAVAILABLE', 503, 'webhook delivery thread not running'],
  ['DELIVERY_EXITED', [], 'UNAVAILABLE', 503, 'webhook delivery thread exited'],
  ['DELIVERY_LOG_UNREADABLE', ['event log unreadable'], 'UNAVAILABLE', 503, 'event log unreadable'],
  ['MALFORMED_ENVELOPE', [], 'INVALID_ARGUMENT', 400, 'malformed RPC envelope'],
  ['UNKNOWN_METHOD', ['sys.sleep'], 'INVALID_ARGUMENT', 400, 'unknown method: sys.sleep'],
  ['INVALID_REQUEST', ['state.put', '/key', 'Expected string'], 'INVALID_ARGUMENT', 400, 'invalid state.put request: /key Expected string'],
  ['BACKUP_RUNNING', [], 'ALREADY_EXISTS', 409, 'a backup is already running; try again when it has finished'],
  ['BACKUP_TIMED_OUT', [600], 'DEADLINE_EXCEEDED', 503, 'backup took longer than 600 s'],
  ['RESTORE_UNDER_WAY', [], 'ALREADY_EXISTS', 409, 'a restore is already under way'],
  ['RESTORE_NEEDS_SERVER', [], 'UNAVAILABLE', 503, 'live restore needs koor-server itself; stop the server and run koor-server --restore FILE'],
  ['SNAPSHOT_INVALID', ['the uploaded file is not a koor snapshot'], 'INVALID_ARGUMENT', 400, 'the uploaded file is not a koor snapshot'],
  ['KEY_NOT_FOUND', ['cfg/a'], 'NOT_FOUND', 404, 'key not found: cfg/a'],
  ['EPHEMERAL_INVALID', ['yes'], 'INVALID_ARGUMENT', 400, 'X-Koor-Ephemeral must be true or false: "yes"'],
  ['EPHEMERAL_NEEDS_AGENT', [], 'INVALID_ARGUMENT', 400, 'an ephemeral key needs an agent identity (an instance token or X-Koor-Instance)'],
  ['TXN_TOO_MANY_OPS', [65, 64], 'INVALID_ARGUMENT', 400, 'a transaction has at most 64 compares and ops: 65'],
  ['TXN_OP_INVALID', ['success[1]', 'unknown op: rename'], 'INVALID_ARGUMENT', 400, 'success[1]: unknown op: rename'],
  ['FENCE_OUTDATED', ['task 7', 3, 9], 'ALREADY_EXISTS', 409, 'fence 3 is outdated for task 7: the current fence is 9'],
  ['FENCE_INVALID', ['abc'], 'INVALID_ARGUMENT', 400, 'X-Koor-Fence must be a non-negative integer: "abc"'],
  ['VALUES_INVALID', ['yes'], 'INVALID_ARGUMENT', 400, 'values must be 1 or 0: "yes"'],
  ['REVISION_INVALID', ['since_revision'], 'INVALID_ARGUMENT', 400, 'since_revision must be a non-negative integer revision'],
  ['VERSION_NOT_FOUND', [3, 'cfg/a'], 'NOT_FOUND', 404, 'version 3 not found for key: cfg/a'],
  ['DIFF_VERSION_NOT_FOUND', [3, 'cfg/a'], 'INVALID_ARGUMENT', 400, 'get version 3: version 3 not found for key: cfg/a'],
  ['DIFF_FAILED', ['values too large to compare'], 'INVALID_ARGUMENT', 400, 'values too large to compare'],
  ['VERSION_NOT_INTEGER', [], 'INVALID_ARGUMENT', 400, 'version must be an integer'],
  ['ROLLBACK_REQUIRED', [], 'INVALID_ARGUMENT', 400, 'rollback requires ?rollback=<version>'],
  ['ROLLBACK_NOT_INTEGER', [], 'INVALID_ARGUMENT', 400, 'rollback version must be an integer'],
  ['DIFF_NEEDS_TWO', [], 'INVALID_ARGUMENT', 400, 'diff requires two versions: ?diff=v1,v2'],
  ['DIFF_NOT_INTEGERS', [], 'INVALID_ARGUMENT', 400, 'diff versions must be integers'],
  ['PRECONDITION_FAILED', [4], 'FAILED_PRECONDITION', 412, 'precondition failed: current version 4'],
  ['LEASE_NOT_FOUND', ['17'], 'NOT_FOUND', 404, 'lease not found: 17'],
  ['LEASE_CONFLICT', ['src/**', 'alice'], 'ALREADY_EXISTS', 409, 'lease conflict: src/** held by alice'],
  ['LEASE_HELD_BY_OTHER', [17, 'alice'], 'PERMISSION_DENIED', 403, 'lease 17 is held by alice'],
  ['RESOURCE_EMPTY', [], 'INVALID_ARGUMENT', 400, 'resource must not be empty'],
  ['RESOURCE_NOT_RELATIVE', ['/a/**', 'lease paths are relative to the repository root (a/**)'], 'INVALID_ARGUMENT', 400, '/a/**: lease paths are relative to the repository root (a/**)'],
  ['TTL_INVALID', ['invalid ttl x: expected a duration like 500ms, 60s, 5m'], 'INVALID_ARGUMENT', 400, 'invalid ttl x: expected a duration like 500ms, 60s, 5m'],
  ['TTL_TOO_SHORT', [], 'INVALID_ARGUMENT', 400, 'ttl must be at least 1s'],
  ['TTL_TOO_LONG', [24], 'INVALID_ARGUMENT', 400, 'ttl must be at most 24h'],
  ['TASK_NOT_FOUND', [7], 'NOT_FOUND', 404, 'task not found: 7'],
  ['NO_TASK_READY', ['koor'], 'NOT_FOUND', 404, 'no task ready in koor'],
  ['NO_TASK_FREE', ['web', 3, 'package.json held by ann (task #12)'], 'NOT_FOUND', 404, 'no task ready in web: 3 ready tasks, all blocked: package.json held by ann (task #12)'],
  ['TASK_NOT_CLAIMED', [7, 'open'], 'ALREADY_EXISTS', 409, 'task 7 is not claimed (status: open)'],
  ['TASK_CLAIMED_BY_OTHER', [7, 'bob'], 'PERMISSION_DENIED', 403, 'task 7 is claimed by bob'],
  ['UNKNOWN_DEP', [9], 'INVALID_ARGUMENT', 400, 'unknown task in deps: 9'],
  ['DEP_FAILED', [9], 'INVALID_ARGUMENT', 400, 'task 9 in deps failed: a task waiting on it would never run'],
  ['AFTER_INVALID', [], 'INVALID_ARGUMENT', 400, 'after must be a task id'],
  ['TASK_STATUS_INVALID', [['open', 'claimed', 'done'], 'later'], 'INVALID_ARGUMENT', 400, 'status must be one of open, claimed, done (comma-separated): later'],
  ['MESSAGE_NOT_FOUND', [12], 'NOT_FOUND', 404, 'message not found: 12'],
  ['UNKNOWN_RECIPIENTS', [['i-9', 'ghost']], 'INVALID_ARGUMENT', 400, 'unknown recipients: i-9, ghost'],
  ['UNKNOWN_THREAD', [40], 'INVALID_ARGUMENT', 400, 'unknown thread: 40'],
  ['UNKNOWN_REPLY_TO', [41], 'INVALID_ARGUMENT', 400, 'unknown message in reply_to: 41'],
  ['ONE_OF_REQUIRED', [['ids', 'up_to']], 'INVALID_ARGUMENT', 400, 'exactly one of ids, up_to is required'],
  ['IDEMPOTENCY_KEY_INVALID', [255], 'INVALID_ARGUMENT', 400, 'Idempotency-Key must be 1 to 255 visible ASCII characters'],
  ['MESSAGE_BODY_TOO_LARGE', [70000, 65536], 'PAYLOAD_TOO_LARGE', 413, 'message body too large: 70000 bytes (max 65536)'],
  ['THREAD_NOT_FOUND', [7], 'NOT_FOUND', 404, 'thread not found: 7'],
  ['HOOK_SESSION_NOT_FOUND', ['s-1'], 'NOT_FOUND', 404, 'hook session not found: s-1'],
  ['IDEMPOTENCY_KEY_REUSED', ['k-1'], 'ALREADY_EXISTS', 409, 'Idempotency-Key "k-1" was already used for a different request'],
  ['REPLY_OTHER_THREAD', [41, 3], 'INVALID_ARGUMENT', 400, 'message 41 is not in thread 3'],
  ['TOKEN_NOT_FOUND', ['t-1'], 'NOT_FOUND', 404, 'token not found: t-1'],
  ['TOKEN_ROLE_INVALID', ['root'], 'INVALID_ARGUMENT', 400, 'role must be admin, agent or reader: "root"'],
  ['TOKEN_SCOPE_KINDS_UNKNOWN', [['repo', 'x']], 'INVALID_ARGUMENT', 400, 'unknown scope kinds: repo, x (known: project, state, topic, path)'],
  ['TOKEN_SCOPE_INVALID', ['topic:[', 'not a glob'], 'INVALID_ARGUMENT', 400, 'invalid scope "topic:[": not a glob'],
  ['TOKEN_TTL_INVALID', ['soon'], 'INVALID_ARGUMENT', 400, 'ttl must be a positive number of seconds or a duration like 90d, 12h, 30m: "soon"'],
  ['WEBHOOK_SECRET_NEEDS_KEY', [], 'FAILED_PRECONDITION', 412, 'webhook secrets are stored encrypted: in cluster mode give every node the same --secret-key-file'],
  ['WEBHOOK_SECRET_SEALED_ELSEWHERE', [], 'FAILED_PRECONDITION', 412, 'the webhook secret was encrypted with another secret key (a backup restored without its key?): start with that --secret-key-file, or create the webhook again'],
  ['RULE_NOT_FOUND', ['koor', 'no-todo'], 'NOT_FOUND', 404, 'rule not found: koor/no-todo'],
  ['PROPOSED_RULE_NOT_FOUND', ['koor', 'no-todo'], 'NOT_FOUND', 404, 'proposed rule not found: koor/no-todo'],
  ['RULE_EXISTS', [], 'ALREADY_EXISTS', 409, 'failed to propose rule'],
  ['EMPTY_RULES', [], 'INVALID_ARGUMENT', 400, 'empty rules array'],
  ['RULE_STATUS_INVALID', [], 'INVALID_ARGUMENT', 400, 'status must be accepted, proposed or rejected'],
  ['TEMPLATE_NOT_FOUND', ['base'], 'NOT_FOUND', 404, 'template not found: base'],
  ['TEMPLATE_EXISTS', [], 'ALREADY_EXISTS', 409, 'failed to create template'],
  ['TEMPLATE_DATA_INVALID', [], 'INVALID_ARGUMENT', 400, 'template data is not valid rules JSON'],
  ['SPEC_NOT_FOUND', ['koor', 'api'], 'NOT_FOUND', 404, 'spec not found: koor/api'],
  ['CONTRACT_NOT_FOUND', ['koor', 'api'], 'NOT_FOUND', 404, 'contract not found: koor/api'],
  ['CONTRACT_INVALID', ['no endpoints'], 'INVALID_ARGUMENT', 400, 'stored spec is not a valid contract: no endpoints'],
  ['ENDPOINT_NOT_IN_CONTRACT', ['GET /x'], 'INVALID_ARGUMENT', 400, 'endpoint "GET /x" not in contract'],
  ['ENDPOINT_FORMAT', ['GET'], 'INVALID_ARGUMENT', 400, 'invalid endpoint format "GET" (expected "METHOD /path")'],
  ['INSTANCE_NOT_FOUND', ['i-1'], 'NOT_FOUND', 404, 'instance not found: i-1'],
  ['WEBHOOK_NOT_FOUND', ['hook'], 'NOT_FOUND', 404, 'webhook not found: hook'],
  ['WEBHOOK_EXISTS', [], 'ALREADY_EXISTS', 409, 'failed to create webhook'],
  ['WEBHOOK_TEST_FAILED', ['HTTP 500'], 'INVALID_ARGUMENT', 400, 'webhook test failed: HTTP 500'],
  ['TOKENS_NEGATIVE', [], 'INVALID_ARGUMENT', 400, 'tokens must not be negative'],
  ['GROUP_BY_INVALID', [], 'INVALID_ARGUMENT', 400, 'invalid group_by: must be instance, project, model, or session_tag'],
  ['PERIOD_INVALID', [], 'INVALID_ARGUMENT', 400, 'period must be a prefix of YYYY-MM-DDTHH'],
  ['OTLP_PROTOBUF', [], 'INVALID_ARGUMENT', 400, 'OTLP protobuf is not accepted: export with OTEL_EXPORTER_OTLP_PROTOCOL=http/json'],
  ['BUDGET_SCOPE_INVALID', ['team:x'], 'INVALID_ARGUMENT', 400, 'invalid budget scope "team:x": expected agent:<id|name>, project:<name>, session:<tag> or global'],
  ['BUDGET_CAP_REQUIRED', [], 'INVALID_ARGUMENT', 400, 'a budget needs usd or tokens'],
  ['BUDGET_NOT_FOUND', ['project:shop'], 'NOT_FOUND', 404, 'budget not found: project:shop'],
  ['BUDGET_EXCEEDED', ['project:shop reached its daily cap of $1'], 'RATE_LIMITED', 429, 'budget exceeded: project:shop reached its daily cap of $1'],
  ['TOOL_FAILED', ['set intent', 'instance not found: ghost'], 'INVALID_ARGUMENT', 400, 'set intent failed: instance not found: ghost'],
  ['UNKNOWN_TOOL', ['fly'], 'INVALID_ARGUMENT', 400, 'unknown tool: fly'],
  ['RULE_ALREADY_EXISTS', ['p', 'no-inline-style'], 'ALREADY_EXISTS', 409, 'rule already exists: p/no-inline-style'],
  ['TOOL_INTERNAL', [], 'INTERNAL', 500, 'internal error'],
  ['MCP_SESSION_NOT_FOUND', [], 'NOT_FOUND', 404, 'Session not found'],
  ['MCP_SESSION_REQUIRED', [], 'INVALID_ARGUMENT', 400, 'Bad Request: Mcp-Session-Id header is required'],
  ['MCP_TOO_MANY_SESSIONS', [], 'RESOURCE_EXHAUSTED', 503, 'too many MCP sessions'],
];

const render = (code: ErrorCode, params: readonly unknown[]): string => (errorMessage as (c: ErrorCode, ...p: readonly unknown[]) => string)(code, ...params);

t.test('the table names every catalogue entry once, in the catalogue order', async (t) => {
  t.same(
    TABLE.map(([code]) => code),
    Object.keys(ERRORS),
  );
});

t.test('every entry has its pinned status, HTTP status and message', async (t) => {
  for (const [code, params, status, http, message] of TABLE) {
    t.equal(ERRORS[code].status, status, `${code} status`);
    t.equal(HTTP_STATUS[ERRORS[code].status], http, `${code} HTTP status`);
    t.equal(render(code, params), message, `${code} message`);
    // A parameter with a default (the optional `where` prefix) does not count in `length`.
    const optional = code === 'INVALID_PATTERN' || code === 'INVALID_REGEX' || code === 'SCOPE_FORBIDDEN' ? 1 : 0;
    t.equal(ERRORS[code].message.length, params.length - optional, `${code} takes the parameters the table gives it`);
  }
});

t.test('codes are SCREAMING_SNAKE_CASE, statuses known, messages distinct', async (t) => {
  for (const code of Object.keys(ERRORS)) t.match(code, /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/, code);
  for (const def of Object.values(ERRORS)) t.ok((STATUS_NAMES as readonly string[]).includes(def.status));
  // Two entries rendering the same text would be one message spelled twice: merge them.
  const seen = new Map<string, string>();
  for (const [code, params] of TABLE) {
    const m = render(code, params);
    t.notOk(seen.has(m), `${code} renders like ${seen.get(m) ?? ''}`);
    seen.set(m, code);
  }
});

t.test('the front and the writer raise an entry with its status and message', async (t) => {
  const a = fail('TASK_NOT_FOUND', 7);
  t.ok(a instanceof AppError);
  t.equal(a.status, 'NOT_FOUND');
  t.equal(a.httpStatus, 404);
  t.equal(a.message, 'task not found: 7');
  const f = fault('TASK_NOT_FOUND', 7);
  t.ok(f instanceof Fault);
  t.same(f.toWire(), { status: 'NOT_FOUND', message: 'task not found: 7' });
  // Across the writer port and back: the same error the front would have raised itself.
  const back = AppError.fromWire(structuredClone(f.toWire()));
  t.equal(back.message, a.message);
  t.equal(back.httpStatus, a.httpStatus);

  const c = failWith('LEASE_CONFLICT', { body: { conflicts: [] } }, 'src/**', 'alice');
  t.equal(c.httpStatus, 409);
  t.equal(c.message, 'lease conflict: src/** held by alice');
  t.same(c.body, { conflicts: [] });
  const m = failWith('METHOD_NOT_ALLOWED', { detail: { allow: 'GET' } });
  t.same(m.toWire(), { status: 'METHOD_NOT_ALLOWED', message: 'method not allowed', detail: { allow: 'GET' } });

  t.same(preconditionFailed({ version: 3, hash: 'ab' }).toWire(), {
    status: 'FAILED_PRECONDITION',
    message: 'precondition failed: current version 3',
    detail: { version: 3, hash: 'ab' },
  });
  t.same(preconditionFailed(undefined).toWire(), { status: 'FAILED_PRECONDITION', message: 'precondition failed: current version 0', detail: { version: 0 } });
  const down = toAppError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  t.same([down.status, down.message], ['UNAVAILABLE', 'database unavailable']);
  const bug = toAppError(new Error('SQLITE_CORRUPT'), 'commit');
  t.same([bug.status, bug.message], ['INTERNAL', 'failed to commit']);
});

// ── The call sites ──────────────────────────────────────────────────────────────────────────────

/**
 * Where an error may be built from its parts (status and text): the constructors behind
 * `fail`/`failWith` (and `AppError.fromWire`, which rebuilds one the writer sent) and `fault`.
 * (ToolError's constructor is private: the compiler keeps its text the catalogue's.)
 */
const HOMES: Readonly<Record<string, string>> = { AppError: 'src/errors.ts', Fault: 'workers/writer/fault.ts' };

/**
 * Free-text errors still to be moved to the catalogue, listed exactly so the list can only
 * shrink: an entry here that no longer occurs fails too. None today.
 */
const KNOWN: readonly string[] = [];

/** Codes no call site raises yet, for the same reason (the test fails once one is). None today. */
const UNUSED: readonly ErrorCode[] = [];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Comments blanked (a comment may quote an old call); strings are kept, they are what is checked. */
const uncommented = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/[^\n]*/g, '$1');

/**
 * Every spot in `text` (a file of src/ or workers/) that raises a client-visible error without
 * the catalogue, as `file: excerpt`:
 * - an AppError or Fault constructed outside its home (status and message in free text);
 * - a WireError written as a literal (`{ status: 'INTERNAL', message: … }`);
 * - `fail`/`failWith`/`fault`/`errorMessage`/`ToolError.of`, where the file has it, called with
 *   anything but a quoted code of the catalogue or a variable declared as one (a message where the
 *   code belongs, or a local function of the same name hiding the import).
 */
function freeTextErrors(file: string, text: string): string[] {
  const code = uncommented(text);
  const out: string[] = [];
  const at = (m: RegExpMatchArray): string => `${file}: ${excerpt(code, m.index!, m[0])}`;
  for (const m of code.matchAll(/\bnew (AppError|Fault)\(/g)) if (HOMES[m[1]!] !== file) out.push(at(m));
  for (const m of code.matchAll(/\bstatus:\s*'[A-Z_]+'\s*,\s*message:/g)) out.push(at(m));
  // A code passed on in a variable (the raisers forwarding theirs) is declared as a code in the file.
  const typedAsCode = (v: string): boolean => new RegExp(`\\b${v}\\??\\s*:\\s*(?:C\\b|ErrorCode\\b|'[A-Z0-9_]+')`).test(code);
  const imported = (name: string, from: string): boolean => new RegExp(`import \\{[^}]*\\b${name}\\b[^}]*\\} from '(?:[^']*/)?${from}'`).test(code);
  const raisers = [
    ['fail', 'fail', 'errors.js'],
    ['failWith', 'failWith', 'errors.js'],
    ['fault', 'fault', 'fault.js'],
    ['errorMessage', 'errorMessage', 'error-catalogue.js'],
    ['ToolError\\.of', 'ToolError', 'tools.js'],
  ] as const;
  for (const [callee, name, from] of raisers) {
    if (!imported(name, from) && !(name === 'ToolError' && file === 'src/mcp/tools.ts')) continue;
    for (const m of code.matchAll(new RegExp(`(?<![\\w.])${callee}\\(\\s*(?:'([A-Z0-9_]+)'|([A-Za-z_$][\\w$]*)\\s*[,)]|)`, 'g'))) {
      if (m[1] !== undefined ? !(m[1] in ERRORS) : m[2] === undefined || !typedAsCode(m[2])) out.push(at(m));
    }
  }
  return out;
}

/** The call starting at `from` (up to its closing parenthesis), or the rest of the line. */
function excerpt(code: string, from: number, matched: string): string {
  if (!matched.includes('(')) return code.slice(from, code.indexOf('\n', from)).trim();
  let depth = 0;
  for (let i = code.indexOf('(', from); i < code.length; i++) {
    if (code[i] === '(') depth++;
    else if (code[i] === ')' && --depth === 0) return code.slice(from, i + 1);
  }
  return code.slice(from);
}

const FILES = [...sources('src'), ...sources('workers')];
const TEXTS = new Map(FILES.map((f) => [f, fs.readFileSync(path.join(REPO, f), 'utf8')]));

t.test('no client-visible error is written outside the catalogue', async (t) => {
  const found = FILES.flatMap((f) => freeTextErrors(f, TEXTS.get(f)!)).sort();
  t.same(found, [...KNOWN].sort(), 'raise errors with fail(CODE, …) / fault(CODE, …) and add the message to schemas/error-catalogue.ts');
});

t.test('the scan catches what it is meant to catch', async (t) => {
  const front = "import { fail } from '../errors.js';\n";
  const writer = "import { fault } from './fault.js';\n";
  t.same(freeTextErrors('src/x.ts', `${front}throw new AppError('NOT_FOUND', \`task not found: \${id}\`);`), ["src/x.ts: new AppError('NOT_FOUND', `task not found: ${id}`)"]);
  t.equal(freeTextErrors('workers/x.ts', `${writer}throw new Fault('NOT_FOUND', 'gone');`).length, 1);
  t.equal(freeTextErrors('workers/x.ts', "return { id, ok: false, err: { status: 'INTERNAL', message: 'boom' } };").length, 1);
  t.equal(freeTextErrors('src/x.ts', `${front}throw fail('no such thing');`).length, 1, 'a message where the code belongs');
  t.equal(freeTextErrors('src/x.ts', `${front}throw fail('NO_SUCH_CODE');`).length, 1, 'a code the catalogue lacks');
  t.equal(freeTextErrors('src/x.ts', `${front}const fail = (e) => reject(e);\nfail(e);`).length, 1, 'a local fail hiding the import');
  t.equal(freeTextErrors('workers/x.ts', `${writer}throw fault(code);`).length, 1, 'a variable not declared as a code');
  t.same(freeTextErrors('workers/x.ts', `${writer}const f = (code: ErrorCode) => fault(code);`), [], 'a variable declared as a code');
  t.equal(freeTextErrors('src/mcp/tools.ts', "throw ToolError.of('unknown tool');").length, 1, 'a tool failure in free text');
  t.equal(freeTextErrors('src/x.ts', "import { errorMessage } from '../../schemas/error-catalogue.js';\nconst m = errorMessage(`boom`);").length, 1);
  t.same(freeTextErrors('src/x.ts', `${front}// was: throw new AppError('NOT_FOUND', 'x')\nthrow fail('TASK_NOT_FOUND', id);`), [], 'comments and catalogue calls pass');
  t.same(freeTextErrors('src/errors.ts', 'return new AppError(w.status, w.message);'), [], 'the home builds AppErrors');
  t.same(freeTextErrors('src/y.ts', "const fail = (why: string): never => { throw new ConfigError(why); };\nfail('bad data dir');"), [], 'a local fail without the import is not an error of the catalogue');
});

t.test('every catalogue entry is raised somewhere (no dead messages)', async (t) => {
  const all = [...TEXTS.values()].map(uncommented).join('\n');
  const unused = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => !all.includes(`'${c}'`));
  t.same(unused, UNUSED);
});
