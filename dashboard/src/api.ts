/**
 * The dashboard's only way to the server: the public REST API of the listener that served the
 * page (same origin), with the token as `Authorization: Bearer` when one is set. The token lives
 * in sessionStorage: this tab only, gone when it closes, never in a URL.
 */

const TOKEN_KEY = 'koor.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let token = readToken();
const unauthorizedListeners = new Set<() => void>();

function readToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export const getToken = (): string => token;

export function setToken(value: string): void {
  token = value;
  try {
    if (value === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  } catch {
    // Storage refused (private mode): the token stays in memory for this page.
  }
}

/** Called whenever the server answers 401: the token is missing, wrong, or no longer valid. */
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export interface RequestOptions {
  body?: unknown;
  /** A token to try instead of the stored one (the token prompt). */
  token?: string;
  /** Do not tell the 401 listeners (the token prompt checks a candidate itself). */
  quiet401?: boolean;
}

/** One API call; any status ≥ 400 becomes an ApiError carrying the server's message. */
export async function request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  const t = opts.token ?? token;
  if (t !== '') headers.Authorization = `Bearer ${t}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['Content-Type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'the server cannot be reached');
  }
  if (res.ok) return res;
  let message = `${res.status} ${res.statusText}`;
  try {
    const j = (await res.json()) as { error?: unknown };
    if (typeof j.error === 'string') message = j.error;
  } catch {
    // Not JSON (a proxy's page): keep the status line.
  }
  if (res.status === 401 && !opts.quiet401) for (const fn of unauthorizedListeners) fn();
  throw new ApiError(res.status, message);
}

export async function getJson<T>(path: string, opts?: RequestOptions): Promise<T> {
  return (await (await request('GET', path, opts)).json()) as T;
}

export async function send<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  return (await (await request(method, path, { body })).json()) as T;
}

/** `?a=1&b=2` of the non-empty values (`''` when none). */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** A path segment: every character but the unreserved ones escaped. */
export const seg = (s: string): string => encodeURIComponent(s);

// --- Reply shapes (SPEC §2) -----------------------------------------------------------------

export interface Metrics {
  uptime: string;
  state_keys: number;
  instances: number;
  last_event_id: number;
  mcp_sessions: number;
  events: { subscribers: number; delivered: number; dropped: number; closed_slow: number; replayed: number; queued_bytes: number };
  writer: { calls: number; queue_depth: number; restarts: number; commit_failures: number; deadline_exceeded: number; rejected_full: number };
  pool: { jobs: number; queue_depth: number; timeouts: number; rejected_full: number };
  cache: { hits: number; misses: number; bytes: number };
  webhooks: { delivered: number; failed: number; dropped: number; disabled: number; pending: number };
  data_file_bytes: number;
  retention: Record<string, number>;
  api_bind: string;
  dashboard_bind: string;
  token_tax: { mcp_calls: number; rest_calls: number; total_calls: number; mcp_estimated_tokens: number; rest_tokens_saved: number; savings_percent: number };
}

export interface Instance {
  id: string;
  name: string;
  workspace: string;
  intent: string;
  stack: string;
  capabilities: string[];
  status: 'pending' | 'active' | 'stale' | string;
  registered_at: string;
  last_seen: string;
}

export interface KoorEvent {
  id: number;
  topic: string;
  data: unknown;
  source: string;
  created_at: string;
}

export interface StateEntry {
  key: string;
  version: number;
  content_type: string;
  updated_at: string;
}

export interface StateVersion extends StateEntry {
  hash: string;
  updated_by: string;
}

export interface Diff {
  path: string;
  old?: unknown;
  new?: unknown;
  kind: 'added' | 'removed' | 'changed';
}

export interface Rule {
  project: string;
  rule_id: string;
  severity: string;
  match_type: string;
  pattern: string;
  message: string;
  stack: string;
  applies_to: string[];
  source: string;
  status: string;
  proposed_by?: string;
  context?: string;
  created_at?: string;
}

export interface Webhook {
  id: string;
  url: string;
  patterns: string[];
  has_secret: boolean;
  active: boolean;
  created_at: string;
  last_fired: string;
  fail_count: number;
  pending: number;
  delivered: number;
  failed: number;
  last_error: string;
}

export interface ComplianceRun {
  id: number;
  instance_id: string;
  project: string;
  contract: string;
  pass: boolean;
  violations: Array<{ path: string; message: string }>;
  run_at: string;
}

export interface AuditEntry {
  id: number;
  timestamp: string;
  actor: string;
  action: string;
  resource: string;
  detail: string;
  outcome: string;
}

export interface LlmRecord {
  id: number;
  instance_id: string;
  project: string;
  provider: string;
  model: string;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  request_type: string;
  session_tag: string;
  created_at: string;
}

export interface LlmSum {
  total_tokens_in: number;
  total_tokens_out: number;
  total_cost_usd: number;
  request_count: number;
}

export interface Lease {
  id: string;
  holder: string;
  holder_name: string;
  resources: string[];
  exclusive: boolean;
  reason: string;
  acquired_at: string;
  /** `""` without a TTL. */
  expires_at: string;
}

export type TaskStatus = 'ready' | 'blocked' | 'claimed' | 'done' | 'failed';

export interface Task {
  id: number;
  project: string;
  title: string;
  data: unknown;
  priority: number;
  deps: number[];
  capabilities: string[];
  status: TaskStatus;
  claimed_by: string;
  claimed_by_name: string;
  attempts: number;
  max_attempts: number;
  reason: string;
  created_at: string;
  updated_at: string;
}
