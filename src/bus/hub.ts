import { matcherFor, type Matcher } from '../shared/glob.js';
import { CLOSES, closeAllReason, noCloses, type CloseCounts, type CloseReason } from './closes.js';
import { Subscriber, type HubLimits, type Outlet, type Overflow, type ReplaySource, type ReplayStep } from './subscriber.js';
import { pending } from '../shared/awaitable.js';
import { HUB_REPLAY_STEPS_PER_TURN } from '../shared/limits-features.js';

export { CLOSE_SLOW_CONSUMER } from './closes.js';
export { Subscriber, type HubLimits, type Outlet, type Overflow, type ReplaySource, type ReplayStep } from './subscriber.js';

export interface HubStats {
  subscribers: number;
  delivered: number;
  dropped: number;
  closed_slow: number;
  replayed: number;
  /** Subscriber sockets closed by the server, by reason (./closes.ts). */
  closes: CloseCounts;
}

interface Group {
  matcher: Matcher;
  subs: Set<Subscriber>;
}

/**
 * Fan-out of committed events to WebSocket subscribers, in id order. Subscribers sharing a
 * pattern share one compiled matcher. The events of a turn are matched once per pattern group at
 * the end of the turn and handed to each socket in one batch (its Outlet); a subscriber whose
 * socket pushes back (or that is catching up) queues them. A subscriber that stops reading is
 * bounded: past its budget it is closed with 4008 (default) or, with overflow=drop, skips events;
 * the publisher and the other subscribers never wait for it. Every close the hub makes is counted
 * by reason in `stats.closes`.
 */
export class Hub {
  private readonly groups = new Map<string, Group>();
  /** Subscribers to flush next turn (each once: `Subscriber.dirty`). */
  private dirty: Subscriber[] = [];
  private flushScheduled = false;
  /** Events published this turn, in id order: fanned out at the flush, once per pattern group. */
  private turnIds: number[] = [];
  private turnTopics: string[] = [];
  private turnFrames: Buffer[] = [];
  /** A group's matching events of the turn (reused). */
  private matchIds: number[] = [];
  private matchFrames: Buffer[] = [];
  private nextId = 1;
  /** In-process listeners by exact topic (the inbox's push wakes on `message.sent`). */
  private readonly taps = new Map<string, Array<(id: number, frame: Buffer) => void>>();
  /** In-process listeners of every topic (the hooks' news clock). */
  private readonly tapsAll: Array<(id: number, topic: string, frame: Buffer) => void> = [];
  /** Told of every closeAll: sockets kept outside the hub close with the hub's subscribers. */
  private readonly closeAllHooks: Array<(code: number, reason: string) => void> = [];
  readonly stats: HubStats = { subscribers: 0, delivered: 0, dropped: 0, closed_slow: 0, replayed: 0, closes: noCloses() };

  constructor(
    private readonly limits: HubLimits,
    private readonly onSlow: (sub: Subscriber, action: 'closed' | 'dropping') => void = () => {},
    /** What a subscriber's pattern matches: a topic glob (events), or another rule (a state watch: a key prefix). */
    private readonly compile: (pattern: string) => Matcher = matcherFor,
  ) {}

  /**
   * Calls `fn` with every event of exactly `topic` as it is published here (in id order, from
   * this node's writer or, in cluster mode, the event feed), before subscribers get it.
   */
  tap(topic: string, fn: (id: number, frame: Buffer) => void): void {
    const list = this.taps.get(topic);
    if (list) list.push(fn);
    else this.taps.set(topic, [fn]);
  }

  /** Calls `fn` with every event published here, of any topic, as tap() does. */
  tapAll(fn: (id: number, topic: string, frame: Buffer) => void): void {
    this.tapsAll.push(fn);
  }

  /** `fn` runs at every closeAll (shutdown 1001, restart 1012, …) with its code and reason. */
  onCloseAll(fn: (code: number, reason: string) => void): void {
    this.closeAllHooks.push(fn);
  }

  create(pattern: string, overflow: Overflow, since: number | null): Subscriber {
    return new Subscriber(this.nextId++, pattern, overflow, since);
  }

  /**
   * Starts delivery. With a `replay` source the subscriber first catches up from `start` (the
   * retained events after it, read step by step), then goes live; without one it is live at once.
   */
  attach(sub: Subscriber, out: Outlet, replay: ReplaySource | null = null, start = 0): void {
    let g = this.groups.get(sub.pattern);
    if (!g) {
      g = { matcher: this.compile(sub.pattern), subs: new Set() };
      this.groups.set(sub.pattern, g);
    }
    // Only once nothing above can throw: a subscriber with its socket set is counted as attached.
    sub.out = out;
    g.subs.add(sub);
    this.stats.subscribers++;
    if (replay !== null) {
      sub.replay = replay;
      sub.cursor = start;
      if (start > sub.lastQueuedId) sub.lastQueuedId = start;
      this.markDirty(sub);
    }
  }

