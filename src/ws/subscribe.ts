import type { TemplatedApp } from 'uWebSockets.js';
import { badRequest, unauthenticated } from '../errors.js';
import { CLOSE_SLOW_CONSUMER, WS_SOFT_BUFFER_BYTES, type Hub, type Overflow, type Subscriber } from '../bus/hub.js';
import { sinceParam, type EventService } from '../domains/events/service.js';
import type { Authenticator } from '../http/auth.js';
import { createCtx } from '../http/context.js';
import { sendError } from '../http/reply.js';
import { rateLimited, type Logger } from '../log.js';

export const SUBSCRIBE_PATH = '/api/events/subscribe';
/** Largest client frame accepted (clients send nothing meaningful), bytes. */
const MAX_CLIENT_FRAME_BYTES = 4 * 1024;
/** Idle timeout in seconds; uWS sends pings automatically so quiet subscriptions stay open. */
const IDLE_TIMEOUT_S = 120;

interface SubData {
  sub: Subscriber;
}

/**
 * `GET /api/events/subscribe?pattern=P[&since=ID][&overflow=drop]` (SPEC §2.4, §7-17, §8.2).
 * Auth checked at the upgrade. With `since`, retained events after it are replayed first, then
 * live ones: the replay is read in the same synchronous step that registers the subscriber, and
 * ids at or below the last one queued are skipped, so there is no gap and no duplicate.
 */
export function mountSubscribe(app: TemplatedApp, deps: { auth: Authenticator; hub: Hub; events: EventService; maxBytes: number; log: Logger }): void {
  const { auth, hub, events, log } = deps;

  app.ws<SubData>(SUBSCRIBE_PATH, {
    compression: 0,
    maxPayloadLength: MAX_CLIENT_FRAME_BYTES,
    idleTimeout: IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    // uWS must never drop on its own: the hub bounds each subscriber below this.
    maxBackpressure: WS_SOFT_BUFFER_BYTES + deps.maxBytes + 1024 * 1024,
    closeOnBackpressureLimit: 0,

    upgrade: (res, req, context) => {
      const ctx = createCtx(res, req, 0, false);
      try {
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        if (!auth.authorize(ctx)) return sendError(ctx, unauthenticated(), log);
        const q = new URLSearchParams(ctx.query);
        const pattern = q.get('pattern') || '*';
        const overflowRaw = q.get('overflow') ?? '';
        if (overflowRaw !== '' && overflowRaw !== 'drop' && overflowRaw !== 'close') throw badRequest('overflow must be "close" or "drop"');
        const overflow: Overflow = overflowRaw === 'drop' ? 'drop' : 'close';
        let since = sinceParam(q.get('since'));
        let oldestHeader: string | null = null;
        if (since !== null) {
          const last = events.lastId();
          // An id beyond the newest (a restored or fresh data file) must not mute live events.
          since = Math.min(since, last);
          const oldest = events.oldestId();
          if (oldest !== null && since < oldest - 1) oldestHeader = String(oldest);
          else if (oldest === null && since < last) oldestHeader = String(last + 1);
        }
        const sub = hub.create(pattern, overflow, since);
        ctx.done = true;
        res.cork(() => {
          if (oldestHeader !== null) {
            // Writing the 101 status first lets a custom header ride on the upgrade response.
            res.writeStatus('101 Switching Protocols');
            res.writeHeader('X-Koor-Oldest-Event', oldestHeader);
          }
          res.upgrade<SubData>({ sub }, key, protocol, extensions, context);
        });
      } catch (err) {
        sendError(ctx, err, log);
      }
    },

    open: (ws) => {
      const sub = ws.getUserData().sub;
      try {
        const replay = sub.since === null ? [] : events.replay(sub.since, sub.pattern);
        hub.attach(sub, ws, replay);
      } catch (err) {
        log.error({ err }, 'failed to open subscription');
        ws.end(1011, 'failed to open subscription');
      }
    },

    drain: (ws) => hub.flushOne(ws.getUserData().sub),

    message: () => {
      // Client frames are ignored (SPEC §2.4).
    },

    close: (ws) => hub.detach(ws.getUserData().sub),
  });
}

/** Logger hook for the hub: one rate-limited line for slow-consumer closes and drops. */
export function slowConsumerLogger(log: Logger): (sub: Subscriber, action: 'closed' | 'dropping') => void {
  const warn = rateLimited(log, 10_000);
  return (sub, action) =>
    warn({ subscriber: sub.id, pattern: sub.pattern, lastDelivered: sub.lastSentId, action, code: action === 'closed' ? CLOSE_SLOW_CONSUMER : undefined }, action === 'closed' ? 'slow subscriber closed (4008)' : 'dropping events for slow subscriber');
}
