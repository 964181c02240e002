import { isUtf8 } from 'node:buffer';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Slots } from '../http/slots.js';
import { Compile, type TSchema } from '../../schemas/typebox.js';
import { AppError, fail, failWith } from '../errors.js';
import type { Logger } from '../log.js';
import type { Authenticator } from './auth.js';
import { readBody } from '../http/body.js';
import { jsonTooDeep } from '../shared/json-depth.js';
import { HTTP_MAX_URL_BYTES, JSON_MAX_DEPTH } from '../shared/limits.js';
import { parseFirstJson } from '../raw-json.js';
import { createCtx, watchAbort, type Ctx } from '../http/context.js';
import { permit, type Rule } from '../http/permissions.js';
import { decoded } from '../http/path.js';
import { then } from '../shared/awaitable.js';
import { routeName as nameOf, type Route } from '../http/route.js';
import type { RateLimiter } from './rate-limit.js';
import { sendError } from '../http/reply.js';
import type { HttpMetrics } from '../metrics/http.js';

/** Refusals the route rule's guard already audited (a handler's own are audited where they are sent). */
const recorded403 = new WeakSet<object>();

export type { Method, Route } from '../http/route.js';

export interface MountOptions {
  auth: Authenticator;
  log: Logger;
  maxBodyBytes: number;
  viaDashboard: boolean;
  /** Called once per authorized request that reaches a counted route. */
  onCall?: (ctx: Ctx) => void;
  /** Patterns served outside this table (WebSocket, MCP), for 405 vs 404. */
  extra?: ReadonlyArray<{ method: string; path: string }>;
  /** Request counts and latency by route (GET /metrics). */
  http?: HttpMetrics;
  /** A call the route's rule refused (counted and audited by the caller). */
  onDenied?: (ctx: Ctx, rule: Rule, route: string) => void;
  /** Requests per second per token (429 past it). */
  limiter?: RateLimiter;
}

const METHOD_LABELS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS']);
/** A bounded method label: clients may send any token as a method. */
export const methodLabel = (m: string): string => (METHOD_LABELS.has(m) ? m : 'OTHER');

const UWS_METHOD = { GET: 'get', PUT: 'put', POST: 'post', DELETE: 'del' } as const;

function patternRegex(path: string): RegExp {
  const src = path
    .split('/')
    .map((seg) => (seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${src}$`);
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

/**
 * The first schema violation of a JSON body as a 400 naming the member and what was expected
 * (`topic: expected string`), rather than "invalid JSON body" for a body that is valid JSON.
 */
function fieldError(errors: Iterable<SchemaError>): AppError {
  const all = [...errors];
  const first = all[0];
  if (!first) return fail('INVALID_JSON');
  const field = first.instancePath
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`), '');
  const at = field === '' ? 'body' : field;
  if (first.keyword === 'required') return fail('FIELD_REQUIRED', String((first.params.requiredProperties as string[] | undefined)?.[0] ?? at));
  if (first.keyword !== 'type') return fail('FIELD_INVALID', at, first.message);
  // A union reports one error per branch at the same place: "expected array or null".
  const types = [...new Set(all.filter((e) => e.keyword === 'type' && e.instancePath === first.instancePath).map((e) => String(e.params.type)))];
  return fail('FIELD_WRONG_TYPE', at, types);
}

/**
 * Reads a route's extra headers (Route.headers) into one object literal, compiled once per route:
 * each header read and each property stored by a constant name. Stored in a loop over the names,
 * every store was a megamorphic keyed store searching the map's transitions (a PUT reads
 * three). The names are the routes' own, embedded as JSON string literals.
 */
function headerReader(names: readonly string[]): (req: HttpRequest) => Record<string, string> {
  const members = names.map((n) => `${JSON.stringify(n)}: req.getHeader(${JSON.stringify(n)})`);
  return new Function('req', `return { ${members.join(', ')} };`) as (req: HttpRequest) => Record<string, string>;
}

