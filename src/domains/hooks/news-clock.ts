import type { Hub } from '../../bus/hub.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { HOOK_NEWS_TAIL, HOOK_SESSIONS_REMEMBERED } from '../../shared/limits-features.js';
import { isDigestTopic } from './reader.js';

/**
 * Writer methods that may store an audit entry a digest reports (schemas/db/tables/audit.ts, DIGEST_AUDIT).
 * Not the pruning of events: what a session has not read of a digest's topics is in the tail, or
 * its hook reads the database, which tells it what was pruned (gather.ts).
 */
const NEWS_METHODS = ['specs.put', 'specs.delete', 'rules.decide', 'instances.register', 'hooks.bind'] as const;

/** The index of the first row past `id` in rows sorted by id. */
export function firstAfter(rows: ReadonlyArray<{ id: number }>, id: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where the clock stood for an agent when a digest read the news (see NewsClock.after). */
export interface NewsMark {
  /** The newest event of a digest's topics seen here. */
  event: number;
  /** The audit epoch (-1: read it again whatever it is). */
  epoch: number;
  /** The newest message to the agent seen here (-1: read its inbox again). */
  message: number;
}

/** An event of a digest's topics as the tail keeps it: its data parsed once. */
export interface TailEvent {
  id: number;
  topic: string;
  data: Record<string, unknown>;
}

/**
 * What a node knows of the news a digest reads without reading the database: the newest event
 * of a digest's topics (every event reaches the hub) and the last HOOK_NEWS_TAIL of them, the newest message sent to each agent
 * (`message.sent` names its recipients), and an epoch that moves with each write that may store an
 * audit entry a digest reports (spec changes, rules accepted, agents joining) and with every write
 * whose outcome is unknown. A session whose digest read up to a mark the clock has not passed
 * has no news: its hook answers without reading. Each part moves before the write it follows is
 * acknowledged, so a hook after an acknowledged write always reads it — where every write passes
 * through this node (one writer: SQLite). A cluster's node learns of the others' writes later
 * (the event feed) or not at all (audit entries): there, hooks read.
 */
export class NewsClock {
  private event = 0;
  /** The newest event of any topic published here. */
  private newest = 0;
  /** A feed's clock (listenFeed): every id is published, one after another. */
  private feed = false;
  /** A feed's clock before its first event (or after a reset): the tail starts at that event. */
  private restarting = false;
  private epoch = 0;
  /** The newest events of a digest's topics, oldest first; every one after `tailFloor` is here. */
  private tail: TailEvent[] = [];
  private tailFloor = 0;
  private readonly inbox = new Map<string, number>();
  private readonly kept: Array<(e: TailEvent) => void> = [];
  /** The newest message id of the recipients forgotten when the map was full. */
  private inboxFloor = 0;

  /**
   * A cluster's node, for the events alone: told of every event the hub publishes (the event
   * feed's, in id order), the tail dropped at each of the hub's closes (a feed that fell behind
   * retention, a restore). Its epoch and inboxes are not kept: other nodes' writes never reach
   * them. A hook asks it for the events up to the newest one it read stored (eventsThrough).
   */
  listenFeed(hub: Hub): this {
    this.feed = true;
    this.reset();
    hub.tapAll((id, topic, frame) => this.published(id, topic, frame));
    hub.onCloseAll(() => this.reset());
    return this;
  }

  /** Told of every event the hub publishes and of the writes that move the epoch. */
  listen(hub: Hub, writer: WriterClient): this {
    hub.tapAll((id, topic, frame) => this.published(id, topic, frame));
    writer.onWrite(NEWS_METHODS, () => this.moved());
    writer.onUncertain(() => this.moved());
    return this;
  }

  /** An event published here (its id, topic and JSON frame). */
  published(id: number, topic: string, frame: Buffer): void {
    // A feed's ids follow one another: any other (a restore's log, a jump past pruned events) starts the tail again.
    if (this.feed && !this.restarting && id !== this.newest + 1) this.reset();
    if (this.restarting) {
      this.restarting = false;
      this.tailFloor = id - 1;
    }
    this.newest = Math.max(this.newest, id);
    if (isDigestTopic(topic)) {
      // One out of order (none is, where one writer numbers them) leaves the tail incomplete before it.
      if (id > this.event) this.keep(id, topic, frame);
      else this.tailFloor = Math.max(this.tailFloor, this.event);
      this.event = Math.max(this.event, id);
    } else if (topic === 'message.sent' && !this.feed) this.sent(frame);
  }

  /** A write that may have stored news no event tells of (an audit entry), or one whose outcome is unknown. */
  moved(): void {
    this.epoch++;
  }

  /** Events stored before this node started (not published here): each may be of a digest's topics. */
  seen(newestEvent: number): void {
    this.event = Math.max(this.event, newestEvent);
    this.tailFloor = Math.max(this.tailFloor, newestEvent);
  }

  /** The newest event of a digest's topics seen here (or stored before it started). */
  newestDigestEvent(): number {
    return this.event;
  }

  /** Where the clock stands for `agent`. */
  mark(agent: string): NewsMark {
    return { event: this.event, epoch: this.epoch, message: this.inbox.get(agent) ?? this.inboxFloor };
  }

  /**
   * What came for `agent` since `m`, when this node can tell without reading: the events of a
   * digest's topics after it (empty: none) — null when its inbox or the audit epoch moved, or the
   * tail no longer holds them all.
   */
  after(m: NewsMark, agent: string): readonly TailEvent[] | null {
    const newest = this.newestAfter(m, agent);
    if (newest === null) return null;
    return newest <= m.event ? [] : this.events(m.event);
  }

  /**
   * The newest event of a digest's topics, when what came for `agent` since `m` is told by the
   * events after it alone and the tail holds every one (see after); null otherwise.
   */
  newestAfter(m: NewsMark, agent: string): number | null {
    if (this.epoch !== m.epoch || (this.inbox.get(agent) ?? this.inboxFloor) > m.message) return null;
    return this.event > m.event && m.event < this.tailFloor ? null : this.event;
  }

  /** `fn` is told of each event the tail keeps from now on, its data parsed. */
  onKept(fn: (e: TailEvent) => void): void {
    this.kept.push(fn);
  }

  /**
   * The events of a digest's topics after `id` up to `upto` — null unless every event up to
   * `upto` was published here and the tail holds them all.
   */
  eventsThrough(id: number, upto: number): TailEvent[] | null {
    if (this.newest < upto) return null;
    const after = this.events(id);
    if (after === null) return null;
    let n = after.length;
    while (n > 0 && after[n - 1]!.id > upto) n--;
    return n === after.length ? after : after.slice(0, n);
  }

  /** The tail forgotten: it starts again at the next event published. */
  private reset(): void {
    this.tail = [];
    this.tailFloor = Number.MAX_SAFE_INTEGER;
    this.event = 0;
    this.newest = 0;
    this.restarting = true;
  }

  /** The events of a digest's topics after `id` — null when the tail no longer holds them all. */
  events(id: number): TailEvent[] | null {
    if (id < this.tailFloor) return null;
    return this.tail.slice(firstAfter(this.tail, id));
  }

  /** An event of a digest's topics into the tail (one it cannot read leaves a gap: hooks read past it). */
  private keep(id: number, topic: string, frame: Buffer): void {
    let data: unknown;
    try {
      data = (JSON.parse(frame.toString('utf8')) as { data?: unknown }).data;
    } catch {
      // below
    }
    if (data === null || typeof data !== 'object') {
      this.tail = [];
      this.tailFloor = id;
      return;
    }
    const e = { id, topic, data: data as Record<string, unknown> };
    this.tail.push(e);
    for (const fn of this.kept) fn(e);
    if (this.tail.length >= 2 * HOOK_NEWS_TAIL) {
      const cut = this.tail.length - HOOK_NEWS_TAIL;
      this.tailFloor = Math.max(this.tailFloor, this.tail[cut - 1]!.id);
      this.tail = this.tail.slice(cut);
    }
  }

  /** A `message.sent` event's frame (one it cannot read: every agent may have news). */
  private sent(frame: Buffer): void {
    let id: unknown;
    let recipients: unknown;
    try {
      ({ id, recipients } = (JSON.parse(frame.toString('utf8')) as { data?: { id?: unknown; recipients?: unknown } }).data ?? {});
    } catch {
      // below
    }
    if (typeof id !== 'number' || !Array.isArray(recipients)) {
      this.moved();
      return;
    }
    for (const r of recipients as string[]) {
      if (this.inbox.size >= HOOK_SESSIONS_REMEMBERED && !this.inbox.has(r)) {
        for (const v of this.inbox.values()) this.inboxFloor = Math.max(this.inboxFloor, v);
        this.inbox.clear();
      }
      this.inbox.set(r, Math.max(this.inbox.get(r) ?? 0, id));
    }
  }
}
