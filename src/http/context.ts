import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ADMIN, type AgentMetricName, type Identity, type Principal } from '../identity.js';

/** Who calls (src/identity.ts), as the request context carries it. */
export type { AgentMetricName, Identity, Principal, Resolved, Role } from '../identity.js';
export { ADMIN, AGENT } from '../identity.js';

/** Request headers the REST layer uses, copied synchronously (HttpRequest dies after the handler). */
export interface Headers {
  authorization: string;
  ifNoneMatch: string;
  ifMatch: string;
  contentType: string;
  contentLength: string;
  instance: string;
  /** Idempotency-Key: read for requests with a body only. */
  idempotencyKey: string;
}

/** Per-request context handed to route handlers. */
export interface Ctx {
  readonly res: HttpResponse;
  readonly method: string;
  /** Path as sent (not decoded), without the query string. */
  readonly url: string;
  /** Raw query string without `?` ('' if none). */
  readonly query: string;
  readonly params: readonly string[];
  readonly headers: Headers;
  /** Headers a route asked for by name (Route.headers), '' when absent. */
  readonly extraHeaders: Record<string, string>;
  /** Set when the client went away; never touch `res` afterwards. */
  aborted: boolean;
  /** Set once a response was written. */
  done: boolean;
  /** Raw body for routes declared with a body. */
  body: Buffer;
  /** Parsed + schema-checked JSON body for routes declared `body: 'json'`. */
  json: unknown;
  /** The body as UTF-8 text, decoded once for routes declared `body: 'json'` ('' otherwise). */
  text: string;
  identity: Identity | null;
  /**
   * A `self` route's agent (the path's id) as the identity index knows it, looked up for an agent
   * token's rule check (a created token acts on the agents it registered); null otherwise.
   */
  subject: Identity | null;
  /** The caller's rights (ADMIN until the Authenticator says otherwise). */
  principal: Principal;
  /** true when served by the dashboard listener. */
  readonly viaDashboard: boolean;
  /** Extra work when the client goes away (e.g. cancel a stream); `aborted` is set first. */
  onAbort: (() => void) | null;
  /** The abort handler is attached (see watchAbort). */
  watching: boolean;
  /**
   * Counts a per-agent metric for the identified caller; null for anonymous requests,
   * so handlers call `ctx.tally?.(…)` after a successful write and anonymous ones pay nothing.
   */
  tally: ((name: AgentMetricName, n?: number) => void) | null;
  /** performance.now() when the request arrived (request latency metrics). */
  readonly t0: number;
  /** Called once the reply was written (request metrics); null when not measured. */
  onSent: ((ctx: Ctx, status: number) => void) | null;
}

const EMPTY = Buffer.alloc(0);
/** Shared by routes that ask for no extra headers; a route that does gets its own object (router). */
const NO_EXTRA: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Copies what the handler needs from `req` and, unless `lazyAbort`, attaches the abort handler at
 * once: uWS aborts the process if a handler returns without responding or without one, and `res`
 * must never be touched after an abort (every writer checks `ctx.aborted`). With `lazyAbort` the
 * caller must call watchAbort(ctx) before returning to uWS whenever the reply is not yet written
 * (the router does): a cached GET answered at once then skips a closure and a native call.
 * A route's handler passes its `method` (uWS dispatched on it: not read again) and, for GET and
 * HEAD, `writeHeaders` false: If-Match, Content-Type and Content-Length then read as '' (each
 * header read is a native call and a string, a few per cent of a cached GET).
 */
export function createCtx(res: HttpResponse, req: HttpRequest, paramCount: number, viaDashboard: boolean, lazyAbort = false, method: string | null = null, writeHeaders = true): Ctx {
  const params: string[] = [];
  for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i) ?? '');
  const ctx: Ctx = {
    res,
    method: method ?? req.getCaseSensitiveMethod().toUpperCase(),
    url: req.getUrl(),
    query: req.getQuery() ?? '',
    params,
    headers: {
      authorization: req.getHeader('authorization'),
      ifNoneMatch: req.getHeader('if-none-match'),
      ifMatch: writeHeaders ? req.getHeader('if-match') : '',
      contentType: writeHeaders ? req.getHeader('content-type') : '',
      contentLength: writeHeaders ? req.getHeader('content-length') : '',
      instance: req.getHeader('x-koor-instance'),
      idempotencyKey: writeHeaders ? req.getHeader('idempotency-key') : '',
    },
    extraHeaders: NO_EXTRA,
    aborted: false,
    done: false,
    body: EMPTY,
    json: undefined,
    text: '',
    identity: null,
    subject: null,
    principal: ADMIN,
    viaDashboard,
    onAbort: null,
    watching: false,
    tally: null,
    t0: performance.now(),
    onSent: null,
  };
  if (!lazyAbort) watchAbort(ctx);
  return ctx;
}

/** Attaches the abort handler (once): from here on the reply may be written later. */
export function watchAbort(ctx: Ctx): void {
  if (ctx.watching) return;
  ctx.watching = true;
  ctx.res.onAborted(() => {
    ctx.aborted = true;
    ctx.onAbort?.();
  });
}
