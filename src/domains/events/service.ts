import type { IdemTag } from '../../../schemas/rpc/envelope.js';
import type { Event } from '../../../schemas/rpc/writer.js';
import type { Hub, ReplayStep } from '../../bus/hub.js';
import { EVENTS_HISTORY_MAX_BYTES, EVENTS_PRUNE_CHUNK, WS_REPLAY_STEP_BYTES, WS_REPLAY_STEP_IDS } from '../../shared/limits.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { EVENT } from '../../../schemas/db/tables/events.js';
import type { Awaitable } from '../../shared/awaitable.js';
import type { EventsReader, HistoryFilter, SyncEventsReader, WindowRead } from './reader.js';
import { then } from '../../shared/awaitable.js';

export type HistoryQuery = HistoryFilter;

/**
 * How committed events reach this node's subscribers, in id order:
 * - local (SQLite): this process's writer stored them; each write's reply fans its events out.
 * - feed (PostgreSQL, cluster mode): any node may have stored them; the log is read in id order
 *   whenever PostgreSQL notifies a commit (or this node's own write answers), see EventFeed.
 */
export interface Fanout {
  /** The newest id handed to the hub: live delivery has reached it. */
  lastId(): number;
  /** Events this node's writer just committed (the reply of their write); `jsons`: their reply text (EVENT.json), when already built. */
  committed(events: readonly Event[], jsons?: readonly string[]): void;
}

/** SQLite: the one writer is behind this process, so a reply is the whole story. */
export class LocalFanout implements Fanout {
  /** Highest id handed to the hub. A reply can be lost (deadline, writer death) after COMMIT. */
  private lastFanned: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly reader: SyncEventsReader,
    private readonly hub: Hub,
  ) {
    this.lastFanned = reader.newest();
  }

  lastId(): number {
    return this.reader.newest();
  }

  committed(events: readonly Event[], jsons?: readonly string[]): void {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      // Committed events whose replies were lost come first, so live subscribers see no gap.
      if (event.id > this.lastFanned + 1) this.missed(event.id);
      if (event.id <= this.lastFanned) continue; // already sent as a missed one
      this.hub.publish(event.id, event.topic, Buffer.from(jsons?.[i] ?? EVENT.json(event)));
      this.lastFanned = event.id;
    }
  }

  /**
   * Fans out what committed with no reply to announce it: a reply lost after COMMIT (a deadline,
   * the writer's death) whose write was then acknowledged as a keyed retry's replay, which
   * announces nothing. The next write's reply would carry them; when none comes (the last message
   * of a burst) they would wait for ever. Runs on a timer (start()).
   */
  sweep(): void {
    const newest = this.reader.newest();
    if (newest <= this.lastFanned) return;
    this.missed(newest + 1);
    // Every id up to it has committed (one writer, ids in commit order); pruned ones are not read again.
    this.lastFanned = newest;
  }

  start(everyMs: number): void {
    this.timer ??= setInterval(() => this.sweep(), everyMs).unref();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return Promise.resolve();
  }

  /** The committed events between the last fanned out and `before`, in id order. */
  private missed(before: number): void {
    for (const e of this.reader.between(this.lastFanned, before)) {
      this.hub.publish(e.id, e.topic, Buffer.from(EVENT.json(e)));
      this.lastFanned = e.id;
    }
  }
}

/** Event log: durable publish through the writer, history from the reader, pruning. */
export class EventService {
  private pruning: Promise<number> | null = null;

  constructor(
    private readonly reader: EventsReader,
    private readonly writer: WriterClient,
    private readonly fanout: Fanout,
    private readonly opts: { retention: number; log: Logger; onPublished?: () => void },
  ) {}

  /** Stores the event (reply after COMMIT), then fans it out in id order. */
  publish(topic: string, data: string, source: string): Promise<{ event: Event; json: string }> {
    return this.writer.call('events.publish', { topic, data, source }).then((event) => this.published(event));
  }

  /**
   * A publish sent with an Idempotency-Key (`idem` null: none): a retry gets the first
   * publish's event, `replayed`, and nothing is stored or fanned out again.
   */
  async publishIdempotent(topic: string, data: string, source: string, idem: IdemTag | null): Promise<{ event: Event; json: string; replayed: boolean }> {
    const { res, replayed } = await this.writer.callIdempotent('events.publish', { topic, data, source }, idem);
    return replayed ? { event: res, json: EVENT.json(res), replayed } : { ...this.published(res), replayed };
  }

