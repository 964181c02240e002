import type { Event } from '../../../schemas/rpc/writer.js';
import type { Hub, ReplayStep } from '../../bus/hub.js';
import { matcherFor, sqliteGlobOf } from '../../bus/glob.js';
import { EVENTS_HISTORY_MAX_BYTES, EVENTS_PRUNE_CHUNK, WS_REPLAY_STEP_BYTES, WS_REPLAY_STEP_IDS } from '../../limits.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339, type ReadDb } from '../../store.js';

/** The Event JSON of SPEC §2.4, built once per event; `data` is spliced in raw. */
export function eventJson(e: Event): string {
  return `{"id":${e.id},"topic":${JSON.stringify(e.topic)},"data":${e.data},"source":${JSON.stringify(e.source)},"created_at":"${toRfc3339(e.created_at)}"}`;
}

export interface HistoryQuery {
  last: number;
  /** Glob (already validated); '' or '*' = all. */
  topic: string;
  /** Storage-text bounds (inclusive). */
  from: string | null;
  to: string | null;
  source: string | null;
  since: number | null;
}

/** Named parameters of the filtered queries. */
interface Filters {
  from: string | null;
  to: string | null;
  source: string | null;
  /** Go glob, or null for all topics. */
  pattern: string | null;
  /** SQLite GLOB prefilter of `pattern` (a superset, evaluated in C). */
  sqlGlob: string | null;
  /** 1 when the GLOB alone is exact for topics without '/'. */
  exact: number;
}

/**
 * The topic filter in SQL: SQLite's GLOB discards non-matching rows in C; the exact Go-glob check
 * (which differs only for topics containing '/') runs in JS on the survivors alone.
 */
const TOPIC_FILTER = `(@pattern IS NULL OR (topic GLOB @sqlGlob AND ((@exact = 1 AND instr(topic, '/') = 0) OR koor_glob(@pattern, topic))))`;
const FILTERS = `(@from IS NULL OR created_at >= @from) AND (@to IS NULL OR created_at <= @to) AND (@source IS NULL OR source = @source) AND ${TOPIC_FILTER}`;
const COLUMNS = 'id, topic, data, source, created_at';

function topicFilter(pattern: string): Pick<Filters, 'pattern' | 'sqlGlob' | 'exact'> {
  if (pattern === '' || pattern === '*') return { pattern: null, sqlGlob: null, exact: 1 };
  const { glob, exact } = sqliteGlobOf(pattern);
  return { pattern, sqlGlob: glob, exact: exact ? 1 : 0 };
}

/** Event log: durable publish through the writer, history from the read connection, pruning. */
export class EventService {
  private readonly q;
  private pruning: Promise<number> | null = null;
  /** Highest id handed to the hub. A reply can be lost (deadline, writer death) after COMMIT. */
  private lastFanned: number;

  constructor(
    db: ReadDb,
    private readonly writer: WriterClient,
    private readonly hub: Hub,
    private readonly opts: { retention: number; log: Logger; onPublished?: () => void },
  ) {
    db.function('koor_glob', { deterministic: true }, (pattern, topic) => (matcherFor(String(pattern))(String(topic)) ? 1 : 0));
    this.q = {
      newest: db.prepare<[Filters & { last: number }], Event>(`SELECT ${COLUMNS} FROM events WHERE ${FILTERS} ORDER BY id DESC LIMIT @last`),
      after: db.prepare<[Filters & { since: number; last: number }], Event>(`SELECT ${COLUMNS} FROM events WHERE id > @since AND ${FILTERS} ORDER BY id ASC LIMIT @last`),
      window: db.prepare<[Pick<Filters, 'pattern' | 'sqlGlob' | 'exact'> & { after: number; upto: number }], Event>(
        `SELECT ${COLUMNS} FROM events WHERE id > @after AND id <= @upto AND ${TOPIC_FILTER} ORDER BY id`,
      ),
      between: db.prepare<[number, number], Event>(`SELECT ${COLUMNS} FROM events WHERE id > ? AND id < ? ORDER BY id`),
      oldest: db.prepare<[], number | null>('SELECT min(id) FROM events').pluck(),
      lastId: db.prepare<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck(),
    };
    this.lastFanned = this.lastId();
  }

