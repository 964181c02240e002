import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, parseAge, parseBind, parseBytes, parseDatabaseUrl, parseDuration, parseHosts, parseInt0, parseOrigins, type Bind } from './config-values.js';

export { ConfigError, parseBind, parseDuration, redactUrl, type Bind } from './config-values.js';

/**
 * The one config module: flags > env (KOOR_*, non-empty) > settings.json (or --config) > defaults.
 * Parsed once at boot, validated, frozen, passed down. No process.env reads elsewhere.
 */

export interface Config {
  bind: Bind;
  /** null = dashboard listener disabled. */
  dashboardBind: Bind | null;
  dataDir: string;
  /**
   * Cluster mode: a PostgreSQL URL (`postgres://user:pass@host:5432/db`) shared by every node;
   * '' = the embedded SQLite file in `dataDir` (the default).
   */
  database: string;
  authToken: string;
  /**
   * Host names the listeners serve besides the loopback names (src/front/host-guard.ts): a request
   * whose `Host` names another is refused (DNS rebinding). Bound to loopback the loopback names are
   * always served; bound beyond it, with none configured, any Host is (`*` = any, always).
   */
  allowedHosts: readonly string[];
  /** Browser origins allowed to call the server besides its own (the dashboard's, same-origin pages); `*` = any. */
  allowedOrigins: readonly string[];
  /**
   * TLS: PEM certificate (chain) and private key files, absolute; both '' = plain HTTP.
   * When set, both listeners serve HTTPS and WSS. The passphrase decrypts an encrypted key.
   */
  tlsCert: string;
  tlsKey: string;
  tlsKeyPassphrase: string;
  /** A file holding the server token: kept out of the command line, which `ps` shows. Read into `authToken`. */
  authTokenFile: string;
  /**
   * The key that encrypts webhook secrets at rest: a file of 64 hex characters. ''
   * = `<data dir>/secret.key`, made at first start (SQLite); cluster mode has no default (every
   * node must share one: without it webhooks cannot have secrets).
   */
  secretKeyFile: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /**
   * SQLite synchronous mode of the writer. `full` (default): a COMMIT is fsync'd before the reply,
   * so an acknowledged write survives power loss. `normal`: survives a crash or kill -9 of the
   * server, not a power cut or kernel crash; no fsync on the commit path (checkpoints still sync).
   */
  sync: 'full' | 'normal';
  /** Requests per second per token (0 = off), its burst (0 = twice the rate), and whether the operator is limited too. */
  rateLimit: number;
  rateBurst: number;
  rateLimitAdmin: number;
  /** What an edit hook does with a file: refuse it when another agent leases it, or also lease a free file to the editor. */
  hookEdits: 'deny' | 'auto-lease';
  /** An auto-lease ends once its holder has not edited the file this long, ms (0 = held while the session lives). */
  autoLeaseIdleMs: number;
  /** Cap on every request body, bytes. */
  maxBodyBytes: number;
  /** Deadline of one writer RPC, ms. */
  rpcDeadlineMs: number;
  /** Cluster mode: a database read's deadline, ms (past it 503: src/domains/readers.ts); a node's read pool size (src/cluster/node.ts). */
  readDeadlineMs: number;
  pgConnections: number;
  /** Max writer RPCs in flight before RESOURCE_EXHAUSTED. */
  rpcMaxInFlight: number;
  /** Byte budget of the front-process state cache. */
  cacheBytes: number;
  /** piscina threads for CPU jobs, and the deadline of one job, ms. */
  poolThreads: number;
  poolDeadlineMs: number;
  /** Events kept by the pruner (newest N). */
  eventRetention: number;
  eventHistoryScan: number;
  /** Versions kept per state key, the current one included (0 = all). */
  stateHistoryKeep: number;
  /** Interval of the background retention pass (events, state history, vacuum), ms. */
  pruneIntervalMs: number;
  /** Per-subscriber WebSocket buffer: max queued events. */
  wsBufferEvents: number;
  /** Per-subscriber WebSocket buffer: max queued bytes. */
  wsBufferBytes: number;
  /** Liveness monitor interval and stale timeout, ms. */
  livenessIntervalMs: number;
  livenessTimeoutMs: number;
  staleSessionRetentionMs: number;
  /** Idle MCP sessions are closed after this, ms. */
  mcpSessionIdleMs: number;
  /** Open MCP sessions at most (the least recently used one, idle first, is closed for a new one), and per token with the agents it registered. */
  mcpMaxSessions: number;
  mcpSessionsPerToken: number;
  /** Interval of the background compliance pass, ms. */
  complianceIntervalMs: number;
  /** Compliance runs kept per (instance, contract), newest first (0 = all). */
  complianceKeep: number;
  /** Ages past which rows are pruned, ms (0 = keep all): audit log, agent-metric buckets, LLM usage. */
  auditRetentionMs: number;
  agentMetricsRetentionMs: number;
  llmRetentionMs: number;
  /** A JSON price table for LLM usage that comes without a cost: overlays the dated defaults; '' = the defaults. */
  llmPrices: string;
  /** Rows kept at most, newest first (0 = no count limit): audit log, agent-metric buckets, LLM usage. */
  auditKeep: number;
  agentMetricsKeep: number;
  llmKeep: number;
  /** Agent inbox messages kept this long, ms (0 = all). */
  messageRetentionMs: number;
  messageKeep: number;
  /** Idempotency-Key replies kept at most, newest first (0 = no count limit), besides their 24 h. */
  idempotencyKeep: number;
  taskRetentionMs: number;
  expiredTokenRetentionMs: number;
  /** Webhook delivery attempts per event before it is dropped, and the retry backoff (doubling from base, capped). */
  webhookMaxAttempts: number;
  webhookRetryBaseMs: number;
  webhookRetryMaxMs: number;
  /** Where the settings came from, for the startup log line. */
  configFile: string | null;
  /**
   * Test-only hooks (the writer's sys.sleep). Not a setting: no flag, env or file key reaches it;
   * only test code building a Config sets it.
   */
  testHooks?: boolean;
  /** Test-only, with testHooks: the budget clock runs this far ahead of the wall clock (a test moves into the next period). */
  testClockOffsetMs?: number;
}

