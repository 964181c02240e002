import type { Sql } from 'postgres';
import { EVENT } from '../../../schemas/db/tables/events.js';
import type { Event } from '../../../schemas/rpc/writer.js';
import { matcherFor, postgresRegexOf, sqliteGlobOf } from '../../shared/glob.js';
import type { TxClient } from '../../shared/pg-tx.js';
import type { ReadDb } from '../../backend/read-db.js';
import type { TurnSnapshot } from '../../backend/reads.js';
import type { Awaitable } from '../../shared/awaitable.js';
import { EVENTS_CURSOR_ROWS } from '../../shared/limits-features.js';

/** What a history read selects: all bounds inclusive, storage-text instants. */
export interface HistoryFilter {
  /** Glob (already validated); '' or '*' = all. */
  topic: string;
  from: string | null;
  to: string | null;
  source: string | null;
  /** null: the newest `last`, newest first; else the first `last` after it, oldest first. */
  since: number | null;
  /** Newest first only: ids below this (a cursor from an earlier reply); null = from the newest. */
  before: number | null;
  last: number;
  /**
   * Ids examined at most (at least `last`): a read looks at one window of the log, so a filter
   * matching little costs the same as one matching everything.
   */
  scan: number;
}

/** Where a history read stopped: the window it examined, and whether the log goes on past it. */
export interface HistoryRead {
  /** Newest first: the lowest id examined; oldest first: the highest. */
  edge: number;
  /** No retained event lies beyond the window in the reading direction. */
  exhausted: boolean;
}

/** The id window a history read examines, from the log's bounds (both backends alike). */
function historyWindow(h: HistoryFilter, oldest: number | null, newest: number): { lo: number; hi: number; exhausted: boolean } {
  const width = Math.max(h.scan, h.last);
  if (oldest === null) return { lo: 0, hi: 0, exhausted: true };
  if (h.since === null) {
    // ids in [lo, hi), newest first
    const hi = Math.min(h.before ?? newest + 1, newest + 1);
    const lo = Math.max(hi - width, 0);
    return { lo, hi, exhausted: lo <= oldest };
  }
  // ids in (lo, hi], oldest first; nothing below the oldest retained is worth a window
  const lo = Math.max(h.since, oldest - 1);
  const hi = lo + width;
  return { lo, hi, exhausted: hi >= newest };
}

/** One replay step's read: the matching events in (after, upto] and the log's bounds, alike. */
export interface WindowRead {
  events: Event[];
  /** The oldest id retained when the step was read (null: none). */
  oldest: number | null;
  /** The newest id handed out when the step was read. */
  newest: number;
}

/**
 * Read-only queries of the event log. `take` receives rows in order until it returns false (the
 * caller's byte budget): the SQLite reader stops its statement there, the PostgreSQL one its
 * cursor, so a large log is never loaded whole.
 */
export interface EventsReader {
  history(f: HistoryFilter, take: (e: Event) => boolean): Awaitable<HistoryRead>;
  window(pattern: string, after: number, upto: number, take: (e: Event) => boolean): Awaitable<WindowRead>;
  /** Every event with an id in (after, before), in id order. */
  between(after: number, before: number): Awaitable<Event[]>;
  /** Events after `after` in id order: at most `limit`, and no more once `maxBytes` of data are reached (at least one). */
  since(after: number, limit: number, maxBytes: number): Awaitable<Event[]>;
  oldest(): Awaitable<number | null>;
  /** The newest id handed out (0 when none ever was). */
  newest(): Awaitable<number>;
  /**
   * The oldest id retained (null: none) and the newest committed, read together. On PostgreSQL
   * from the log itself in one indexed query (retention never deletes the newest event; ids
   * commit in order), so a subscribe touches only the table its replay reads.
   */
  bounds(): Awaitable<{ oldest: number | null; newest: number }>;
}

/** The SQLite reader answers at once (the local fan-out relies on it). */
export interface SyncEventsReader extends EventsReader {
  history(f: HistoryFilter, take: (e: Event) => boolean): HistoryRead;
  window(pattern: string, after: number, upto: number, take: (e: Event) => boolean): WindowRead;
  between(after: number, before: number): Event[];
  since(after: number, limit: number, maxBytes: number): Event[];
  oldest(): number | null;
  newest(): number;
  bounds(): { oldest: number | null; newest: number };
}

