import type { Sql } from 'postgres';
import { EVENTS_CHANNEL } from '../../../schemas/rpc/cluster.js';
import { CLOSE_SLOW_CONSUMER, type Hub } from '../../bus/hub.js';
import { EVENT_FEED_PAGE, EVENT_FEED_PAGE_BYTES, EVENT_FEED_POLL_MS, EVENT_FEED_READ_TIMEOUT_MS, EVENT_FEED_RETRY_MS } from '../../shared/limits.js';
import { EVENT } from '../../../schemas/db/tables/events.js';
import type { Event } from '../../../schemas/rpc/writer.js';
import { LogTail } from '../../bus/log-tail.js';
import type { Logger } from '../../log.js';
import type { EventsReader } from './reader.js';
import type { Fanout } from './service.js';
import { within } from '../../within.js';

/**
 * Cluster mode's fan-out: the events table is the source of truth, a notification only the
 * wake-up. Any node's writer may commit events; each node reads the log after the last id it
 * fanned out, in id order, whenever PostgreSQL notifies a commit, when its own writer answers,
 * and when its LISTEN connection (re)starts — so a notification lost while a connection was down
 * costs nothing: the next read catches up. Event ids are gapless and commit in id order (the
 * counter row under the write lock), so reading by id never skips an event still to commit.
 */
export class EventFeed implements Fanout {
  /** A restore replaced the log: the next read starts after its newest event. */
  private resetPending = false;
  private gaps = 0;
  private listening: { unlisten(): Promise<void> } | null = null;
  private readonly tail: LogTail<Event>;

  constructor(
    private readonly sql: Sql,
    private readonly reader: EventsReader,
    private readonly hub: Hub,
    private readonly opts: { log: Logger; onPublished?: () => void },
  ) {
    this.tail = new LogTail<Event>({
      what: 'the event log',
      log: opts.log,
      // A notification is only the fast path: a LISTEN connection that broke without a sign (a
      // proxy dropping notifications, a reconnect that did not happen) costs at most this delay.
      pollMs: EVENT_FEED_POLL_MS,
      retryMs: EVENT_FEED_RETRY_MS,
      prepare: () => {
        if (!this.resetPending) return true;
        this.resetPending = false;
        return Promise.resolve(this.reader.newest()).then((n) => {
          this.tail.last = n;
          return true;
        });
      },
      // Bounded: a read stuck on a dead connection must not hold every later read back.
      read: (after) => within(this.reader.since(after, EVENT_FEED_PAGE, EVENT_FEED_PAGE_BYTES), EVENT_FEED_READ_TIMEOUT_MS, 'reading the event log'),
      gap: (after, next) => {
        if (after === 0) return;
        // Pruned before this node read them (it was cut off longer than retention lasts):
        // live subscribers would miss them unknowingly. They resume with since= and are told.
        this.gaps++;
        this.opts.log.warn({ after, next }, 'events pruned before this node fanned them out; closing subscribers so they resume');
        this.hub.closeAll(CLOSE_SLOW_CONSUMER, 'node fell behind the event log: resume with since=');
      },
      deliver: (e) => this.hub.publish(e.id, e.topic, Buffer.from(EVENT.json(e))),
      delivered: () => this.opts.onPublished?.(),
      // A full page (by count or bytes) may have more behind it.
      more: (page) => page.length > 0,
    });
  }

  get stats(): { reads: number; failures: number; gaps: number } {
    return { ...this.tail.stats, gaps: this.gaps };
  }

  /** Starts after the newest event committed now; live from there. */
  async start(): Promise<void> {
    const newest = await this.reader.newest();
    // Set before listening: its start pokes a read.
    this.tail.last = newest;
    this.listening = await this.sql.listen(EVENTS_CHANNEL, () => this.poke(), () => this.poke());
    this.tail.start(newest);
  }

  async stop(): Promise<void> {
    this.tail.stop();
    await this.listening?.unlisten().catch(() => {});
  }

  lastId(): number {
    return this.tail.last;
  }

  /** The log was replaced (a restored backup): live delivery continues from its newest event. */
  reset(): void {
    this.resetPending = true;
    this.poke();
  }

  committed(): void {
    this.poke();
  }

  /** Reads the log now, or once the read under way is over. */
  poke(): void {
    this.tail.poke();
  }
}