type Kind = 'bind' | 'bind-or-off' | 'string' | 'hosts' | 'origins' | 'database' | 'level' | 'sync' | 'hook-edits' | 'int' | 'posint' | 'duration' | 'age' | 'bytes';

interface Setting {
  key: keyof Omit<Config, 'configFile' | 'testHooks' | 'testClockOffsetMs'>;
  flag: string;
  env: string;
  file: string;
  kind: Kind;
  def: string;
  help: string;
}

/** Every setting, its sources and its default (with unit), in one table. */
export const SETTINGS: readonly Setting[] = [
  { key: 'bind', flag: 'bind', env: 'KOOR_BIND', file: 'bind', kind: 'bind', def: 'localhost:9800', help: 'API listen address host:port' },
  { key: 'dashboardBind', flag: 'dashboard-bind', env: 'KOOR_DASHBOARD_BIND', file: 'dashboard_bind', kind: 'bind-or-off', def: 'localhost:9847', help: 'dashboard listen address ("" disables)' },
  { key: 'dataDir', flag: 'data-dir', env: 'KOOR_DATA_DIR', file: 'data_dir', kind: 'string', def: '.', help: 'directory of data.db' },
  { key: 'database', flag: 'database', env: 'KOOR_DATABASE_URL', file: 'database', kind: 'database', def: '', help: 'cluster mode: PostgreSQL URL postgres://user:pass@host:port/db shared by every node ("" = embedded SQLite in --data-dir)' },
  { key: 'authToken', flag: 'auth-token', env: 'KOOR_AUTH_TOKEN', file: 'auth_token', kind: 'string', def: '', help: 'bearer token required on every route but /health ("" = open)' },
  { key: 'allowedHosts', flag: 'allowed-hosts', env: 'KOOR_ALLOWED_HOSTS', file: 'allowed_hosts', kind: 'hosts', def: '', help: 'comma-separated Host names served besides localhost, 127.0.0.1 and [::1], any port (a request naming another is refused: DNS rebinding); bound beyond loopback with none given, any Host is served; * = any' },
  { key: 'allowedOrigins', flag: 'allowed-origins', env: 'KOOR_ALLOWED_ORIGINS', file: 'allowed_origins', kind: 'origins', def: '', help: 'comma-separated browser origins (scheme://host[:port]) allowed to call the server besides its own and the dashboard\'s; * = any' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'KOOR_TLS_CERT', file: 'tls_cert', kind: 'string', def: '', help: 'PEM certificate file: both listeners serve HTTPS/WSS (needs --tls-key)' },
  { key: 'tlsKey', flag: 'tls-key', env: 'KOOR_TLS_KEY', file: 'tls_key', kind: 'string', def: '', help: 'PEM private key file of --tls-cert' },
  { key: 'tlsKeyPassphrase', flag: 'tls-key-passphrase', env: 'KOOR_TLS_KEY_PASSPHRASE', file: 'tls_key_passphrase', kind: 'string', def: '', help: 'passphrase of an encrypted --tls-key (prefer the env or file: flags show in ps)' },
  { key: 'authTokenFile', flag: 'auth-token-file', env: 'KOOR_AUTH_TOKEN_FILE', file: 'auth_token_file', kind: 'string', def: '', help: 'read the bearer token from this file (not visible in ps)' },
  { key: 'secretKeyFile', flag: 'secret-key-file', env: 'KOOR_SECRET_KEY_FILE', file: 'secret_key_file', kind: 'string', def: '', help: 'key encrypting webhook secrets at rest, 64 hex chars ("" = <data-dir>/secret.key, made at first start; cluster mode: required for webhook secrets, the same file on every node)' },
  { key: 'logLevel', flag: 'log-level', env: 'KOOR_LOG_LEVEL', file: 'log_level', kind: 'level', def: 'info', help: 'debug|info|warn|error' },
  { key: 'sync', flag: 'sync', env: 'KOOR_SYNC', file: 'sync', kind: 'sync', def: 'full', help: 'full (fsync each commit: survives power loss) | normal (survives kill -9 only)' },
  { key: 'hookEdits', flag: 'hook-edits', env: 'KOOR_HOOK_EDITS', file: 'hook_edits', kind: 'hook-edits', def: 'auto-lease', help: 'edit hooks: auto-lease (the first edit of a free file leases it to the editor) | deny (refuse only files others leased)' },
  { key: 'autoLeaseIdleMs', flag: 'auto-lease-idle', env: 'KOOR_AUTO_LEASE_IDLE', file: 'auto_lease_idle', kind: 'age', def: '2m', help: "an auto-lease ends once its holder has not edited the file this long (0 = held until the holder's session ends)" },
  { key: 'rateLimit', flag: 'rate-limit', env: 'KOOR_RATE_LIMIT', file: 'rate_limit', kind: 'int', def: '500', help: 'requests per second per token, agent and reader tokens (0 = off); past it 429 with Retry-After' },
  { key: 'rateBurst', flag: 'rate-burst', env: 'KOOR_RATE_BURST', file: 'rate_burst', kind: 'int', def: '0', help: 'requests a token may make at once before the rate applies (0 = twice --rate-limit)' },
  { key: 'rateLimitAdmin', flag: 'rate-limit-admin', env: 'KOOR_RATE_LIMIT_ADMIN', file: 'rate_limit_admin', kind: 'int', def: '0', help: '1 = the operator (server token, open mode) is rate-limited too' },
  { key: 'maxBodyBytes', flag: 'max-body-bytes', env: 'KOOR_MAX_BODY_BYTES', file: 'max_body_bytes', kind: 'bytes', def: '10485760', help: 'request body cap in bytes (suffixes k, m)' },
  { key: 'rpcDeadlineMs', flag: 'rpc-deadline', env: 'KOOR_RPC_DEADLINE', file: 'rpc_deadline', kind: 'duration', def: '5s', help: 'deadline of one write' },
  { key: 'readDeadlineMs', flag: 'read-deadline', env: 'KOOR_READ_DEADLINE', file: 'read_deadline', kind: 'duration', def: '10s', help: 'deadline of one database read, cluster mode (past it 503)' },
  { key: 'pgConnections', flag: 'pg-connections', env: 'KOOR_PG_CONNECTIONS', file: 'pg_connections', kind: 'posint', def: '8', help: "cluster mode: PostgreSQL connections of a node's reads (and half as many, at least 1, for its read transactions); LISTEN, the election and the writer take 5 more" },
  { key: 'rpcMaxInFlight', flag: 'rpc-max-in-flight', env: 'KOOR_RPC_MAX_IN_FLIGHT', file: 'rpc_max_in_flight', kind: 'posint', def: '20000', help: 'writes in flight before 503' },
  { key: 'cacheBytes', flag: 'cache-bytes', env: 'KOOR_CACHE_BYTES', file: 'cache_bytes', kind: 'bytes', def: '64m', help: 'state read cache budget in bytes' },
  { key: 'poolThreads', flag: 'pool-threads', env: 'KOOR_POOL_THREADS', file: 'pool_threads', kind: 'posint', def: '2', help: 'worker threads for CPU jobs' },
  { key: 'poolDeadlineMs', flag: 'pool-deadline', env: 'KOOR_POOL_DEADLINE', file: 'pool_deadline', kind: 'duration', def: '2s', help: 'deadline of one CPU job' },
  { key: 'eventRetention', flag: 'event-retention', env: 'KOOR_EVENT_RETENTION', file: 'event_retention', kind: 'int', def: '1000', help: 'events kept (newest N)' },
  { key: 'eventHistoryScan', flag: 'event-history-scan', env: 'KOOR_EVENT_HISTORY_SCAN', file: 'event_history_scan', kind: 'posint', def: '5000', help: 'event ids one history read examines at most (at least its last=); past it the reply names a cursor (X-Koor-Next)' },
  { key: 'stateHistoryKeep', flag: 'state-history-keep', env: 'KOOR_STATE_HISTORY_KEEP', file: 'state_history_keep', kind: 'int', def: '100', help: 'versions kept per state key, current included (0 = all)' },
  { key: 'pruneIntervalMs', flag: 'prune-interval', env: 'KOOR_PRUNE_INTERVAL', file: 'prune_interval', kind: 'duration', def: '60s', help: 'retention interval (events, state history, freed space)' },
  { key: 'wsBufferEvents', flag: 'ws-buffer-events', env: 'KOOR_WS_BUFFER_EVENTS', file: 'ws_buffer_events', kind: 'posint', def: '64', help: 'per-subscriber buffer, events' },
  { key: 'wsBufferBytes', flag: 'ws-buffer-bytes', env: 'KOOR_WS_BUFFER_BYTES', file: 'ws_buffer_bytes', kind: 'bytes', def: '1m', help: 'per-subscriber buffer, bytes' },
  { key: 'livenessIntervalMs', flag: 'liveness-interval', env: 'KOOR_LIVENESS_INTERVAL', file: 'liveness_interval', kind: 'duration', def: '60s', help: 'liveness check interval' },
  { key: 'livenessTimeoutMs', flag: 'liveness-timeout', env: 'KOOR_LIVENESS_TIMEOUT', file: 'liveness_timeout', kind: 'duration', def: '5m', help: 'an active instance unseen this long goes stale' },
  { key: 'staleSessionRetentionMs', flag: 'stale-session-retention', env: 'KOOR_STALE_SESSION_RETENTION', file: 'stale_session_retention', kind: 'age', def: '1d', help: 'a coding-agent session whose agent went stale (killed without SessionEnd) is ended, its agent deregistered, this long after it was last seen (0 = kept)' },
  { key: 'mcpSessionIdleMs', flag: 'mcp-session-idle', env: 'KOOR_MCP_SESSION_IDLE', file: 'mcp_session_idle', kind: 'duration', def: '30m', help: 'idle MCP sessions are closed after this' },
  { key: 'mcpMaxSessions', flag: 'mcp-max-sessions', env: 'KOOR_MCP_MAX_SESSIONS', file: 'mcp_max_sessions', kind: 'posint', def: '1000', help: 'open MCP sessions at most; at the cap the least recently used one (idle first) is closed' },
  { key: 'mcpSessionsPerToken', flag: 'mcp-sessions-per-token', env: 'KOOR_MCP_SESSIONS_PER_TOKEN', file: 'mcp_sessions_per_token', kind: 'posint', def: '100', help: 'open MCP sessions per token (with the agents it registered); past it its least recently used one is closed' },
  { key: 'complianceIntervalMs', flag: 'compliance-interval', env: 'KOOR_COMPLIANCE_INTERVAL', file: 'compliance_interval', kind: 'duration', def: '5m', help: 'compliance pass interval (contracts of active instances)' },
  { key: 'complianceKeep', flag: 'compliance-keep', env: 'KOOR_COMPLIANCE_KEEP', file: 'compliance_keep', kind: 'int', def: '100', help: 'compliance runs kept per (instance, contract) (0 = all)' },
  { key: 'auditRetentionMs', flag: 'audit-retention', env: 'KOOR_AUDIT_RETENTION', file: 'audit_retention', kind: 'age', def: '90d', help: 'audit entries kept this long (0 = all)' },
  { key: 'agentMetricsRetentionMs', flag: 'agent-metrics-retention', env: 'KOOR_AGENT_METRICS_RETENTION', file: 'agent_metrics_retention', kind: 'age', def: '30d', help: 'per-agent metric buckets kept this long (0 = all)' },
  { key: 'llmRetentionMs', flag: 'llm-retention', env: 'KOOR_LLM_RETENTION', file: 'llm_retention', kind: 'age', def: '0', help: 'LLM usage records kept this long (0 = all: the cost record)' },
  { key: 'llmPrices', flag: 'llm-prices', env: 'KOOR_LLM_PRICES', file: 'llm_prices', kind: 'string', def: '', help: 'JSON price table, USD per million tokens by model, for usage without cost_usd ("" = the built-in list prices; read again when it changes)' },
  { key: 'auditKeep', flag: 'audit-keep', env: 'KOOR_AUDIT_KEEP', file: 'audit_keep', kind: 'int', def: '500000', help: 'audit entries kept at most, newest first (0 = no count limit)' },
  { key: 'agentMetricsKeep', flag: 'agent-metrics-keep', env: 'KOOR_AGENT_METRICS_KEEP', file: 'agent_metrics_keep', kind: 'int', def: '200000', help: 'per-agent metric buckets kept at most, newest first (0 = no count limit)' },
  { key: 'llmKeep', flag: 'llm-keep', env: 'KOOR_LLM_KEEP', file: 'llm_keep', kind: 'int', def: '0', help: 'LLM usage records kept at most, newest first (0 = all: the cost record)' },
  { key: 'messageRetentionMs', flag: 'message-retention', env: 'KOOR_MESSAGE_RETENTION', file: 'message_retention', kind: 'age', def: '30d', help: 'agent inbox messages kept this long (0 = all)' },
  { key: 'messageKeep', flag: 'message-keep', env: 'KOOR_MESSAGE_KEEP', file: 'message_keep', kind: 'int', def: '1000000', help: 'agent inbox messages kept at most, newest first, with their read state (0 = no count limit)' },
  { key: 'idempotencyKeep', flag: 'idempotency-keep', env: 'KOOR_IDEMPOTENCY_KEEP', file: 'idempotency_keep', kind: 'int', def: '1000000', help: 'Idempotency-Key replies kept at most, newest first, within their 24 h (0 = no count limit)' },
  { key: 'taskRetentionMs', flag: 'task-retention', env: 'KOOR_TASK_RETENTION', file: 'task_retention', kind: 'age', def: '30d', help: 'a done or failed task (with its checkpoints) is kept this long after it ended (0 = all)' },
  { key: 'expiredTokenRetentionMs', flag: 'expired-token-retention', env: 'KOOR_EXPIRED_TOKEN_RETENTION', file: 'expired_token_retention', kind: 'age', def: '7d', help: 'an expired created token stays listed this long, then is deleted (0 = until revoked)' },
  { key: 'webhookMaxAttempts', flag: 'webhook-max-attempts', env: 'KOOR_WEBHOOK_MAX_ATTEMPTS', file: 'webhook_max_attempts', kind: 'posint', def: '5', help: 'delivery attempts per event before it is dropped' },
  { key: 'webhookRetryBaseMs', flag: 'webhook-retry-base', env: 'KOOR_WEBHOOK_RETRY_BASE', file: 'webhook_retry_base', kind: 'duration', def: '1s', help: 'first webhook retry delay (doubles each attempt)' },
  { key: 'webhookRetryMaxMs', flag: 'webhook-retry-max', env: 'KOOR_WEBHOOK_RETRY_MAX', file: 'webhook_retry_max', kind: 'duration', def: '5m', help: 'longest webhook retry delay' },
];

