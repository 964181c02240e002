import type { Logger } from '../log.js';
import { Periodic } from '../shared/periodic.js';

export interface LogTailOptions<R extends { id: number }> {
  /** What is read, for the log: "the event log". */
  what: string;
  log: Logger;
  /** A read at least this often (a wake-up lost on a broken connection costs at most this delay). */
  pollMs: number;
  /** A failed read is tried again after this delay. */
  retryMs: number;
  /** One page of the rows after `after`, in id order (a read that may hang should be bounded). */
  read(after: number): Promise<readonly R[]>;
  /** Hands one row on; the cursor moves past it once this returns (or its promise resolves). */
  deliver(row: R): void | Promise<void>;
  /** Whether the page just delivered may have more behind it (then the tail reads on). */
  more(page: readonly R[]): boolean;
  /** The rows after `after` up to `next` (the first row read) are gone: pruned before this node read them. */
  gap(after: number, next: number): void;
  /** Before each read: may move the cursor (`last`); false ends this pull without reading. */
  prepare?(): boolean | Promise<boolean>;
  /** After a non-empty page was delivered. */
  delivered?(page: readonly R[]): void;
  /** Nobody to deliver to: pokes (and so polls and retries) are ignored. */
  idle?(): boolean;
  /** A poke reads at the end of this turn: the pokes of one turn (one per write) make one read. */
  batchTurn?: boolean;
}

/**
 * A log tailed by id (one of each loop), the shape of the cluster event feed and the
 * state change feed: rows are read after `last`, the id of the last row delivered, in id order,
 * whenever poke() is called (a commit, a notification), at least every `pollMs`, and again after
 * `retryMs` when a read failed. One pull at a time: a poke during a pull makes it read once more
 * at its end. Ids are gapless, so a first row past `last + 1` means rows were pruned unread.
 */
export class LogTail<R extends { id: number }> {
  /** The id of the last row delivered: the next read starts after it. */
  last = 0;
  readonly stats = { reads: 0, failures: 0 };
  private pulling = false;
  private again = false;
  private scheduled = false;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private readonly poll: Periodic;

  constructor(private readonly opts: LogTailOptions<R>) {
    this.poll = new Periodic(() => this.poke(), { everyMs: opts.pollMs, name: `polling ${opts.what}`, log: opts.log });
  }

  /** Delivers the rows after `from` from now on (the caller's wake-ups, plus the poll). */
  start(from: number): void {
    this.last = from;
    this.poll.start();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    void this.poll.stop();
  }

  /** Reads the log now (or at the end of this turn), or once the read under way is over. */
  poke(): void {
    if (this.stopped || this.opts.idle?.()) return;
    if (this.pulling) {
      this.again = true;
      return;
    }
    if (!this.opts.batchTurn) return void this.pull();
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.pulling) this.again = true;
      else void this.pull();
    });
  }

  private async pull(): Promise<void> {
    const o = this.opts;
    this.pulling = true;
    try {
      do {
        this.again = false;
        if (o.prepare) {
          const go = o.prepare();
          if (!(go instanceof Promise ? await go : go)) break;
        }
        this.stats.reads++;
        const after = this.last;
        const rows = await o.read(after);
        if (rows.length > 0 && rows[0]!.id > after + 1) o.gap(after, rows[0]!.id);
        for (const row of rows) {
          if (this.stopped) return;
          const d = o.deliver(row);
          if (d instanceof Promise) await d;
          this.last = row.id;
        }
        if (rows.length > 0) o.delivered?.(rows);
        if (o.more(rows)) this.again = true;
      } while (this.again && !this.stopped);
    } catch (err) {
      this.stats.failures++;
      o.log.warn({ err }, `reading ${o.what} failed; retrying`);
      if (!this.stopped && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = null;
          this.poke();
        }, o.retryMs);
        this.retry.unref();
      }
    } finally {
      this.pulling = false;
    }
  }
}