/** Named parameters of the filtered SQLite queries. */
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
const COLUMNS = EVENT.columns;

const allTopics = (pattern: string) => pattern === '' || pattern === '*';

function topicFilter(pattern: string): Pick<Filters, 'pattern' | 'sqlGlob' | 'exact'> {
  if (allTopics(pattern)) return { pattern: null, sqlGlob: null, exact: 1 };
  const { glob, exact } = sqliteGlobOf(pattern);
  return { pattern, sqlGlob: glob, exact: exact ? 1 : 0 };
}

/** Hands rows to `take` until it declines; stopping ends the statement's iteration. */
function feed(rows: Iterable<Event>, take: (e: Event) => boolean): void {
  for (const e of rows) if (!take(e)) break;
}

/** `snapshot`: each read in the turn's read transaction (src/backend/reads.ts); without it, on its own. */
export function sqliteEventsReader(db: ReadDb, snapshot: TurnSnapshot | null = null): SyncEventsReader {
  const enter = snapshot === null ? () => {} : snapshot.enter;
  db.function('koor_glob', { deterministic: true }, (pattern, topic) => (matcherFor(String(pattern))(String(topic)) ? 1 : 0));
  const q = {
    newest: db.prepare<[Filters & { lo: number; hi: number; last: number }], Event>(`SELECT ${COLUMNS} FROM events WHERE id >= @lo AND id < @hi AND ${FILTERS} ORDER BY id DESC LIMIT CAST(@last AS bigint)`),
    after: db.prepare<[Filters & { lo: number; hi: number; last: number }], Event>(`SELECT ${COLUMNS} FROM events WHERE id > @lo AND id <= @hi AND ${FILTERS} ORDER BY id ASC LIMIT CAST(@last AS bigint)`),
    window: db.prepare<[Pick<Filters, 'pattern' | 'sqlGlob' | 'exact'> & { after: number; upto: number }], Event>(
      `SELECT ${COLUMNS} FROM events WHERE id > @after AND id <= @upto AND ${TOPIC_FILTER} ORDER BY id`,
    ),
    between: db.prepare<[number, number], Event>(`SELECT ${COLUMNS} FROM events WHERE id > ? AND id < ? ORDER BY id`),
    since: db.prepare<[number, number], Event>(`SELECT ${COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT CAST(? AS bigint)`),
    oldest: db.prepare<[], number | null>('SELECT min(id) FROM events').pluck(),
    lastId: db.prepare<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck(),
  };
  const oldest = () => {
    enter();
    return q.oldest.get() ?? null;
  };
  const newest = () => {
    enter();
    return q.lastId.get() ?? 0;
  };
  return {
    history(h, take) {
      const w = historyWindow(h, oldest(), newest());
      const f = { from: h.from, to: h.to, source: h.source, ...topicFilter(h.topic), lo: w.lo, hi: w.hi, last: h.last };
      feed(h.since === null ? q.newest.iterate(f) : q.after.iterate(f), take);
      return { edge: h.since === null ? w.lo : w.hi, exhausted: w.exhausted };
    },
    window(pattern, after, upto, take) {
      // In the turn's read transaction these reads are one snapshot; without one, the writer thread
      // may commit or prune between them: the newest before the rows, the oldest after them
      // (pruning goes oldest first, so a hole in the rows shows there).
      const last = newest();
      const events: Event[] = [];
      feed(q.window.iterate({ ...topicFilter(pattern), after, upto }), (e) => {
        events.push(e);
        return take(e);
      });
      return { events, oldest: oldest(), newest: last };
    },
    between: (after, before) => {
      enter();
      return q.between.all(after, before);
    },
    since(after, limit, maxBytes) {
      enter();
      const out: Event[] = [];
      let bytes = 0;
      feed(q.since.iterate(after, limit), (e) => {
        if (out.length > 0 && bytes >= maxBytes) return false;
        out.push(e);
        bytes += Buffer.byteLength(e.data);
        return true;
      });
      return out;
    },
    oldest,
    newest,
    bounds: () => ({ oldest: oldest(), newest: newest() }),
  };
}

