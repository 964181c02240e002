import type { StatusName } from './errors.js';

/**
 * Every error message a client can see, defined once (after fastify's lib/errors.js,
 * where each error is `createError(code, message, statusCode)`): a stable code, its status name
 * (the HTTP status follows from src/errors.ts, the one mapping) and its message written from typed,
 * named parameters instead of `%s`, so a call site cannot pass the wrong number or kind of them.
 *
 * The front raises these with `fail(code, …)` (src/errors.ts), the writer thread's stores with
 * `fault(code, …)` (workers/writer/fault.ts), the MCP tools with `ToolError.of(code, …)`
 * (src/mcp/tools.ts); a message more than one of them sends is one entry here. The
 * messages are part of the contract (docs/errors.md lists them, the tests quote many of them), so changing one here
 * is a contract change; test/unit/errors-catalogue.test.ts pins every entry.
 */
export interface ErrorDef<P extends readonly unknown[] = never[]> {
  readonly status: StatusName;
  readonly message: (...params: P) => string;
}

const def = <P extends unknown[]>(status: StatusName, message: (...params: P) => string): ErrorDef<P> => ({ status, message });

/** Quoted as JSON, so an endpoint with spaces or quotes stays readable in the message. */
const q = (s: string): string => JSON.stringify(s);
const versionNotFound = (version: number, key: string): string => `version ${version} not found for key: ${key}`;