  /** Stores the event (reply after COMMIT), then fans it out in id order. */
  publish(topic: string, data: string, source: string): Promise<{ event: Event; json: string }> {
    return this.writer.call('events.publish', { topic, data, source }).then((event) => {
      const json = eventJson(event);
      this.fanOut(event, json);
      // Webhooks read the log from their cursors: tell the dispatcher there is more.
      this.opts.onPublished?.();
      return { event, json };
    });
  }

  /**
   * Fans out events another writer method stored in its own transaction (a lease released with
   * its holder, a task claimed), once that transaction committed; in id order.
   */
  announce(events: readonly Event[]): void {
    if (events.length === 0) return;
    for (const e of events) this.fanOut(e, eventJson(e));
    this.opts.onPublished?.();
  }

  private fanOut(event: Event, json: string): void {
    // Committed events whose replies were lost come first, so live subscribers see no gap.
    if (event.id > this.lastFanned + 1) {
      for (const missed of this.q.between.all(this.lastFanned, event.id)) this.hub.publish(missed.id, missed.topic, Buffer.from(eventJson(missed)));
    }
    if (event.id <= this.lastFanned) return; // already sent as a missed one
    this.hub.publish(event.id, event.topic, Buffer.from(json));
    this.lastFanned = event.id;
  }

  /** Up to `last` genuine matches: newest first, or oldest first after `since` (SPEC §7-8, §8.2). */
  history(q: HistoryQuery): { events: string[]; truncated: boolean } {
    const f: Filters = { from: q.from, to: q.to, source: q.source, ...topicFilter(q.topic) };
    const rows = q.since === null ? this.q.newest.iterate({ ...f, last: q.last }) : this.q.after.iterate({ ...f, since: q.since, last: q.last });
    // Bounded in bytes as well as in count: events may be megabytes each. At least one is sent.
    const events: string[] = [];
    let bytes = 0;
    let truncated = false;
    for (const e of rows) {
      const json = eventJson(e);
      if (events.length > 0 && bytes + json.length > EVENTS_HISTORY_MAX_BYTES) {
        truncated = true;
        break; // ends the statement's iteration
      }
      events.push(json);
      bytes += json.length;
    }
    return { events, truncated };
  }

  /**
   * One step of a subscription replay (SPEC §8.2): the retained events matching `pattern` with
   * ids in (after, after + WS_REPLAY_STEP_IDS], as frames. `next` is where the following step
   * starts; `done` once the step reached the newest committed event. `gap` when events after
   * `after` were pruned before the subscriber got to them.
   */
  replayStep(after: number, pattern: string): ReplayStep {
    const last = this.lastId();
    if (after >= last) return { items: [], next: after, done: true, gap: false };
    const oldest = this.oldestId();
    if (oldest === null || oldest > after + 1) return { items: [], next: after, done: false, gap: true };
    const upto = Math.min(last, after + WS_REPLAY_STEP_IDS);
    // A step ends at WS_REPLAY_STEP_IDS ids or WS_REPLAY_STEP_BYTES of frames, whichever first
    // (at least one event): large events cannot make one step hold megabytes per subscriber.
    const items: ReplayStep['items'] = [];
    let bytes = 0;
    let next = upto;
    for (const e of this.q.window.iterate({ ...topicFilter(pattern), after, upto })) {
      const frame = Buffer.from(eventJson(e));
      items.push({ id: e.id, frame });
      bytes += frame.length;
      if (bytes >= WS_REPLAY_STEP_BYTES && e.id < upto) {
        next = e.id;
        break;
      }
    }
    // Pruning commits in the writer thread between our reads: if it passed the cursor meanwhile,
    // what this step read may have holes. Pruning goes oldest first, so one re-read tells.
    const oldestNow = this.oldestId();
    if (oldestNow === null || oldestNow > after + 1) return { items: [], next: after, done: false, gap: true };
    return { items, next, done: next >= last, gap: false };
  }

  oldestId(): number | null {
    return this.q.oldest.get() ?? null;
  }

  lastId(): number {
    return this.q.lastId.get() ?? 0;
  }

  /** Deletes all but the newest `retention` events, in short writer turns. */
  prune(): Promise<number> {
    if (this.opts.retention === 0) return Promise.resolve(0); // 0 = keep everything (SPEC §8.10)
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