  private published(event: Event): { event: Event; json: string } {
    const json = EVENT.json(event);
    this.fanout.committed([event], [json]);
    // Webhooks read the log from their cursors: tell the dispatcher there is more.
    this.opts.onPublished?.();
    return { event, json };
  }

  /**
   * Fans out events another writer method stored in its own transaction (a lease released with
   * its holder, a task claimed), once that transaction committed; in id order.
   */
  announce(events: readonly Event[]): void {
    if (events.length === 0) return;
    this.fanout.committed(events);
    this.opts.onPublished?.();
  }

  /**
   * Up to `last` genuine matches: newest first, or oldest first after `since`,
   * from one window of at most `scan` ids (a rare topic no longer scans the whole log).
   * `next` is the cursor to continue from (`before=` newest first, `since=` oldest first) when the
   * reply stopped short of `last` with more of the log left: the window ran out (`truncated`
   * 'scan') or the byte budget did ('bytes'); null when the reply is complete.
   */
  async history(q: HistoryQuery): Promise<{ events: string[]; truncated: 'bytes' | 'scan' | null; next: number | null }> {
    // Bounded in bytes as well as in count: events may be megabytes each. At least one is sent.
    const events: string[] = [];
    let bytes = 0;
    let lastId = 0;
    let cut = false;
    const read = await this.reader.history(q, (e) => {
      const json = EVENT.json(e);
      if (events.length > 0 && bytes + json.length > EVENTS_HISTORY_MAX_BYTES) {
        cut = true;
        return false;
      }
      events.push(json);
      bytes += json.length;
      lastId = e.id;
      return true;
    });
    if (cut) return { events, truncated: 'bytes', next: lastId };
    if (events.length < q.last && !read.exhausted) return { events, truncated: 'scan', next: read.edge };
    return { events, truncated: null, next: null };
  }

  /**
   * One step of a subscription replay: the retained events matching `pattern` with
   * ids in (after, after + WS_REPLAY_STEP_IDS], as frames. `next` is where the following step
   * starts; `done` once the step reached what live delivery has reached (checked when the read
   * is over: an asynchronous read may finish after more events went live). `gap` when events
   * after `after` were pruned before the subscriber got to them.
   */
  replayStep(after: number, pattern: string): Awaitable<ReplayStep> {
    const last = this.fanout.lastId();
    if (after >= last) return { items: [], next: after, done: true, gap: false };
    const upto = Math.min(last, after + WS_REPLAY_STEP_IDS);
    // A step ends at WS_REPLAY_STEP_IDS ids or WS_REPLAY_STEP_BYTES of frames, whichever first
    // (at least one event): large events cannot make one step hold megabytes per subscriber.
    const items: ReplayStep['items'] = [];
    let bytes = 0;
    let next = upto;
    const read = this.reader.window(pattern, after, upto, (e) => {
      const frame = Buffer.from(EVENT.json(e));
      items.push({ id: e.id, frame });
      bytes += frame.length;
      if (bytes >= WS_REPLAY_STEP_BYTES && e.id < upto) {
        next = e.id;
        return false;
      }
      return true;
    });
    const finish = (w: WindowRead): ReplayStep => {
      if (w.oldest === null || w.oldest > after + 1) return { items: [], next: after, done: false, gap: true };
      return { items, next, done: next >= this.fanout.lastId(), gap: false };
    };
    return then(read, finish);
  }

  /**
   * The log's bounds as committed now: the oldest id retained (null: none) and the newest handed
   * out. In cluster mode the newest may be ahead of lastId(): another node committed it and this
   * node's feed has yet to read it.
   */
  bounds(): Awaitable<{ oldest: number | null; newest: number }> {
    return this.reader.bounds();
  }

  /** The newest event live delivery has reached (SQLite: the newest committed). */
  lastId(): number {
    return this.fanout.lastId();
  }

  /** Deletes all but the newest `retention` events, in short writer turns. */
  prune(): Promise<number> {
    if (this.opts.retention === 0) return Promise.resolve(0); // 0 = keep everything
    this.pruning ??= (async () => {
      let total = 0;
      try {
        for (;;) {
          const r = await this.writer.call('events.prune', { keep: this.opts.retention, chunk: EVENTS_PRUNE_CHUNK });
          total += r.deleted;
          if (!r.more) break;
        }
        if (total > 0) this.opts.log.debug({ deleted: total }, 'pruned events');
      } catch (err) {
        this.opts.log.warn({ err }, 'event pruning failed; retrying next interval');
      } finally {
        this.pruning = null;
      }
      return total;
    })();
    return this.pruning;
  }
}