export const ERRORS = {
  // ── HTTP layer: routing, authentication, bodies, request fields ──
  UNAUTHENTICATED: def('UNAUTHENTICATED', () => 'invalid or missing bearer token'),
  /** A role the rule of the route or tool (src/http/permissions.ts) does not allow the call. */
  ROLE_FORBIDDEN: def('PERMISSION_DENIED', (role: string, action: string) => `${role} token may not ${action}`),
  /**
   * An agent token acting as an agent it did not register: by X-Koor-Instance, or on a
   * `self` route's agent (src/http/permissions.ts). A created token acts as the agents it registered.
   */
  NOT_OWN_AGENT: def('PERMISSION_DENIED', (role: string, agent: string) => `${role} token may not act as agent ${agent}: this token did not register it; act as your own agent with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)`),
  /** An instance token on a `self` route of another agent: it is its own agent's only. */
  NOT_THIS_INSTANCE: def('PERMISSION_DENIED', (role: string, agent: string, own: string) => `${role} token may not act as agent ${agent}: it is agent ${own}'s token`),
  /** A `party` rule's call by a token acting as no agent (it would act as the operator). */
  AGENT_REQUIRED: def('PERMISSION_DENIED', (role: string, action: string) => `${role} token may not ${action} without acting as an agent: give one with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)`),
  /** Past its token's request rate; `detail.retry_after` seconds go into Retry-After. */
  RATE_LIMITED: def('RATE_LIMITED', (perSecond: number) => `rate limit exceeded: ${perSecond} requests per second per token`),
  /** A scoped token touching nothing its scopes reach; `what`: the target outside them (the refusal names it), e.g. `b.ts in project ops`, `every project`. */
  SCOPE_FORBIDDEN: def('PERMISSION_DENIED', (role: string, action: string, what = '') => `${role} token may not ${action} outside its scopes${what === '' ? '' : `: ${what}`}`),
  /**
   * A request whose Host names a host the server does not serve (src/front/host-guard.ts): a web
   * page that pointed its own name at this machine (DNS rebinding), or a proxy passing a public name.
   */
  HOST_NOT_ALLOWED: def('PERMISSION_DENIED', (host: string) => `Host header ${q(host)} names a host this server does not serve; to serve it, add its name to allowed_hosts (--allowed-hosts, KOOR_ALLOWED_HOSTS)`),
  /** A browser request from a page of another origin than the server's own or the dashboard's (src/front/host-guard.ts). */
  ORIGIN_NOT_ALLOWED: def('PERMISSION_DENIED', (origin: string) => `Origin header ${q(origin)} is not allowed: a page of another site may not call this server; to allow it, add the origin to allowed_origins (--allowed-origins, KOOR_ALLOWED_ORIGINS)`),
  ROUTE_NOT_FOUND: def('NOT_FOUND', () => 'not found'),
  /** Sent with `detail.allow` (the methods the path has). */
  METHOD_NOT_ALLOWED: def('METHOD_NOT_ALLOWED', () => 'method not allowed'),
  WEBSOCKET_REQUIRED: def('INVALID_ARGUMENT', () => 'websocket upgrade required'),
  BODY_TOO_LARGE: def('PAYLOAD_TOO_LARGE', () => 'body too large'),
  /** Path and query together past HTTP_MAX_URL_BYTES. */
  URL_TOO_LONG: def('URI_TOO_LONG', (bytes: number, max: number) => `URL too long: ${bytes} bytes (max ${max})`),
  INVALID_JSON: def('INVALID_ARGUMENT', () => 'invalid JSON body'),
  /** A JSON body (or a JSON state value) nested deeper than JSON_MAX_DEPTH. */
  JSON_TOO_DEEP: def('INVALID_ARGUMENT', (max: number) => `JSON nested too deeply (max ${max} levels)`),
  /** Bytes that are not UTF-8 where text is expected; never rewritten lossily. */
  INVALID_UTF8: def('INVALID_ARGUMENT', (what: string) => `${what} is not valid UTF-8`),
  /** Cluster mode: text holding U+0000, which PostgreSQL's text cannot store (a path segment, a query value, a body member). */
  TEXT_NUL: def('INVALID_ARGUMENT', (operation: string) => `${operation}: text must not contain U+0000 (NUL)`),
  EMPTY_BODY: def('INVALID_ARGUMENT', () => 'empty body'),
  /** A missing member, query parameter or path segment. */
  FIELD_REQUIRED: def('INVALID_ARGUMENT', (field: string) => `${field} is required`),
  FIELDS_REQUIRED: def('INVALID_ARGUMENT', (first: string, second: string) => `${first} and ${second} are required`),
  /** A body member breaking its schema; `problem` is the validator's wording. */
  FIELD_INVALID: def('INVALID_ARGUMENT', (at: string, problem: string) => `${at}: ${problem}`),
  FIELD_WRONG_TYPE: def('INVALID_ARGUMENT', (at: string, types: readonly string[]) => `${at}: expected ${types.join(' or ')}`),
  INVALID_URL_ENCODING: def('INVALID_ARGUMENT', (what: string) => `invalid URL encoding in ${what}`),
  NAME_HAS_NUL: def('INVALID_ARGUMENT', (what: string) => `${what} must not contain NUL bytes`),
  /** A project name: one path segment, as a repository's identity is. */
  PROJECT_INVALID: def('INVALID_ARGUMENT', (field: string, why: string) => `invalid ${field}: ${why}`),
  NAME_TOO_LONG: def('INVALID_ARGUMENT', (what: string, bytes: number, max: number) => `${what} too long: ${bytes} bytes (max ${max})`),
  TOO_MANY: def('INVALID_ARGUMENT', (what: string, count: number, max: number) => `too many ${what}: ${count} (max ${max})`),
  NOT_POSITIVE_INTEGER: def('INVALID_ARGUMENT', (name: string) => `${name} must be a positive integer`),
  ABOVE_MAXIMUM: def('INVALID_ARGUMENT', (name: string, max: number) => `${name} must be at most ${max}`),
  SINCE_INVALID: def('INVALID_ARGUMENT', () => 'since must be a non-negative integer'),
  /** `where` prefixes the message when a batch names the item at fault ("rules[2]: "). */
  INVALID_PATTERN: def('INVALID_ARGUMENT', (pattern: string, where = '') => `${where}invalid pattern: ${pattern}`),
  INVALID_REGEX: def('INVALID_ARGUMENT', (reason: string, where = '') => `${where}invalid regex pattern: ${reason}`),
  INVALID_TIME: def('INVALID_ARGUMENT', (name: string, storageForm: boolean) => `${name} must be an RFC 3339 time${storageForm ? ' or YYYY-MM-DD[ HH:MM:SS]' : ''}`),
  IDENTITY_REQUIRED: def('INVALID_ARGUMENT', (action: string) => `${action} requires an agent identity`),
  OVERFLOW_INVALID: def('INVALID_ARGUMENT', () => 'overflow must be "close" or "drop"'),
  DASHBOARD_NOT_BUILT: def('NOT_FOUND', (index: string) => `dashboard not built: ${index} is missing (run npm run build)`),

  // ── Availability and limits of the server's threads ──
  DATABASE_UNAVAILABLE: def('UNAVAILABLE', () => 'database unavailable'),
  /** A failure the client cannot act on; the cause goes to the log, never to the client. */
  OPERATION_FAILED: def('INTERNAL', (operation: string) => `failed to ${operation}`),
  SHUTTING_DOWN: def('UNAVAILABLE', () => 'server is shutting down'),
  RESTARTING: def('UNAVAILABLE', () => 'server is restarting on a restored backup; retry'),
  WRITER_UNAVAILABLE: def('UNAVAILABLE', () => 'writer unavailable'),
  /** Nothing of the write was kept; writes resume by themselves once space is freed. */
  STORAGE_FULL: def('INSUFFICIENT_STORAGE', () => 'insufficient storage: the disk holding the database is full; nothing was written, retry once space is freed'),
  WRITER_QUEUE_FULL: def('RESOURCE_EXHAUSTED', () => 'writer queue full'),
  DEADLINE_EXCEEDED: def('DEADLINE_EXCEEDED', (what: string) => `${what}: deadline exceeded`),
  DEADLINE_BEFORE_WRITE: def('DEADLINE_EXCEEDED', () => 'deadline exceeded before the write started'),
  /**
   * The write reached the writer but its reply did not come back (the writer died or
   * stalled past the grace, or the database connection broke during COMMIT): it may have committed.
   */
  WRITE_OUTCOME_UNKNOWN: def('OUTCOME_UNKNOWN', (method: string) => `${method}: outcome unknown: the write may have committed; retry with the same Idempotency-Key, or read it back before retrying`),
  JOB_OVER_BUDGET: def('DEADLINE_EXCEEDED', (job: string) => `${job}: job exceeded its time budget`),
  POOL_QUEUE_FULL: def('RESOURCE_EXHAUSTED', () => 'worker pool queue full'),
  DELIVERY_QUEUE_FULL: def('RESOURCE_EXHAUSTED', () => 'webhook delivery queue full'),
  DELIVERY_NOT_RUNNING: def('UNAVAILABLE', () => 'webhook delivery thread not running'),
  DELIVERY_EXITED: def('UNAVAILABLE', () => 'webhook delivery thread exited'),
  /** The delivery thread could not read the event log; `reason` is its own account. */
  DELIVERY_LOG_UNREADABLE: def('UNAVAILABLE', (reason: string) => reason),
  MALFORMED_ENVELOPE: def('INVALID_ARGUMENT', () => 'malformed RPC envelope'),
  UNKNOWN_METHOD: def('INVALID_ARGUMENT', (method: string) => `unknown method: ${method}`),
  INVALID_REQUEST: def('INVALID_ARGUMENT', (method: string, at: string, problem: string) => `invalid ${method} request: ${at} ${problem}`.trim()),

  // ── Admin: backups and restores ──
  BACKUP_RUNNING: def('ALREADY_EXISTS', () => 'a backup is already running; try again when it has finished'),
  BACKUP_TIMED_OUT: def('DEADLINE_EXCEEDED', (seconds: number) => `backup took longer than ${seconds} s`),
  RESTORE_UNDER_WAY: def('ALREADY_EXISTS', () => 'a restore is already under way'),
  RESTORE_NEEDS_SERVER: def('UNAVAILABLE', () => 'live restore needs koor-server itself; stop the server and run koor-server --restore FILE'),
  /** An uploaded file that is not a usable snapshot; `reason` is the snapshot reader's. */
  SNAPSHOT_INVALID: def('INVALID_ARGUMENT', (reason: string) => reason),

  // ── State ──
  KEY_NOT_FOUND: def('NOT_FOUND', (key: string) => `key not found: ${key}`),
  EPHEMERAL_INVALID: def('INVALID_ARGUMENT', (value: string) => `X-Koor-Ephemeral must be true or false: ${q(value)}`),
  EPHEMERAL_NEEDS_AGENT: def('INVALID_ARGUMENT', () => 'an ephemeral key needs an agent identity (an instance token or X-Koor-Instance)'),
  TXN_TOO_MANY_OPS: def('INVALID_ARGUMENT', (count: number, max: number) => `a transaction has at most ${max} compares and ops: ${count}`),
  TXN_OP_INVALID: def('INVALID_ARGUMENT', (where: string, reason: string) => `${where}: ${reason}`),
  /** A fencing token older than the resource's current one: its holder was declared stale and someone else has it now. */
  FENCE_OUTDATED: def('ALREADY_EXISTS', (what: string, given: number, current: number) => `fence ${given} is outdated for ${what}: the current fence is ${current}`),
  FENCE_INVALID: def('INVALID_ARGUMENT', (value: string) => `X-Koor-Fence must be a non-negative integer: ${q(value)}`),
  VALUES_INVALID: def('INVALID_ARGUMENT', (value: string) => `values must be 1 or 0: ${q(value)}`),
  REVISION_INVALID: def('INVALID_ARGUMENT', (what: string) => `${what} must be a non-negative integer revision`),
  VERSION_NOT_FOUND: def('NOT_FOUND', versionNotFound),
  /** A diff naming a version that does not exist is a bad request, not a missing resource. */
  DIFF_VERSION_NOT_FOUND: def('INVALID_ARGUMENT', (version: number, key: string) => `get version ${version}: ${versionNotFound(version, key)}`),
  /** The diff job's own account of two values it cannot compare. */
  DIFF_FAILED: def('INVALID_ARGUMENT', (reason: string) => reason),
  VERSION_NOT_INTEGER: def('INVALID_ARGUMENT', () => 'version must be an integer'),
  ROLLBACK_REQUIRED: def('INVALID_ARGUMENT', () => 'rollback requires ?rollback=<version>'),
  ROLLBACK_NOT_INTEGER: def('INVALID_ARGUMENT', () => 'rollback version must be an integer'),
  DIFF_NEEDS_TWO: def('INVALID_ARGUMENT', () => 'diff requires two versions: ?diff=v1,v2'),
  DIFF_NOT_INTEGERS: def('INVALID_ARGUMENT', () => 'diff versions must be integers'),
  /** Sent with `detail.version` (and `detail.hash` when the key exists). */
  PRECONDITION_FAILED: def('FAILED_PRECONDITION', (version: number) => `precondition failed: current version ${version}`),

  // ── Leases ──
  LEASE_NOT_FOUND: def('NOT_FOUND', (id: string) => `lease not found: ${id}`),
  /** Sent with the `conflicts` body member (the leases in the way). */
  LEASE_CONFLICT: def('ALREADY_EXISTS', (resource: string, holder: string) => `lease conflict: ${resource} held by ${holder}`),
  LEASE_HELD_BY_OTHER: def('PERMISSION_DENIED', (id: string, holder: string) => `lease ${id} is held by ${holder}`),
  RESOURCE_EMPTY: def('INVALID_ARGUMENT', (where = '') => `${where}resource must not be empty`),
  /** A path glob that no repository-relative path (what hooks and the pre-commit guard check) can match. */
  RESOURCE_NOT_RELATIVE: def('INVALID_ARGUMENT', (resource: string, why: string, where = '') => `${where}${resource}: ${why}`),
  /** The duration parser's account of an unreadable ttl. */
  TTL_INVALID: def('INVALID_ARGUMENT', (reason: string) => reason),
  TTL_TOO_SHORT: def('INVALID_ARGUMENT', () => 'ttl must be at least 1s'),
  TTL_TOO_LONG: def('INVALID_ARGUMENT', (hours: number) => `ttl must be at most ${hours}h`),

  // ── Tasks ──
  TASK_NOT_FOUND: def('NOT_FOUND', (id: string | number) => `task not found: ${id}`),
  NO_TASK_READY: def('NOT_FOUND', (project: string) => `no task ready in ${project}`),
  /** Ready tasks there were, but every one's paths are held: how many, and the first one's blocker. */
  NO_TASK_FREE: def('NOT_FOUND', (project: string, ready: number, blocker: string) => `no task ready in ${project}: ${ready} ready task${ready === 1 ? '' : 's'}, all blocked: ${blocker}`),
  TASK_NOT_CLAIMED: def('ALREADY_EXISTS', (id: string | number, status: string) => `task ${id} is not claimed (status: ${status})`),
  TASK_CLAIMED_BY_OTHER: def('PERMISSION_DENIED', (id: string | number, holder: string) => `task ${id} is claimed by ${holder}`),
  UNKNOWN_DEP: def('INVALID_ARGUMENT', (dep: string | number) => `unknown task in deps: ${dep}`),
  DEP_FAILED: def('INVALID_ARGUMENT', (dep: number) => `task ${dep} in deps failed: a task waiting on it would never run`),
  AFTER_INVALID: def('INVALID_ARGUMENT', () => 'after must be a task id'),
  TASK_STATUS_INVALID: def('INVALID_ARGUMENT', (statuses: readonly string[], got: string) => `status must be one of ${statuses.join(', ')} (comma-separated): ${got}`),

  // ── The agent inbox ──
  /** Also what a non-recipient is told of a message it may not see: it cannot learn that the id exists. */
  MESSAGE_NOT_FOUND: def('NOT_FOUND', (id: string | number) => `message not found: ${id}`),
  UNKNOWN_RECIPIENTS: def('INVALID_ARGUMENT', (recipients: readonly string[]) => `unknown recipients: ${recipients.join(', ')}`),
  UNKNOWN_THREAD: def('INVALID_ARGUMENT', (id: string | number) => `unknown thread: ${id}`),
  UNKNOWN_REPLY_TO: def('INVALID_ARGUMENT', (id: string | number) => `unknown message in reply_to: ${id}`),
  ONE_OF_REQUIRED: def('INVALID_ARGUMENT', (fields: readonly string[]) => `exactly one of ${fields.join(', ')} is required`),
  IDEMPOTENCY_KEY_INVALID: def('INVALID_ARGUMENT', (max: number) => `Idempotency-Key must be 1 to ${max} visible ASCII characters`),
  MESSAGE_BODY_TOO_LARGE: def('PAYLOAD_TOO_LARGE', (bytes: number, max: number) => `message body too large: ${bytes} bytes (max ${max})`),
  THREAD_NOT_FOUND: def('NOT_FOUND', (id: string | number) => `thread not found: ${id}`),
  HOOK_SESSION_NOT_FOUND: def('NOT_FOUND', (id: string) => `hook session not found: ${id}`),
  IDEMPOTENCY_KEY_REUSED: def('ALREADY_EXISTS', (key: string) => `Idempotency-Key ${q(key)} was already used for a different request`),
  REPLY_OTHER_THREAD: def('INVALID_ARGUMENT', (replyTo: string | number, thread: string | number) => `message ${replyTo} is not in thread ${thread}`),

  // ── Created tokens ──
  TOKEN_NOT_FOUND: def('NOT_FOUND', (id: string) => `token not found: ${id}`),
  TOKEN_ROLE_INVALID: def('INVALID_ARGUMENT', (role: string) => `role must be admin, agent or reader: ${q(role)}`),
  TOKEN_SCOPE_KINDS_UNKNOWN: def('INVALID_ARGUMENT', (kinds: readonly string[]) => `unknown scope kind${kinds.length === 1 ? '' : 's'}: ${kinds.join(', ')} (known: project, state, topic, path)`),
  TOKEN_SCOPE_INVALID: def('INVALID_ARGUMENT', (scope: string, why: string) => `invalid scope ${q(scope)}: ${why}`),
  TOKEN_TTL_INVALID: def('INVALID_ARGUMENT', (ttl: string) => `ttl must be a positive number of seconds or a duration like 90d, 12h, 30m: ${q(ttl)}`),
  WEBHOOK_SECRET_NEEDS_KEY: def('FAILED_PRECONDITION', () => 'webhook secrets are stored encrypted: in cluster mode give every node the same --secret-key-file'),
  WEBHOOK_SECRET_SEALED_ELSEWHERE: def('FAILED_PRECONDITION', () => 'the webhook secret was encrypted with another secret key (a backup restored without its key?): start with that --secret-key-file, or create the webhook again'),

  // ── Rules and templates ──
  RULE_NOT_FOUND: def('NOT_FOUND', (project: string, ruleId: string) => `rule not found: ${project}/${ruleId}`),
  PROPOSED_RULE_NOT_FOUND: def('NOT_FOUND', (project: string, ruleId: string) => `proposed rule not found: ${project}/${ruleId}`),
  /** The rule id is taken in the project. The wording predates the catalogue and is kept. */
  RULE_EXISTS: def('ALREADY_EXISTS', () => 'failed to propose rule'),
  EMPTY_RULES: def('INVALID_ARGUMENT', () => 'empty rules array'),
  RULE_STATUS_INVALID: def('INVALID_ARGUMENT', () => 'status must be accepted, proposed or rejected'),
  TEMPLATE_NOT_FOUND: def('NOT_FOUND', (id: string) => `template not found: ${id}`),
  /** The template id is taken. The wording predates the catalogue and is kept. */
  TEMPLATE_EXISTS: def('ALREADY_EXISTS', () => 'failed to create template'),
  TEMPLATE_DATA_INVALID: def('INVALID_ARGUMENT', () => 'template data is not valid rules JSON'),

  // ── Specs and contracts ──
  SPEC_NOT_FOUND: def('NOT_FOUND', (project: string, name: string) => `spec not found: ${project}/${name}`),
  CONTRACT_NOT_FOUND: def('NOT_FOUND', (project: string, name: string) => `contract not found: ${project}/${name}`),
  CONTRACT_INVALID: def('INVALID_ARGUMENT', (reason: string) => `stored spec is not a valid contract: ${reason}`),
  ENDPOINT_NOT_IN_CONTRACT: def('INVALID_ARGUMENT', (endpoint: string) => `endpoint ${q(endpoint)} not in contract`),
  ENDPOINT_FORMAT: def('INVALID_ARGUMENT', (endpoint: string) => `invalid endpoint format ${q(endpoint)} (expected "METHOD /path")`),

  // ── Instances, webhooks, LLM usage, agent metrics ──
  INSTANCE_NOT_FOUND: def('NOT_FOUND', (id: string) => `instance not found: ${id}`),
  WEBHOOK_NOT_FOUND: def('NOT_FOUND', (id: string) => `webhook not found: ${id}`),
  /** The webhook id is taken. The wording predates the catalogue and is kept. */
  WEBHOOK_EXISTS: def('ALREADY_EXISTS', () => 'failed to create webhook'),
  WEBHOOK_TEST_FAILED: def('INVALID_ARGUMENT', (reason: string) => `webhook test failed: ${reason}`),
  TOKENS_NEGATIVE: def('INVALID_ARGUMENT', () => 'tokens must not be negative'),
  GROUP_BY_INVALID: def('INVALID_ARGUMENT', () => 'invalid group_by: must be instance, project, model, or session_tag'),
  PERIOD_INVALID: def('INVALID_ARGUMENT', () => 'period must be a prefix of YYYY-MM-DDTHH'),
  /** OpenTelemetry export in the other OTLP encoding. */
  OTLP_PROTOBUF: def('INVALID_ARGUMENT', () => 'OTLP protobuf is not accepted: export with OTEL_EXPORTER_OTLP_PROTOCOL=http/json'),
  BUDGET_SCOPE_INVALID: def('INVALID_ARGUMENT', (scope: string) => `invalid budget scope ${q(scope)}: expected agent:<id|name>, project:<name>, session:<tag> or global`),
  BUDGET_CAP_REQUIRED: def('INVALID_ARGUMENT', () => 'a budget needs usd or tokens'),
  BUDGET_NOT_FOUND: def('NOT_FOUND', (scope: string) => `budget not found: ${scope}`),
  /** A task claim past a spending cap: until the period rolls or the cap is raised. */
  BUDGET_EXCEEDED: def('RATE_LIMITED', (why: string) => `budget exceeded: ${why}`),

  // ── MCP tools and sessions ──
  // A tool failure reaches the model as text only (`isError: true`), so a tool entry's status is
  // what the same failure would answer over HTTP; session errors are JSON-RPC replies whose HTTP
  // status follows from theirs.
  /** `action` ("registration", "set intent", "propose rule") and the failure under it. */
  TOOL_FAILED: def('INVALID_ARGUMENT', (action: string, reason: string) => `${action} failed: ${reason}`),
  UNKNOWN_TOOL: def('INVALID_ARGUMENT', (name: string) => `unknown tool: ${name}`),
  RULE_ALREADY_EXISTS: def('ALREADY_EXISTS', (project: string, ruleId: string) => `rule already exists: ${project}/${ruleId}`),
  /** An unexpected tool failure: the cause goes to the log, never to the model. */
  TOOL_INTERNAL: def('INTERNAL', () => 'internal error'),
  MCP_SESSION_NOT_FOUND: def('NOT_FOUND', () => 'Session not found'),
  MCP_SESSION_REQUIRED: def('INVALID_ARGUMENT', () => 'Bad Request: Mcp-Session-Id header is required'),
  MCP_TOO_MANY_SESSIONS: def('RESOURCE_EXHAUSTED', () => 'too many MCP sessions'),
} as const;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorParams<C extends ErrorCode> = Parameters<(typeof ERRORS)[C]['message']>;

/** The message of `code` with `params`: what the client reads. */
export function errorMessage<C extends ErrorCode>(code: C, ...params: ErrorParams<C>): string {
  return (ERRORS[code].message as (...p: readonly unknown[]) => string)(...params);
}
