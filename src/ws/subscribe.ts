import { CLOSE_SLOW_CONSUMER, type Subscriber } from '../bus/hub.js';
import type { Logger } from '../log.js';
import { rateLimited } from '../shared/rate-limited.js';
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
/** Logger hook for the hub: one rate-limited line for slow-consumer closes and drops. */
export function slowConsumerLogger(log: Logger): (sub: Subscriber, action: 'closed' | 'dropping') => void {
  const warn = rateLimited(log, 10_000);
  return (sub, action) =>
    warn({ subscriber: sub.id, pattern: sub.pattern, lastDelivered: sub.lastSentId, action, code: action === 'closed' ? CLOSE_SLOW_CONSUMER : undefined }, action === 'closed' ? 'slow subscriber closed (4008)' : 'dropping events for slow subscriber');
}
