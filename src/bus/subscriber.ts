export type Overflow = 'close' | 'drop';

export interface HubLimits {
  /** Max events queued for a subscriber that is not keeping up. */
  maxEvents: number;
  /** Max bytes queued for a subscriber that is not keeping up. */
  maxBytes: number;
}

export interface Item {
  id: number;
  frame: Buffer;
}

/** One step of a replay read from the event log (see EventService.replayStep). */
export interface ReplayStep {
  items: Item[];
  /** The id the following step starts after. */
  next: number;
  /** This step reached the newest committed event. */
  done: boolean;
  /** Events after the cursor were pruned before the subscriber got to them. */
  gap: boolean;
}

/**
 * Reads the replay step after `after` for one subscriber (its pattern is bound in): at once
 * (SQLite), or a promise (PostgreSQL) — the subscriber then waits for it, one read at a time.
 */
export type ReplaySource = (after: number) => ReplayStep | Promise<ReplayStep>;

/**
 * A subscriber's socket as the hub sees it. The hub decides what goes out and when a subscriber
 * is closed; the socket (src/ws/outlet.ts) only writes, reports back-pressure and closes, so the
 * bus stays free of the WebSocket library.
 */
export interface Outlet {
  /** The socket already holds more than it should take now: queue instead of sending. */
  full(): boolean;
  /**
   * Sends `frames[from..end)` (from < end) in one batch until the socket pushes back; returns the
   * index after the last frame sent (a frame that met back-pressure is still sent, and counts; one
   * the socket refused is not, and stays the next to send).
   */
  send(frames: readonly Buffer[], from: number, end: number): number;
  /** The last send() stopped on back-pressure. */
  readonly pushedBack: boolean;
  close(code: number, text: string): void;
}

/** What a sent slot of a queue holds until the queue is reset (the frame itself is let go). */
const SENT = Buffer.alloc(0);

/** One WebSocket subscription and its bounded buffer (the hub decides what goes in and when it is written). */
export class Subscriber {
  /** Its socket while attached; null before attach and once detached. */
  out: Outlet | null = null;
  /** The queue: event ids and their frames, in two arrays (no object per queued frame); sent up to `head`. */
  ids: number[] = [];
  frames: Buffer[] = [];
  head = 0;
  queuedBytes = 0;
  /**
   * Catching up (since=): live events are not queued, the replay reads them from the log in
   * steps, each only once the socket took the previous one. Live delivery starts when a step
   * finds nothing more with the queue empty. Replayed items count against the buffer like any.
   */
  replay: ReplaySource | null = null;
  /** Replay position: every event id ≤ cursor has been read from the log. */
  cursor = 0;
  /** An asynchronous replay read is under way: nothing more is read until it lands. */
  reading = false;
  /** Highest id queued or sent: live events at or below it are duplicates of the replay. */
  lastQueuedId = 0;
  lastSentId = 0;
  /** The last flush stopped on backpressure. */
  blocked = false;
  /** In the hub's list of subscribers to flush this turn. */
  dirty = false;
  closed = false;
  dropped = 0;

  constructor(
    readonly id: number,
    readonly pattern: string,
    readonly overflow: Overflow,
    /** Resume point, or null for live-only. */
    readonly since: number | null,
  ) {
    this.lastQueuedId = since ?? 0;
    this.lastSentId = since ?? 0;
  }

  get pending(): number {
    return this.ids.length - this.head;
  }

  /** Queues one frame (the hub checked the budget). */
  push(id: number, frame: Buffer): void {
    this.ids.push(id);
    this.frames.push(frame);
    this.queuedBytes += frame.length;
    this.lastQueuedId = id;
  }

  /**
   * Writes queued frames to `out` until it pushes back; how many went out. Afterwards `pending`
   * is 0 once the queue emptied, and `blocked` says whether the socket pushed back.
   */
  writeQueued(out: Outlet): number {
    const { ids, frames } = this;
    const from = this.head;
    const end = ids.length;
    if (from === end) {
      this.blocked = false;
      return 0;
    }
    if (out.full()) {
      this.blocked = true;
      return 0;
    }
    const to = out.send(frames, from, end);
    let bytes = 0;
    for (let i = from; i < to; i++) {
      bytes += frames[i]!.length;
      frames[i] = SENT;
    }
    if (to > from) {
      this.lastSentId = ids[to - 1]!;
      this.queuedBytes -= bytes;
      this.head = to;
    }
    this.blocked = out.pushedBack && to < end;
    if (this.head === this.ids.length) {
      // Emptied: the arrays are kept (no allocation per subscriber per turn).
      this.ids.length = 0;
      this.frames.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.ids = this.ids.slice(this.head);
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return to - from;
  }
}
