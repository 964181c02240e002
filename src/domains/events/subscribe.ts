import { fail } from '../../errors.js';
import type { Slots, WsCallbacks } from '../../http/slots.js';
import type { Hub, Overflow, Subscriber } from '../../bus/hub.js';
import { globParam, sinceParam } from '../../http/query.js';
import { SocketOutlet } from '../../ws/outlet.js';
import { resumeFrom, streamSocketOptions } from '../../ws/subscribe.js';
import { pending } from '../../shared/awaitable.js';
import { acceptUpgrade, type UpgradeDeps } from '../../ws/upgrade.js';
import type { EventService } from './service.js';

export const SUBSCRIBE_PATH = '/api/events/subscribe';

interface SubData {
  sub: Subscriber;
  cb: WsCallbacks<SubData>;
}

/**
 * `GET /api/events/subscribe?pattern=P[&since=ID][&overflow=drop]`.
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
    // Client frames are ignored.
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
        // `since` is clamped to the newest committed id, not to what this node's feed has reached:
        // in cluster mode an event another node committed may not have been fanned out here yet,
        // and a subscriber who asked for what follows it must not get it as a live one (the hub
        // skips ids at or below the start), nor get again what it said it had.
        const upgrade = (b: { oldest: number | null; newest: number } | null) => {
          const from = requested === null || b === null ? null : resumeFrom(requested, b.newest, b.oldest);
          const sub = hub.create(pattern, overflow, from === null ? null : from.since);
          u.upgrade<SubData>({ sub, cb }, from?.pruned == null ? undefined : [['X-Koor-Oldest-Event', String(from.pruned)]]);
        };
        const bounds = requested === null ? null : events.bounds();
        if (pending(bounds)) u.later(bounds, upgrade);
        else upgrade(bounds);
      }),
  );
}