/** Flags that are not settings: they name a file, or run a one-off command and exit. */
export const COMMAND_FLAGS: readonly { flag: string; help: string }[] = [
  { flag: 'config FILE', help: 'settings file (default ./settings.json)' },
  { flag: 'help', help: 'show this help' },
  { flag: 'version', help: 'print the version' },
  { flag: 'vacuum', help: 'compact data.db once and exit (server stopped; converts a file from an older version)' },
  { flag: 'restore FILE', help: 'replace data.db with a backup and exit (server stopped; the current file is kept aside); with --database, replace the PostgreSQL data' },
  { flag: 'migrate-from FILE', help: 'with --database: copy a SQLite data file (or backup) into the empty PostgreSQL database, then serve' },
];

export const USAGE = [
  'usage: koor-server [flags]',
  '',
  ...SETTINGS.map((s) => `  --${s.flag.padEnd(20)} ${s.help} (env ${s.env}, default ${JSON.stringify(s.def)})`),
  ...COMMAND_FLAGS.map((f) => `  --${f.flag.padEnd(20)} ${f.help}`),
].join('\n');

function convert(s: Setting, raw: string): unknown {
  const what = `--${s.flag}`;
  switch (s.kind) {
    case 'bind':
      return parseBind(raw, what);
    case 'bind-or-off':
      return raw === '' ? null : parseBind(raw, what);
    case 'string':
      return raw;
    case 'hosts':
      return parseHosts(raw, what);
    case 'origins':
      return parseOrigins(raw, what);
    case 'database':
      return parseDatabaseUrl(raw, what);
    case 'level': {
      // Case-insensitive like the original, but an unknown level is an error, not a silent 'info'.
      const l = raw.toLowerCase();
      if (l !== 'debug' && l !== 'info' && l !== 'warn' && l !== 'error') throw new ConfigError(`invalid ${what} "${raw}": expected debug, info, warn or error`);
      return l;
    }
    case 'sync': {
      const v = raw.toLowerCase();
      if (v !== 'full' && v !== 'normal') throw new ConfigError(`invalid ${what} "${raw}": expected full or normal`);
      return v;
    }
    case 'hook-edits': {
      const v = raw.toLowerCase();
      if (v !== 'deny' && v !== 'auto-lease') throw new ConfigError(`invalid ${what} "${raw}": expected deny or auto-lease`);
      return v;
    }
    case 'int':
      return parseInt0(raw, what);
    case 'posint': {
      const n = parseInt0(raw, what);
      if (n < 1) throw new ConfigError(`invalid ${what} "${raw}": must be at least 1`);
      return n;
    }
    case 'duration': {
      const ms = parseDuration(raw, what);
      if (ms <= 0) throw new ConfigError(`invalid ${what} "${raw}": must be positive`);
      return ms;
    }
    case 'age':
      return parseAge(raw, what);
    case 'bytes':
      return parseBytes(raw, what);
  }
}

