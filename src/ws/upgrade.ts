import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { fail } from '../errors.js';
import { createCtx, type Ctx } from '../http/context.js';
import { permit, type Rule } from '../http/permissions.js';
import { sendError } from '../http/reply.js';
import type { Logger } from '../log.js';

/**
 * Browsers cannot set headers on a WebSocket, and a token in the URL lands in logs. So a client
 * may offer the subprotocols `koor` and `koor.bearer.<base64url of the token>` instead of an
 * Authorization header; the server answers with `koor` (never echoing the token).
 */
const WS_PROTOCOL = 'koor';
const WS_BEARER_PREFIX = 'koor.bearer.';

/**
 * The Authorization value a subprotocol offer carries (`Bearer <token>`), and the protocol to
 * answer with: `koor` when a token rides in the offer (a browser refuses an answer naming none of
 * its offers), else the offer unchanged (as before).
 */
function protocolAuth(offer: string): { authorization: string | null; answer: string } {
  if (!offer.includes(WS_BEARER_PREFIX)) return { authorization: null, answer: offer };
  let authorization: string | null = null;
  let koor = false;
  for (const raw of offer.split(',')) {
    const p = raw.trim();
    if (p === WS_PROTOCOL) koor = true;
    else if (p.startsWith(WS_BEARER_PREFIX) && authorization === null) authorization = `Bearer ${Buffer.from(p.slice(WS_BEARER_PREFIX.length), 'base64url').toString('utf8')}`;
  }
  return { authorization, answer: koor ? WS_PROTOCOL : '' };
}

/** Who the caller is: the front's Authenticator (src/front/auth.ts), as an upgrade uses it. */
export interface Authorizer {
  /** Resolves the token (and X-Koor-Instance) of `ctx` into its identity and principal; false: refused. */
  authorize(ctx: Ctx): boolean | Promise<boolean>;
}

/** What every WebSocket route's upgrade needs. */
export interface UpgradeDeps {
  auth: Authorizer;
  log: Logger;
  /** A call the route's rule refused (counted and audited). */
  onDenied?: (ctx: Ctx, rule: Rule, route: string) => void;
  /** Who may open the socket: the rule its route declares (src/domains/domain.ts SocketRoute). */
  rule: Rule;
}

/** An authorized upgrade request, as a WebSocket route's handler continues it. */
export interface Upgrading {
  readonly ctx: Ctx;
  /** Goes on when `p` settles, unless the client went away meanwhile; a failure is the error reply. */
  later<T>(p: Promise<T>, then: (v: T) => void): void;
  /** Answers 101 with the socket's user data; `headers` ride on the upgrade response. */
  upgrade<T>(userData: T, headers?: ReadonlyArray<readonly [string, string]>): void;
}

/**
 * The start of every WebSocket upgrade (event subscriptions, the inbox's push): auth checked at
 * the upgrade (the Authorization header, or the token in the subprotocol offer), then `opened`
 * decides; anything it throws is the JSON error reply, never a silent close.
 */
export function acceptUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, deps: UpgradeDeps & { path: string }, opened: (u: Upgrading) => void): void {
  const { auth, log } = deps;
  const rule = deps.rule;
  const ctx = createCtx(res, req, 0, false);
  try {
    const key = req.getHeader('sec-websocket-key');
    const offered = protocolAuth(req.getHeader('sec-websocket-protocol'));
    const protocol = offered.answer;
    const extensions = req.getHeader('sec-websocket-extensions');
    // A header, when sent, wins over a token in the offer.
    if (offered.authorization !== null && ctx.headers.authorization === '') ctx.headers.authorization = offered.authorization;
    // Anything answered later (an identity or a cursor read from the database, cluster mode)
    // needs the abort handler now; the upgrade then uses what was read above.
    let aborted = false;
    let watching = false;
    const u: Upgrading = {
      ctx,
      later<T>(p: Promise<T>, then: (v: T) => void): void {
        if (!watching) {
          watching = true;
          res.onAborted(() => {
            aborted = true;
          });
        }
        p.then(
          (v) => {
            if (aborted) return;
            try {
              then(v);
            } catch (err) {
              sendError(ctx, err, log);
            }
          },
          (err) => {
            if (!aborted) sendError(ctx, err, log);
          },
        );
      },
      upgrade<T>(userData: T, headers?: ReadonlyArray<readonly [string, string]>): void {
        ctx.done = true;
        res.cork(() => {
          if (headers && headers.length > 0) {
            // Writing the 101 status first lets a custom header ride on the upgrade response.
            res.writeStatus('101 Switching Protocols');
            for (const [k, v] of headers) res.writeHeader(k, v);
          }
          res.upgrade<T>(userData, key, protocol, extensions, context);
        });
      },
    };
    const go = () => {
      try {
        try {
          // The route's rule (src/http/permissions.ts), as for every REST route.
          permit(ctx, rule, 'request');
        } catch (e) {
          deps.onDenied?.(ctx, rule, `GET ${deps.path}`);
          throw e;
        }
        opened(u);
      } catch (err) {
        sendError(ctx, err, log);
      }
    };
    const authorized = auth.authorize(ctx);
    if (authorized === false) return sendError(ctx, fail('UNAUTHENTICATED'), log);
    if (authorized !== true) return u.later(authorized, (ok) => (ok ? go() : sendError(ctx, fail('UNAUTHENTICATED'), log)));
    go();
  } catch (err) {
    sendError(ctx, err, log);
  }
}