  detach(sub: Subscriber): void {
    if (sub.closed) return;
    sub.closed = true;
    if (sub.out === null) return; // never attached
    sub.out = null;
    sub.ids = [];
    sub.frames = [];
    sub.head = 0;
    // Left in `dirty` if there: a flush passes over a closed subscriber.
    const g = this.groups.get(sub.pattern);
    if (g) {
      g.subs.delete(sub);
      if (g.subs.size === 0) this.groups.delete(sub.pattern);
    }
    this.stats.subscribers--;
  }

  /** Whether any subscriber's pattern matches `topic` (a caller may skip making a frame nobody takes). */
  wants(topic: string): boolean {
    for (const g of this.groups.values()) if (g.matcher(topic)) return true;
    return false;
  }

  /**
   * Fans one committed event out to every matching subscriber, at the end of this turn with the
   * turn's other events. Call in id order.
   */
  publish(id: number, topic: string, frame: Buffer): void {
    if (this.taps.size > 0) {
      const fns = this.taps.get(topic);
      if (fns) for (const fn of fns) fn(id, frame);
    }
    for (const fn of this.tapsAll) fn(id, topic, frame);
    this.turnIds.push(id);
    this.turnTopics.push(topic);
    this.turnFrames.push(frame);
    this.schedule();
  }

  /**
   * The turn's events, group by group: each group's matching events are picked once; a
   * subscriber with nothing queued and a socket taking frames gets them sent at once in one
   * batch (no copy into its queue); the others queue them within their budgets, as offer() does.
   */
  private fanTurn(): void {
    const ids = this.turnIds;
    const n = ids.length;
    if (n === 0) return;
    const topics = this.turnTopics;
    const frames = this.turnFrames;
    const mIds = this.matchIds;
    const mFrames = this.matchFrames;
    try {
      for (const g of this.groups.values()) {
        mIds.length = 0;
        mFrames.length = 0;
        for (let i = 0; i < n; i++) {
          if (!g.matcher(topics[i]!)) continue;
          mIds.push(ids[i]!);
          mFrames.push(frames[i]!);
        }
        if (mIds.length === 0) continue;
        for (const sub of g.subs) this.deliver(sub, mIds, mFrames);
      }
    } finally {
      // Handed out once, whatever happened (the arrays are kept: no allocation per turn).
      ids.length = 0;
      topics.length = 0;
      frames.length = 0;
      mFrames.length = 0;
    }
  }

  /** A group's events of the turn to one of its subscribers (see fanTurn). */
  private deliver(sub: Subscriber, ids: number[], frames: Buffer[]): void {
    // While catching up, the replay reads these from the log in its turn.
    if (sub.closed || sub.replay !== null) return;
    const n = ids.length;
    let i = 0;
    while (i < n && ids[i]! <= sub.lastQueuedId) i++;
    if (i < n && sub.pending === 0 && !sub.blocked) {
      const out = sub.out!;
      if (out.full()) sub.blocked = true;
      else {
        const to = out.send(frames, i, n);
        if (to > i) {
          this.stats.delivered += to - i;
          sub.lastSentId = ids[to - 1]!;
          sub.lastQueuedId = sub.lastSentId;
        }
        // What is left queues within the budget (offer) and is written on drain.
        sub.blocked = out.pushedBack && to < n;
        i = to;
      }
    }
    for (; i < n; i++) this.offer(sub, ids[i]!, frames[i]!);
  }

  /**
   * Writes what a socket can take now (also called from the socket's drain); while catching
   * up, reads the next replay steps as the socket takes them, a few per turn.
   */
  flushOne(sub: Subscriber): void {
    for (let steps = 0; ; steps++) {
      if (!this.write(sub) || sub.replay === null) return;
      if (steps === HUB_REPLAY_STEPS_PER_TURN) {
        this.markDirty(sub); // continue next turn
        return;
      }
      if (!this.replayStep(sub)) return;
    }
  }