export interface ParsedArgs {
  flags: Map<string, string>;
  help: boolean;
  version: boolean;
  vacuum: boolean;
  /** `--restore FILE`: the backup to restore, or null. */
  restore: string | null;
  /** `--migrate-from FILE`: a SQLite data file to copy into the PostgreSQL database first, or null. */
  migrateFrom: string | null;
}

/** `-x v`, `--x v`, `-x=v`, `--x=v`. Unknown flag → ConfigError with exit code 2. */
function parseArgs(argv: readonly string[], known: ReadonlySet<string>): ParsedArgs {
  const flags = new Map<string, string>();
  let help = false;
  let version = false;
  let vacuum = false;
  let restore: string | null = null;
  let migrateFrom: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new ConfigError(`unexpected argument "${arg}"\n${USAGE}`, 2);
    const name = m[1]!;
    if (name === 'help' || name === 'h') {
      help = true;
      continue;
    }
    if (name === 'version' || name === 'v') {
      version = true;
      continue;
    }
    if (name === 'vacuum') {
      vacuum = true;
      continue;
    }
    if (name === 'restore' || name === 'migrate-from') {
      const inline = m[2];
      if (inline === undefined && i + 1 >= argv.length) throw new ConfigError(`flag needs an argument: ${arg}\n${USAGE}`, 2);
      const file = inline ?? argv[++i]!;
      if (name === 'restore') restore = file;
      else migrateFrom = file;
      continue;
    }
    if (!known.has(name)) throw new ConfigError(`unknown flag: -${arg.startsWith('--') ? '-' : ''}${name}\n${USAGE}`, 2);
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new ConfigError(`flag needs an argument: ${arg}\n${USAGE}`, 2);
      value = argv[++i]!;
    }
    flags.set(name, value);
  }
  return { flags, help, version, vacuum, restore, migrateFrom };
}

