/**
 * Every close the server makes on a subscriber socket, in one table: the reason, which is the
 * `reason` label of koor_ws_closed_total, and the WebSocket close code the client sees. A client
 * tells from the code what to do (4008: resume from the id in the close text; 1011, 1012: resume
 * with since= later); the reason says which of the server's paths closed it, for the operator.
 * `scope` says whether one subscriber is closed (the hub or the socket decides) or all of them at
 * once (Hub.closeAll, whose callers name the code: their reason is read from it here). Not
 * here: closes uWS makes on its own (idle timeout, a client frame past WS_HARD_FRAME_BYTES) and the 1009 of src/http/slots.ts, which its
 * close callback cannot tell from a client leaving.
 */
export const CLOSES = {
  /** Past its buffer with overflow=close, or its replay pruned under it. */
  slow_consumer: { code: 4008, scope: 'one' },
  /** Cluster mode: events were pruned before this node fanned them out, so every subscriber of the node resumes. */
  node_behind: { code: 4008, scope: 'all' },
  /** A replay read failed (the database unreachable). */
  replay_failed: { code: 1011, scope: 'one' },
  /** Starting delivery on a new socket failed. */
  open_failed: { code: 1011, scope: 'one' },
  /** The server restarting, or its data restored from a backup (1012 Service Restart). */
  restart: { code: 1012, scope: 'all' },
  /** The server shutting down (1001 Going Away). */
  shutdown: { code: 1001, scope: 'all' },
  /** A closeAll with a code not listed above (none today): the code its caller named. */
  other: { code: null, scope: 'all' },
} as const;

export type CloseReason = keyof typeof CLOSES;

/** Every reason, in the table's order (each is exported on /metrics, at 0 until it happens). */
export const CLOSE_REASONS = Object.keys(CLOSES) as CloseReason[];

/** WebSocket close code for a subscriber that fell behind its buffer. */
export const CLOSE_SLOW_CONSUMER = CLOSES.slow_consumer.code;

/** Close code when a replay read failed (the database unreachable): resume with since= later. */
export const CLOSE_REPLAY_FAILED = CLOSES.replay_failed.code;

/** Per reason, how many closes were made. */
export type CloseCounts = Record<CloseReason, number>;

export function noCloses(): CloseCounts {
  return Object.fromEntries(CLOSE_REASONS.map((r) => [r, 0])) as CloseCounts;
}

const BY_ALL_CODE = new Map<number, CloseReason>();
for (const r of CLOSE_REASONS) {
  const { code, scope } = CLOSES[r];
  if (scope === 'all' && code !== null) BY_ALL_CODE.set(code, r);
}

/** The reason of a close of every subscriber with `code` (Hub.closeAll). */
export function closeAllReason(code: number): CloseReason {
  return BY_ALL_CODE.get(code) ?? 'other';
}
