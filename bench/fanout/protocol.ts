/**
 * Control protocol between bench/suites/events.ts and its subscriber processes (bench/fanout/subscriber.ts).
 *
 * A subscriber process is a tiny loopback HTTP control server (so bench/lib/processes.ts's spawnNode starts,
 * drains and cleans it up like any server) that opens WebSocket subscriptions on command and
 * counts the frames they receive:
 *   POST /open     OpenRequest  → OpenReply     opens `count` subscriptions (bounded in time)
 *   GET  /snap                  → Snapshot      counters of every subscription, now
 *   POST /resume                → Snapshot      stalled subscriptions read again; replies once they
 *                                               all closed or stayed quiet for `quietMs` (bounded)
 *   POST /close                 → {closed}      closes every subscription (close frame, then destroy)
 */

export type ClientKind = 'raw' | 'ws';

export interface OpenRequest {
  /** ws://127.0.0.1:<port>/api/events/subscribe?… (loopback only). */
  url: string;
  count: number;
  /** Stop reading right after the upgrade (the socket is paused: the kernel buffers fill). */
  stall?: boolean;
  /**
   * raw: a minimal RFC 6455 client on net.Socket that only walks frame headers and parses the
   * leading `{"id":N` of each text frame (cheap, so the subscriber processes are not the limit).
   * ws: the `ws` package (used to cross-check the raw client's counts and bytes).
   */
  client?: ClientKind;
  /** Hash every payload (sha256 per subscription), for the cross-check. */
  verify?: boolean;
  /** Concurrent upgrades in flight (default 50). */
  concurrency?: number;
  /** Whole open() bound, ms (default 15000). */
  timeoutMs?: number;
}

export interface OpenReply {
  opened: number;
  failed: number;
  errors: string[];
  ms: number;
}

/** One subscription: [frames, bytes, firstId, lastId, gaps, dups, state, closeCode]. */
export type SubRow = [frames: number, bytes: number, firstId: number, lastId: number, gaps: number, dups: number, state: SubState, closeCode: number];

export type SubState = 'open' | 'stalled' | 'closed';

export interface SubDetail {
  stalled: boolean;
  client: ClientKind;
  closeReason: string;
  /** ms from the upgrade to the close frame (or socket end), when closed. */
  closedAfterMs: number | null;
  /** Payloads whose first bytes were not `{"id":<digits>`. */
  badFrames: number;
  hash: string | null;
  error: string | null;
}

export interface Snapshot {
  /** Date.now() in the subscriber process when taken. */
  at: number;
  frames: number;
  bytes: number;
  rows: SubRow[];
  /** Only for stalled subscriptions and ones that closed or carry a hash/error (keeps snaps small). */
  details: Record<number, SubDetail>;
}
