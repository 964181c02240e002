import type { Slots, WsCallbacks } from '../http/slots.js';
import { fail } from '../errors.js';
import { CLOSE_SLOW_CONSUMER, type Hub, type Overflow, type Subscriber } from '../bus/hub.js';
import type { EventService } from '../domains/events/service.js';
import { globParam, sinceParam } from '../http/query.js';
import type { Authenticator } from '../http/auth.js';
import { createCtx } from '../http/context.js';
import { sendError } from '../http/reply.js';
import type { Logger } from '../log.js';
import { rateLimited } from '../shared/rate-limited.js';
import { SocketOutlet } from './outlet.js';
import { WS_IDLE_TIMEOUT_S, WS_MAX_CLIENT_FRAME_BYTES, WS_SOFT_BUFFER_BYTES } from '../shared/limits.js';
import { pending } from '../backend/awaitable.js';

export const SUBSCRIBE_PATH = '/api/events/subscribe';

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

interface SubData {
  sub: Subscriber;
  cb: WsCallbacks<SubData>;
}

/**
 * `GET /api/events/subscribe?pattern=P[&since=ID][&overflow=drop]` (SPEC §2.4, §7-17, §8.2).
 * Auth checked at the upgrade (the Authorization header, or the token in the subprotocol offer).
 * With `since`, retained events after it are replayed first, then live ones: the replay is read
 * in the same synchronous step that registers the subscriber, and ids at or below the last one
 * queued are skipped, so there is no gap and no duplicate.
 */
export function mountSubscribe(slots: Slots, deps: { auth: Authenticator; hub: Hub; events: EventService; maxBytes: number; log: Logger }): void {
  const { auth, hub, events, log } = deps;

  // This generation's socket callbacks (a socket keeps them for its life).
  const cb: WsCallbacks<SubData> = {
    open: (ws) => {
      const sub = ws.getUserData().sub;
      const out = new SocketOutlet(ws);
      try {
        // Replay (since=) is read from the log step by step as the socket takes it, then live.
        if (sub.since === null) hub.attach(sub, out);
        else hub.attach(sub, out, (after) => events.replayStep(after, sub.pattern), sub.since);
      } catch (err) {
        log.error({ err }, 'failed to open subscription');
        hub.close(sub, 'open_failed', 'failed to open subscription', out);
      }
    },
    drain: (ws) => hub.flushOne(ws.getUserData().sub),
    // Client frames are ignored (SPEC §2.4).
    close: (ws) => hub.detach(ws.getUserData().sub),
  };

  slots.ws<SubData>(
    SUBSCRIBE_PATH,
    {
      compression: 0,
      maxPayloadLength: WS_MAX_CLIENT_FRAME_BYTES,
      idleTimeout: WS_IDLE_TIMEOUT_S,
      sendPingsAutomatically: true,
      // uWS must never drop on its own: the hub bounds each subscriber below this.
      maxBackpressure: WS_SOFT_BUFFER_BYTES + deps.maxBytes + 1024 * 1024,
      closeOnBackpressureLimit: 0,
    },
    (res, req, context) => {
      const ctx = createCtx(res, req, 0, false);
      try {
        const key = req.getHeader('sec-websocket-key');
        const offered = protocolAuth(req.getHeader('sec-websocket-protocol'));
        const protocol = offered.answer;
        const extensions = req.getHeader('sec-websocket-extensions');
        // A header, when sent, wins over a token in the offer.
        if (offered.authorization !== null && ctx.headers.authorization === '') ctx.headers.authorization = offered.authorization;
        // Anything answered later (an identity or the oldest id read from the database, cluster
        // mode) needs the abort handler now; the upgrade then uses what was read above.
        let aborted = false;
        let watching = false;
        const later = <T>(p: Promise<T>, then: (v: T) => void) => {
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
        };
        const authorized = auth.authorize(ctx);
        if (authorized === false) return sendError(ctx, fail('UNAUTHENTICATED'), log);
        if (authorized !== true) return later(authorized, (ok) => (ok ? opened() : sendError(ctx, fail('UNAUTHENTICATED'), log)));
        opened();

        function opened(): void {
          const q = new URLSearchParams(ctx.query);
          const pattern = globParam(q, 'pattern', '*');
          const overflowRaw = q.get('overflow') ?? '';
          if (overflowRaw !== '' && overflowRaw !== 'drop' && overflowRaw !== 'close') throw fail('OVERFLOW_INVALID');
          const overflow: Overflow = overflowRaw === 'drop' ? 'drop' : 'close';
          const requested = sinceParam(q.get('since'));
          const upgrade = (oldest: number | null) => {
            let since = requested;
            let oldestHeader: string | null = null;
            if (since !== null) {
              const last = events.lastId();
              // An id beyond the newest (a restored or fresh data file) must not mute live events.
              since = Math.min(since, last);
              // Older than what is retained: say so, and start the replay at the oldest kept event.
              if (oldest !== null && since < oldest - 1) {
                oldestHeader = String(oldest);
                since = oldest - 1;
              } else if (oldest === null && since < last) {
                oldestHeader = String(last + 1);
                since = last;
              }
            }
            const sub = hub.create(pattern, overflow, since);
            ctx.done = true;
            res.cork(() => {
              if (oldestHeader !== null) {
                // Writing the 101 status first lets a custom header ride on the upgrade response.
                res.writeStatus('101 Switching Protocols');
                res.writeHeader('X-Koor-Oldest-Event', oldestHeader);
              }
              res.upgrade<SubData>({ sub, cb }, key, protocol, extensions, context);
            });
          };
          const oldest = requested === null ? null : events.oldestId();
          if (pending(oldest)) later(oldest, upgrade);
          else upgrade(oldest);
        }
      } catch (err) {
        sendError(ctx, err, log);
      }
    },
  );
}

/** Logger hook for the hub: one rate-limited line for slow-consumer closes and drops. */
export function slowConsumerLogger(log: Logger): (sub: Subscriber, action: 'closed' | 'dropping') => void {
  const warn = rateLimited(log, 10_000);
  return (sub, action) =>
    warn({ subscriber: sub.id, pattern: sub.pattern, lastDelivered: sub.lastSentId, action, code: action === 'closed' ? CLOSE_SLOW_CONSUMER : undefined }, action === 'closed' ? 'slow subscriber closed (4008)' : 'dropping events for slow subscriber');
}
