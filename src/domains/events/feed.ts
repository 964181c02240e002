import type { Sql } from 'postgres';
import { EVENTS_CHANNEL } from '../../../schemas/rpc/cluster.js';
import { CLOSE_SLOW_CONSUMER, type Hub } from '../../bus/hub.js';
import { EVENT_FEED_PAGE, EVENT_FEED_PAGE_BYTES, EVENT_FEED_POLL_MS, EVENT_FEED_READ_TIMEOUT_MS, EVENT_FEED_RETRY_MS } from '../../shared/limits.js';
import type { Logger } from '../../log.js';
import type { EventsReader } from './reader.js';
import { eventJson, type Fanout } from './service.js';
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
  private lastFanned = 0;
  private pulling = false;
  private again = false;
  /** A restore replaced the log: the next read starts after its newest event. */
  private resetPending = false;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private listening: { unlisten(): Promise<void> } | null = null;
  readonly stats = { reads: 0, failures: 0, gaps: 0 };

  constructor(
    private readonly sql: Sql,
    private readonly reader: EventsReader,
    private readonly hub: Hub,
    private readonly opts: { log: Logger; onPublished?: () => void },
  ) {}

  /** Starts after the newest event committed now; live from there. */
  async start(): Promise<void> {
    this.lastFanned = await this.reader.newest();
    this.listening = await this.sql.listen(EVENTS_CHANNEL, () => this.poke(), () => this.poke());
    // A notification is only the fast path: a LISTEN connection that broke without a sign (a
    // proxy dropping notifications, a reconnect that did not happen) costs at most this delay.
    this.poll = setInterval(() => this.poke(), EVENT_FEED_POLL_MS);
    this.poll.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.poll) clearInterval(this.poll);
    await this.listening?.unlisten().catch(() => {});
  }

  lastId(): number {
    return this.lastFanned;
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
    if (this.stopped) return;
    if (this.pulling) {
      this.again = true;
      return;
    }
    void this.pull();
  }

  private async pull(): Promise<void> {
    this.pulling = true;
    try {
      do {
        this.again = false;
        if (this.resetPending) {
          this.resetPending = false;
          this.lastFanned = await this.reader.newest();
        }
        this.stats.reads++;
        // Bounded: a read stuck on a dead connection must not hold every later read back.
        const rows = await within(this.reader.since(this.lastFanned, EVENT_FEED_PAGE, EVENT_FEED_PAGE_BYTES), EVENT_FEED_READ_TIMEOUT_MS, 'reading the event log');
        if (rows.length > 0 && rows[0]!.id > this.lastFanned + 1 && this.lastFanned > 0) {
          // Pruned before this node read them (it was cut off longer than retention lasts):
          // live subscribers would miss them unknowingly. They resume with since= and are told.
          this.stats.gaps++;
          this.opts.log.warn({ after: this.lastFanned, next: rows[0]!.id }, 'events pruned before this node fanned them out; closing subscribers so they resume');
          this.hub.closeAll(CLOSE_SLOW_CONSUMER, 'node fell behind the event log: resume with since=');
        }
        for (const e of rows) {
          if (this.stopped) return;
          this.hub.publish(e.id, e.topic, Buffer.from(eventJson(e)));
          this.lastFanned = e.id;
        }
        if (rows.length > 0) this.opts.onPublished?.();
        // A full page (by count or bytes) may have more behind it.
        if (rows.length > 0) this.again = true;
      } while (this.again && !this.stopped);
    } catch (err) {
      this.stats.failures++;
      this.opts.log.warn({ err }, 'reading the event log failed; retrying');
      if (!this.stopped && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = null;
          this.poke();
        }, EVENT_FEED_RETRY_MS);
        this.retry.unref();
      }
    } finally {
      this.pulling = false;
    }
  }
}