  /** Reads replay steps until one yields events; false when there was nothing to queue. */
  private replayStep(sub: Subscriber): boolean {
    for (let empty = 0; empty < HUB_REPLAY_STEPS_PER_TURN; empty++) {
      if (sub.reading) return false;
      const step = sub.replay!(sub.cursor);
      if (pending(step)) {
        sub.reading = true;
        step.then(
          (s) => {
            sub.reading = false;
            if (sub.closed || sub.replay === null) return;
            this.applyStep(sub, s);
            // Write what it queued and read on, in the next flush turn.
            this.markDirty(sub);
          },
          () => {
            sub.reading = false;
            this.close(sub, 'replay_failed', 'event log unavailable: resume with since=');
          },
        );
        return false;
      }
      const r = this.applyStep(sub, step);
      if (r === 'queued') return true;
      if (r !== 'empty') return false;
    }
    this.markDirty(sub); // a long run of non-matching ids: continue next turn
    return false;
  }

  /** Queues a step's events; what the subscriber does next. */
  private applyStep(sub: Subscriber, step: ReplayStep): 'gap' | 'queued' | 'live' | 'empty' {
    if (step.gap) {
      // Pruned under a subscriber too slow to replay them: the same answer as a slow live
      // subscriber, so the client resumes from what it got and learns what is gone.
      this.closeSlow(sub);
      return 'gap';
    }
    sub.cursor = step.next;
    for (const r of step.items) {
      if (r.id <= sub.lastQueuedId) continue;
      sub.push(r.id, r.frame);
      this.stats.replayed++;
    }
    if (step.next > sub.lastQueuedId) sub.lastQueuedId = step.next;
    if (sub.pending > 0) return 'queued';
    if (step.done) {
      sub.replay = null; // caught up with an empty queue: live from here
      return 'live';
    }
    return 'empty';
  }

  /** Writes queued frames until the socket pushes back; true when the queue is empty. */
  private write(sub: Subscriber): boolean {
    const out = sub.out;
    if (!out || sub.closed) return false;
    this.stats.delivered += sub.writeQueued(out);
    return sub.pending === 0 && !sub.blocked;
  }

  /** Bytes queued across all subscribers right now (bounded by subscribers × budget). */
  queuedBytes(): number {
    let n = 0;
    for (const g of this.groups.values()) for (const sub of g.subs) n += sub.queuedBytes;
    return n;
  }

  /**
   * Closes every subscription (shutdown, restart, a node behind the log) with `code`; `reason`
   * is the close text the client reads. Counted under the reason ./closes.ts lists for the code.
   */
  closeAll(code: number, reason: string): void {
    for (const fn of this.closeAllHooks) fn(code, reason);
    const why = closeAllReason(code);
    for (const g of [...this.groups.values()]) for (const sub of [...g.subs]) this.end(sub, sub.out, why, code, reason);
  }

  /**
   * Ends one subscription from the server's side with the code of `why` (./closes.ts), counted.
   * `out` is for a socket whose attach failed (the subscriber does not hold it then).
   */
  close(sub: Subscriber, why: Exclude<CloseReason, 'other'>, text: string, out: Outlet | null = sub.out): void {
    this.end(sub, out, why, CLOSES[why].code, text);
  }

  /** Detached first, so nothing more is written to it and its socket's close callback finds it gone. */
  private end(sub: Subscriber, out: Outlet | null, why: CloseReason, code: number, text: string): void {
    if (sub.closed) return;
    this.detach(sub);
    if (out === null) return;
    this.stats.closes[why]++;
    out.close(code, text);
  }

  private offer(sub: Subscriber, id: number, frame: Buffer): void {
    // While catching up, the replay reads this event from the log in its turn.
    if (sub.closed || sub.replay !== null || id <= sub.lastQueuedId) return;
    if (sub.blocked) {
      if (sub.pending >= this.limits.maxEvents || sub.queuedBytes + frame.length > this.limits.maxBytes) {
        this.overflowed(sub, id);
        return;
      }
    }
    sub.push(id, frame);
    this.markDirty(sub);
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
    this.closeSlow(sub);
  }

  /** Closes a subscriber that fell behind with 4008 and its resume point. */
  private closeSlow(sub: Subscriber): void {
    this.stats.closed_slow++;
    this.close(sub, 'slow_consumer', `slow consumer: last delivered id ${sub.lastSentId}`);
    this.onSlow(sub, 'closed');
  }

  private markDirty(sub: Subscriber): void {
    if (sub.dirty) return;
    sub.dirty = true;
    this.dirty.push(sub);
    this.schedule();
  }

  private schedule(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    // The turn's events first (still scheduled: what they mark dirty is taken below, not next
    // turn), then every subscriber with something queued, in the order it was queued.
    try {
      this.fanTurn();
    } finally {
      this.flushScheduled = false;
    }
    // Swapped first: a subscriber that yields (replay) marks itself dirty for the next turn.
    const subs = this.dirty;
    this.dirty = [];
    for (const sub of subs) {
      sub.dirty = false;
      if (!sub.closed) this.flushOne(sub);
    }
  };
}
