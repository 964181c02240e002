import type { WebSocket } from 'uWebSockets.js';
import { matcherFor, type Matcher } from './glob.js';

/**
 * Bytes uWS may hold for one socket before we stop writing to it and start counting against its
 * buffer budget. Past this the kernel socket buffer is full too: the consumer is not reading.
 */
export const WS_SOFT_BUFFER_BYTES = 64 * 1024;
/** WebSocket close code for a subscriber that fell behind its buffer (SPEC §7-17). */
export const CLOSE_SLOW_CONSUMER = 4008;

export type Overflow = 'close' | 'drop';

export interface HubLimits {
  /** Max events queued for a subscriber that is not keeping up. */
  maxEvents: number;
  /** Max bytes queued for a subscriber that is not keeping up. */
  maxBytes: number;
}

interface Item {
  id: number;
  frame: Buffer;
}

/** One WebSocket subscription and its bounded buffer. */
export class Subscriber {
  ws: WebSocket<{ sub: Subscriber }> | null = null;
  queue: Item[] = [];
  head = 0;
  queuedBytes = 0;
  /** Replayed (since=) items still in the queue: they do not count against the live budget. */
  replayLeft = 0;
  replayBytesLeft = 0;
  /** Highest id queued or sent: live events at or below it are duplicates of the replay. */
  lastQueuedId = 0;
  lastSentId = 0;
  /** The last flush stopped on backpressure. */
  blocked = false;
  closed = false;
  dropped = 0;

  constructor(
    readonly id: number,
    readonly pattern: string,
    readonly overflow: Overflow,
    /** Resume point (SPEC §8.2), or null for live-only. */
    readonly since: number | null,
  ) {
    this.lastQueuedId = since ?? 0;
    this.lastSentId = since ?? 0;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }
}

export interface HubStats {
  subscribers: number;
  delivered: number;
  dropped: number;
  closed_slow: number;
  replayed: number;
}

interface Group {
  matcher: Matcher;
  subs: Set<Subscriber>;
}

/**
 * Fan-out of committed events to WebSocket subscribers, in id order. Subscribers sharing a
 * pattern share one compiled matcher. Frames are queued per subscriber and written once per
 * turn under one cork per socket. A subscriber that stops reading is bounded: past its budget it
 * is closed with 4008 (default) or, with overflow=drop, skips events; the publisher and the other
 * subscribers never wait for it.
 */
export class Hub {
  private readonly groups = new Map<string, Group>();
  private readonly dirty = new Set<Subscriber>();
  private flushScheduled = false;
  private nextId = 1;
  readonly stats: HubStats = { subscribers: 0, delivered: 0, dropped: 0, closed_slow: 0, replayed: 0 };

  constructor(
    private readonly limits: HubLimits,
    private readonly onSlow: (sub: Subscriber, action: 'closed' | 'dropping') => void = () => {},
  ) {}

  create(pattern: string, overflow: Overflow, since: number | null): Subscriber {
    return new Subscriber(this.nextId++, pattern, overflow, since);
  }

  /** Starts live delivery; `replay` are retained events after `since`, oldest first. */
  attach(sub: Subscriber, ws: WebSocket<{ sub: Subscriber }>, replay: ReadonlyArray<{ id: number; frame: Buffer }>): void {
    sub.ws = ws;
    let g = this.groups.get(sub.pattern);
    if (!g) {
      g = { matcher: matcherFor(sub.pattern), subs: new Set() };
      this.groups.set(sub.pattern, g);
    }
    g.subs.add(sub);
    this.stats.subscribers++;
    for (const r of replay) {
      if (r.id <= sub.lastQueuedId) continue;
      this.push(sub, r.id, r.frame);
      sub.replayLeft++;
      sub.replayBytesLeft += r.frame.length;
      this.stats.replayed++;
    }
    if (sub.pending > 0) this.markDirty(sub);
  }