/** Registers `routes` on `app`, plus a catch-all answering JSON 404 / 405. */
export function mount(slots: Slots, routes: readonly Route[], opts: MountOptions): void {
  const { auth, log, maxBodyBytes, viaDashboard } = opts;

  for (const route of routes) {
    const paramCount = route.path.split('/').filter((s) => s.startsWith(':')).length;
    // Compiled on the route's first body, not at start-up (~30 ms of TypeBox for all routes).
    let compiled: ReturnType<typeof Compile<TSchema>> | null = null;
    const { schema } = route;
    const checker = schema ? () => (compiled ??= Compile(schema)) : null;
    const counted = route.counted !== false && opts.onCall !== undefined;
    const recorded = opts.http?.recorder(route.method, route.path) ?? null;
    const recordedHead = route.method === 'GET' ? (opts.http?.recorder('HEAD', route.path) ?? null) : null;

    const run = (ctx: Ctx): void => {
      const r = route.handler(ctx);
      if (r) r.catch((err: unknown) => sendFailure(ctx, err));
    };
    // Who may call it: the rule the route declares (src/http/permissions.ts).
    const rule = route.rule;
    const selfRule = rule.access === 'self';
    const routeName = nameOf(route);
    const guard = (ctx: Ctx, phase: 'request' | 'body'): void => {
      try {
        permit(ctx, rule, phase);
      } catch (e) {
        opts.onDenied?.(ctx, rule, routeName);
        recorded403.add(e as object);
        throw e;
      }
      if (phase === 'request') opts.limiter?.take(ctx);
    };
    /**
     * Every error reply of the route; a refusal raised past the rule — by the Authenticator
     * (X-Koor-Instance), a handler (a task's project, a lease's files, a session's owner, a
     * message's recipients) — is audited and counted like the rule's own.
     */
    const sendFailure = (ctx: Ctx, err: unknown): void => {
      if (err instanceof AppError && err.status === 'PERMISSION_DENIED' && !recorded403.has(err)) opts.onDenied?.(ctx, rule, routeName);
      sendError(ctx, err, log);
    };

    /** Reads the body (as the route wants it) and runs the handler. */
    const proceed = (ctx: Ctx, body: Promise<Buffer> | null): void => {
      if (!route.public) {
        try {
          guard(ctx, 'request');
        } catch (e) {
          body?.catch(() => {}); // refused before its body was read: whatever becomes of the body does not matter
          throw e;
        }
      }
      if (counted) opts.onCall!(ctx);
      if (!body) return run(ctx);
      body
        .then((buf) => {
          if (ctx.aborted) return;
          ctx.body = buf;
          if (route.body === 'json') {
            let parsed: unknown = {};
            const bytes = route.decode ? route.decode(ctx, buf) : buf;
            if (!(route.optionalBody && bytes.length === 0)) {
              // Never a lossy rewrite: invalid UTF-8 would become U+FFFD and names could collide.
              if (!isUtf8(bytes)) throw fail('INVALID_UTF8', 'body');
              if (jsonTooDeep(bytes)) throw fail('JSON_TOO_DEEP', JSON_MAX_DEPTH);
              ctx.text = bytes.toString('utf8');
              try {
                parsed = parseFirstJson(ctx.text);
              } catch {
                throw fail('INVALID_JSON');
              }
            }
            // A JSON null body decodes like an empty object (Go decodes null into a zero
            // struct), unless the route's schema takes null itself (a list that may be null).
            const check = checker?.() ?? null;
            if (parsed === null && !check?.Check(null)) parsed = {};
            if (check && !check.Check(parsed)) throw fieldError(check.Errors(parsed));
            ctx.json = parsed;
          }
          if (!route.public) guard(ctx, 'body');
          run(ctx);
        })
        .catch((err: unknown) => sendFailure(ctx, err));
    };

    const reading = route.method === 'GET';
    // The headers it reads beyond those every request copies (src/http/context.ts).
    const extraHeaders = route.headers ? headerReader(Object.keys(route.headers)) : null;
    const handleAs = (method: string) => (res: HttpResponse, req: HttpRequest): void => {
      const ctx = createCtx(res, req, paramCount, viaDashboard, true, method, !reading);
      if (extraHeaders) (ctx as { extraHeaders: Record<string, string> }).extraHeaders = extraHeaders(req);
      ctx.onSent = method === 'HEAD' ? recordedHead : recorded;
      try {
        const urlBytes = ctx.url.length + ctx.query.length;
        if (urlBytes > HTTP_MAX_URL_BYTES) return sendError(ctx, fail('URL_TOO_LONG', urlBytes, HTTP_MAX_URL_BYTES), log);
        // A `self` route: the agent it acts on is looked up for the rule (a created token's own agents).
        const authorized = route.public ? true : selfRule ? then(auth.authorize(ctx), (ok) => ok && auth.resolveSubject(ctx, decoded(ctx.params[0] ?? ''))) : auth.authorize(ctx);
        if (authorized === false) return sendError(ctx, fail('UNAUTHENTICATED'), log);
        // uWS takes the body only from handlers attached now: it is read while auth settles.
        const body = route.body ? readBody(ctx, maxBodyBytes) : null;
        if (authorized === true) return proceed(ctx, body);
        // An identity looked up in the database (cluster mode): decide once it is known.
        body?.catch(() => {});
        authorized
          .then((ok) => {
            if (ctx.aborted) return;
            if (!ok) return sendError(ctx, fail('UNAUTHENTICATED'), log);
            proceed(ctx, body);
          })
          .catch((err: unknown) => sendFailure(ctx, err));
      } catch (err) {
        sendFailure(ctx, err);
      } finally {
        // Not answered yet (an async handler, a body still arriving): uWS needs the abort
        // handler before we return. A reply written at once (a cached GET) skips it.
        if (!ctx.done) watchAbort(ctx);
      }
    };
    slots.route(UWS_METHOD[route.method], route.path, handleAs(route.method));
    // HEAD runs the GET handler; reply.send() drops the body.
    if (reading) slots.route('head', route.path, handleAs('HEAD'));
  }

  const known = [...routes, ...(opts.extra ?? [])].flatMap((r) => {
    const re = patternRegex(r.path);
    return r.method === 'GET' ? [{ method: 'GET', re }, { method: 'HEAD', re }] : [{ method: r.method, re }];
  });
  slots.route('any', '/*', (res, req) => {
    const ctx = createCtx(res, req, 0, viaDashboard);
    if (opts.http) ctx.onSent = opts.http.recorder(methodLabel(ctx.method), '(unmatched)');
    const answer = (ok: boolean): void => {
      if (!ok) return sendError(ctx, fail('UNAUTHENTICATED'), log);
      const allow = [...new Set(known.filter((k) => k.re.test(ctx.url)).map((k) => k.method))];
      if (allow.length === 0) return sendError(ctx, fail('ROUTE_NOT_FOUND'), log);
      // Only WebSocket routes reach here with an allowed method: the upgrade headers were missing.
      if (allow.includes(ctx.method)) return sendError(ctx, fail('WEBSOCKET_REQUIRED'), log);
      sendError(ctx, failWith('METHOD_NOT_ALLOWED', { detail: { allow: allow.join(', ') } }), log);
    };
    try {
      const authorized = auth.authorize(ctx);
      if (typeof authorized === 'boolean') return answer(authorized);
      watchAbort(ctx);
      authorized.then((ok) => ctx.aborted || answer(ok)).catch((err: unknown) => sendError(ctx, err, log));
    } catch (err) {
      sendError(ctx, err, log);
    }
  });
}
