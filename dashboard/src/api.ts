import type { ApiRoute, ReplyOf } from '../../schemas/http/api-reply.js';

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

/** The JSON reply of a GET of `path`, typed by its route (`getJson<'GET /api/tasks'>(…)`: schemas/http/api-reply.ts). */
export async function getJson<R extends ApiRoute>(path: string, opts?: RequestOptions): Promise<ReplyOf<R>> {
  return (await (await request('GET', path, opts)).json()) as ReplyOf<R>;
}

/** The JSON reply of a write, typed by its route (`send<'POST /api/messages'>(…)`). */
export async function send<R extends ApiRoute>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<ReplyOf<R>> {
  return (await (await request(method, path, { body })).json()) as ReplyOf<R>;
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