/**
 * The event log on PostgreSQL (cluster mode). The topic glob runs in the server as a regular
 * expression (postgresRegexOf: the same match); a replay step reads its rows and the log's bounds
 * in one REPEATABLE READ snapshot, on `snapshots` (src/shared/pg-tx.ts), the rest on the pool `sql`.
 */
export function pgEventsReader(sql: Sql, snapshots: TxClient): EventsReader {
  const topicSql = (pattern: string) => {
    if (allTopics(pattern)) return sql`true`;
    const re = postgresRegexOf(pattern);
    return re === null ? sql`false` : sql`topic ~ ${re}`;
  };
  async function drain(cursor: AsyncIterable<Event[]>, take: (e: Event) => boolean): Promise<void> {
    for await (const rows of cursor) for (const e of rows) if (!take(e)) return; // leaving the loop closes the cursor
  }
  return {
    async history(h, take) {
      const [b] = await sql<{ oldest: number | null; newest: number }[]>`
        SELECT (SELECT min(id) FROM events) AS oldest, (SELECT value FROM koor_counters WHERE name = 'events') AS newest`;
      const w = historyWindow(h, b!.oldest, Number(b!.newest));
      const where = sql`${topicSql(h.topic)}
        AND (${h.from}::text IS NULL OR created_at >= ${h.from}) AND (${h.to}::text IS NULL OR created_at <= ${h.to})
        AND (${h.source}::text IS NULL OR source = ${h.source})`;
      const q =
        h.since === null
          ? sql<Event[]>`SELECT id, topic, data, source, created_at FROM events WHERE id >= ${w.lo} AND id < ${w.hi} AND ${where} ORDER BY id DESC LIMIT ${h.last}`
          : sql<Event[]>`SELECT id, topic, data, source, created_at FROM events WHERE id > ${w.lo} AND id <= ${w.hi} AND ${where} ORDER BY id ASC LIMIT ${h.last}`;
      await drain(q.cursor(EVENTS_CURSOR_ROWS), take);
      return { edge: h.since === null ? w.lo : w.hi, exhausted: w.exhausted };
    },
    async window(pattern, after, upto, take) {
      return snapshots.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
        const [b] = await tx<{ oldest: number | null; newest: number }[]>`
          SELECT (SELECT min(id) FROM events) AS oldest, (SELECT value FROM koor_counters WHERE name = 'events') AS newest`;
        const events: Event[] = [];
        await drain(
          tx<Event[]>`SELECT id, topic, data, source, created_at FROM events WHERE id > ${after} AND id <= ${upto} AND ${topicSql(pattern)} ORDER BY id`.cursor(EVENTS_CURSOR_ROWS),
          (e) => {
            events.push(e);
            return take(e);
          },
        );
        return { events, oldest: b!.oldest, newest: b!.newest };
      });
    },
    async between(after, before) {
      return [...(await sql<Event[]>`SELECT id, topic, data, source, created_at FROM events WHERE id > ${after} AND id < ${before} ORDER BY id`)];
    },
    async since(after, limit, maxBytes) {
      // The running total of data bytes before each row decides, in the server, which rows come.
      return [
        ...(await sql<Event[]>`
          SELECT id, topic, data, source, created_at FROM (
            SELECT id, topic, data, source, created_at, sum(octet_length(data)) OVER (ORDER BY id) - octet_length(data) AS before
              FROM (SELECT id, topic, data, source, created_at FROM events WHERE id > ${after} ORDER BY id LIMIT ${limit}) page
          ) w WHERE before < ${maxBytes} OR before = 0 ORDER BY id`),
      ];
    },
    async oldest() {
      return (await sql<{ v: number | null }[]>`SELECT min(id) AS v FROM events`)[0]!.v;
    },
    async newest() {
      return (await sql<{ v: number }[]>`SELECT value AS v FROM koor_counters WHERE name = 'events'`)[0]!.v;
    },
    async bounds() {
      const [b] = await sql<{ oldest: number | null; newest: number }[]>`SELECT min(id) AS oldest, coalesce(max(id), 0) AS newest FROM events`;
      return { oldest: b!.oldest, newest: Number(b!.newest) };
    },
  };
}