function readSettingsFile(file: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {}; // missing or malformed settings file: silently ignored
  }
}

function fileValue(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  // A list setting may be a JSON array of strings in the file ("allowed_hosts": ["koor.lan"]).
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',');
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** Builds the frozen Config. Throws ConfigError (one line, exit code) on bad values. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config & { help: boolean; version: boolean; vacuum: boolean; restore: string | null; migrateFrom: string | null } {
  const known = new Set([...SETTINGS.map((s) => s.flag), 'config']);
  const { flags, help, version, vacuum, restore, migrateFrom } = parseArgs(argv, known);
  // --help / --version answer without reading (or judging) any setting.
  if (help || version) return { ...defaultConfig(), help, version, vacuum: false, restore: null, migrateFrom: null };
  const configFile = path.resolve(cwd, flags.get('config') ?? 'settings.json');
  const file = readSettingsFile(configFile);
  const config = build(flags, env, file, cwd, fs.existsSync(configFile) ? configFile : null, help);
  if (migrateFrom !== null && config.database === '') throw new ConfigError('--migrate-from copies into PostgreSQL: give --database postgres://… (or KOOR_DATABASE_URL) too', 2);
  const resolve = (f: string | null) => (f === null ? null : path.resolve(cwd, f));
  return { ...config, version: false, vacuum, restore: resolve(restore), migrateFrom: resolve(migrateFrom) };
}

