import { then, type Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { dialects, only, sql } from '../../../schemas/db/sql.js';
import { EVENT, NEWEST_EVENT } from '../../../schemas/db/tables/events.js';
import { WEBHOOK, type WebhookDbRow } from '../../../schemas/db/tables/webhooks.js';
import type { Event } from '../../../schemas/rpc/writer.js';

/**
 * An active webhook as the dispatcher needs it; in cluster mode with the count of live restores
 * when it was read (a run's settle carries it: the writer refuses one a restore has overtaken).
 */
export type ActiveHook = Pick<WebhookDbRow, 'id' | 'url' | 'secret' | 'patterns' | 'cursor' | 'attempts' | 'next_at'> & { restores?: number };

/**
 * Read-only queries of the webhook registry and of the event log as webhooks read it; SQLite
 * answers at once, PostgreSQL with a promise.
 */
export interface WebhookReader {
  /** Newest first; ties in creation order, the later first. */
  list(): Awaitable<WebhookDbRow[]>;
  get(id: string): Awaitable<WebhookDbRow | undefined>;
  active(): Awaitable<ActiveHook[]>;
  /** The newest event id handed out (0 when none ever was). */
  newestEvent(): Awaitable<number>;
  /** Ids and topics of the events in (after, upto], oldest first, at most `limit`. */
  topicsAfter(after: number, upto: number, limit: number): Awaitable<Array<{ id: number; topic: string }>>;
  /** Events by id (ascending), those still in the log. */
  events(ids: readonly number[]): Awaitable<Event[]>;
}

const COLS = WEBHOOK.columns;
const ACTIVE_COLS = 'id, url, secret, patterns, cursor, attempts, next_at';
/** Newest first; ties within a second in insertion order, the later first (SQLite's rowid, PostgreSQL's seq). */
const LIST = dialects({
  sqlite: `SELECT ${COLS} FROM webhooks ORDER BY created_at DESC, rowid DESC`,
  pg: `SELECT ${COLS} FROM webhooks ORDER BY created_at DESC, seq DESC`,
});
const GET = sql(`SELECT ${COLS} FROM webhooks WHERE id = ?`);
/** With the count of live restores in cluster mode (PostgreSQL's `restores` counter; none on SQLite). */
const ACTIVE = dialects({
  sqlite: `SELECT ${ACTIVE_COLS} FROM webhooks WHERE active = 1`,
  pg: `SELECT ${ACTIVE_COLS}, (SELECT value FROM koor_counters WHERE name = 'restores') AS restores FROM webhooks WHERE active = 1`,
});
const TOPICS_AFTER = sql('SELECT id, topic FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT CAST(? AS bigint)');
/**
 * Events by id: SQLite reads the range between the first and the last wanted (one index range,
 * no round trip) and drops the few not wanted; PostgreSQL fetches just those (an array literal).
 */
const RANGE = only('sqlite', `SELECT ${EVENT.columns} FROM events WHERE id >= ? AND id <= ? ORDER BY id`);
const BY_IDS = only('pg', `SELECT ${EVENT.columns} FROM events WHERE id = ANY (CAST(? AS bigint[])) ORDER BY id`);
const eventsByIds = {
  sqlite(db: Reads): (ids: readonly number[]) => Awaitable<Event[]> {
    const range = db.statement<Event>(RANGE);
    return (ids) => {
      const want = new Set(ids);
      return then(range.all(ids[0]!, ids[ids.length - 1]!), (rows) => rows.filter((e) => want.has(e.id)));
    };
  },
  pg(db: Reads): (ids: readonly number[]) => Awaitable<Event[]> {
    const byIds = db.statement<Event>(BY_IDS);
    return (ids) => byIds.all(`{${ids.join(',')}}`);
  },
};

/** The webhook registry's reads, and the event log as webhooks read it, on either backend. */
export function webhookReader(db: Reads): WebhookReader {
  const list = db.statement<WebhookDbRow>(LIST);
  const get = db.statement<WebhookDbRow>(GET);
  const active = db.statement<ActiveHook>(ACTIVE);
  const newest = db.statement<{ id: number | null }>(NEWEST_EVENT);
  const topicsAfter = db.statement<{ id: number; topic: string }>(TOPICS_AFTER);
  const byIds = eventsByIds[db.dialect](db);
  return {
    list: () => list.all(),
    get: (id) => get.get(id),
    active: () => active.all(),
    newestEvent: () => then(newest.get(), (r) => r?.id ?? 0),
    topicsAfter: (after, upto, limit) => topicsAfter.all(after, upto, limit),
    events: (ids) => (ids.length === 0 ? [] : byIds(ids)),
  };
}
