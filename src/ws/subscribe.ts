import type { Slots, WsCallbacks } from '../http/slots.js';
import { fail } from '../errors.js';
import { CLOSE_SLOW_CONSUMER, type Hub, type Overflow, type Subscriber } from '../bus/hub.js';
import type { EventService } from '../domains/events/service.js';
import { globParam, sinceParam } from '../http/query.js';
import type { Logger } from '../log.js';
import { rateLimited } from '../shared/rate-limited.js';
import { SocketOutlet } from './outlet.js';
import { WS_IDLE_TIMEOUT_S, WS_MAX_CLIENT_FRAME_BYTES, WS_SOFT_BUFFER_BYTES } from '../shared/limits.js';

/**
 * Where a stream resumed after `requested` starts (events by id, watches by revision): never past
 * `last`, the newest (a restored or fresh data file must not mute live items); when what was
 * asked for is no longer retained, one before the oldest kept (`pruned`: the first it can give,
 * for the upgrade's header) — or, with nothing retained, at `last`.
 */
export function resumeFrom(requested: number, last: number, oldest: number | null): { since: number; pruned: number | null } {
  const since = Math.min(requested, last);
  if (oldest !== null && since < oldest - 1) return { since: oldest - 1, pruned: oldest };
  if (oldest === null && since < last) return { since: last, pruned: last + 1 };
  return { since, pruned: null };
}

/**
 * The uWS options of a socket Koor streams to (events, state watches, the inbox): client frames
 * are small and ignored, pings keep it alive, and the backpressure ceiling is one uWS never
 * reaches on its own — each stream bounds itself below it (`bufferBytes`: the most a stream may
 * hold past the soft limit).
 */
export function streamSocketOptions(bufferBytes: number) {
  return {
    compression: 0,
    maxPayloadLength: WS_MAX_CLIENT_FRAME_BYTES,
    idleTimeout: WS_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    maxBackpressure: WS_SOFT_BUFFER_BYTES + bufferBytes + 1024 * 1024,
    closeOnBackpressureLimit: 0,
  };
}
import { pending } from '../backend/awaitable.js';
import { acceptUpgrade, type UpgradeDeps } from './upgrade.js';

export const SUBSCRIBE_PATH = '/api/events/subscribe';

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
export function mountSubscribe(slots: Slots, deps: UpgradeDeps & { hub: Hub; events: EventService; maxBytes: number }): void {
  const { hub, events, log } = deps;

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
    // uWS must never drop on its own: the hub bounds each subscriber below this.
    streamSocketOptions(deps.maxBytes),
    (res, req, context) =>
      acceptUpgrade(res, req, context, { ...deps, path: SUBSCRIBE_PATH }, (u) => {
        const q = new URLSearchParams(u.ctx.query);
        const pattern = globParam(q, 'pattern', '*');
        const overflowRaw = q.get('overflow') ?? '';
        if (overflowRaw !== '' && overflowRaw !== 'drop' && overflowRaw !== 'close') throw fail('OVERFLOW_INVALID');
        const overflow: Overflow = overflowRaw === 'drop' ? 'drop' : 'close';
        const requested = sinceParam(q.get('since'));
        const upgrade = (oldest: number | null) => {
          const from = requested === null ? null : resumeFrom(requested, events.lastId(), oldest);
          const sub = hub.create(pattern, overflow, from === null ? null : from.since);
          u.upgrade<SubData>({ sub, cb }, from?.pruned == null ? undefined : [['X-Koor-Oldest-Event', String(from.pruned)]]);
        };
        const oldest = requested === null ? null : events.oldestId();
        if (pending(oldest)) u.later(oldest, upgrade);
        else upgrade(oldest);
      }),
  );
}

/** Logger hook for the hub: one rate-limited line for slow-consumer closes and drops. */
export function slowConsumerLogger(log: Logger): (sub: Subscriber, action: 'closed' | 'dropping') => void {
  const warn = rateLimited(log, 10_000);
  return (sub, action) =>
    warn({ subscriber: sub.id, pattern: sub.pattern, lastDelivered: sub.lastSentId, action, code: action === 'closed' ? CLOSE_SLOW_CONSUMER : undefined }, action === 'closed' ? 'slow subscriber closed (4008)' : 'dropping events for slow subscriber');
}