function build(flags: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv, file: Record<string, unknown>, cwd: string, configFile: string | null, help: boolean): Config & { help: boolean } {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const envValue = env[s.env];
    const raw =
      flags.get(s.flag) ??
      (envValue !== undefined && envValue !== '' ? envValue : undefined) ??
      fileValue(file[s.file]) ??
      s.def;
    out[s.key] = convert(s, raw);
  }
  if (out.dataDir === '') out.dataDir = '.';
  out.dataDir = path.resolve(cwd, out.dataDir as string);
  // TLS needs both files; one alone is a mistake, not a silent plain-HTTP server.
  if ((out.tlsCert === '') !== (out.tlsKey === '')) throw new ConfigError(out.tlsCert === '' ? '--tls-key needs --tls-cert (the certificate it belongs to)' : '--tls-cert needs --tls-key (its private key)');
  for (const k of ['tlsCert', 'tlsKey'] as const) if (out[k] !== '') out[k] = path.resolve(cwd, out[k] as string);
  if (out.authTokenFile !== '') out.authToken = readAuthTokenFile(path.resolve(cwd, out.authTokenFile as string), out.authToken as string);
  if (out.secretKeyFile !== '') out.secretKeyFile = path.resolve(cwd, out.secretKeyFile as string);
  out.configFile = configFile;
  out.help = help;
  return Object.freeze(out) as unknown as Config & { help: boolean };
}

/** The server token from --auth-token-file: its first line, without surrounding whitespace. */
function readAuthTokenFile(file: string, given: string): string {
  if (given !== '') throw new ConfigError('give the server token once: --auth-token (KOOR_AUTH_TOKEN) or --auth-token-file (KOOR_AUTH_TOKEN_FILE), not both', 2);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read --auth-token-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const token = (text.split(/\r?\n/, 1)[0] ?? '').trim();
  if (token === '') throw new ConfigError(`--auth-token-file ${file} is empty`);
  return token;
}

/**
 * The defaults, overridden by `over`: for embedding and tests. Reads neither ./settings.json nor
 * KOOR_* from the environment, so a developer's own settings cannot leak in.
 */
export function defaultConfig(over: Partial<Config> = {}): Config {
  const { help: _help, ...base } = build(new Map(), {}, {}, process.cwd(), null, false);
  return Object.freeze({ ...base, ...over });
}