  detach(sub: Subscriber): void {
    if (sub.closed) return;
    sub.closed = true;
    if (sub.ws === null) return; // never attached
    sub.ws = null;
    sub.queue = [];
    sub.head = 0;
    this.dirty.delete(sub);
    const g = this.groups.get(sub.pattern);
    if (g) {
      g.subs.delete(sub);
      if (g.subs.size === 0) this.groups.delete(sub.pattern);
    }
    this.stats.subscribers--;
  }

  /** Fans one committed event out to every matching subscriber. Call in id order. */
  publish(id: number, topic: string, frame: Buffer): void {
    for (const g of this.groups.values()) {
      if (!g.matcher(topic)) continue;
      for (const sub of g.subs) this.offer(sub, id, frame);
    }
  }

  /** Writes what a socket can take now (also called from the socket's drain). */
  flushOne(sub: Subscriber): void {
    const ws = sub.ws;
    if (!ws || sub.closed) return;
    ws.cork(() => {
      while (sub.head < sub.queue.length) {
        if (ws.getBufferedAmount() > WS_SOFT_BUFFER_BYTES) {
          sub.blocked = true;
          return;
        }
        const item = sub.queue[sub.head]!;
        sub.queue[sub.head] = undefined as unknown as Item;
        sub.head++;
        sub.queuedBytes -= item.frame.length;
        if (sub.replayLeft > 0) {
          sub.replayLeft--;
          sub.replayBytesLeft -= item.frame.length;
        }
        ws.send(item.frame, false, false);
        sub.lastSentId = item.id;
        this.stats.delivered++;
      }
      sub.blocked = false;
    });
    if (sub.head === sub.queue.length) {
      sub.queue = [];
      sub.head = 0;
    } else if (sub.head > 1024) {
      sub.queue = sub.queue.slice(sub.head);
      sub.head = 0;
    }
  }

  /** Bytes queued across all subscribers right now (bounded by subscribers × budget). */
  queuedBytes(): number {
    let n = 0;
    for (const g of this.groups.values()) for (const sub of g.subs) n += sub.queuedBytes;
    return n;
  }

  /** Closes every subscription (shutdown). */
  closeAll(code: number, reason: string): void {
    for (const g of [...this.groups.values()]) {
      for (const sub of [...g.subs]) {
        const ws = sub.ws;
        this.detach(sub);
        ws?.end(code, reason);
      }
    }
  }

  private offer(sub: Subscriber, id: number, frame: Buffer): void {
    if (sub.closed || id <= sub.lastQueuedId) return;
    if (sub.blocked) {
      const liveEvents = sub.pending - sub.replayLeft;
      const liveBytes = sub.queuedBytes - sub.replayBytesLeft;
      if (liveEvents >= this.limits.maxEvents || liveBytes + frame.length > this.limits.maxBytes) {
        this.overflowed(sub, id);
        return;
      }
    }
    this.push(sub, id, frame);
    this.markDirty(sub);
  }

  private push(sub: Subscriber, id: number, frame: Buffer): void {
    sub.queue.push({ id, frame });
    sub.queuedBytes += frame.length;
    sub.lastQueuedId = id;
  }

  private overflowed(sub: Subscriber, id: number): void {
    if (sub.overflow === 'drop') {
      sub.dropped++;
      this.stats.dropped++;
      // Skipped for good: a later resume must not resend it as a duplicate either.
      sub.lastQueuedId = id;
      this.onSlow(sub, 'dropping');
      return;
    }
    const ws = sub.ws;
    const lastSent = sub.lastSentId;
    this.stats.closed_slow++;
    this.detach(sub);
    this.onSlow(sub, 'closed');
    ws?.end(CLOSE_SLOW_CONSUMER, `slow consumer: last delivered id ${lastSent}`);
  }

  private markDirty(sub: Subscriber): void {
    this.dirty.add(sub);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const sub of this.dirty) this.flushOne(sub);
    this.dirty.clear();
  };
}
