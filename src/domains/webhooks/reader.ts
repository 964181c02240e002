import type { Sql } from 'postgres';
import type { Event } from '../../../schemas/rpc/writer.js';
import type { Awaitable, ReadDb } from '../../store.js';

/** A stored webhook, times as storage text. */
export interface WebhookRow {
  id: string;
  url: string;
  /** JSON array of globs. */
  patterns: string;
  secret: string;
  active: number;
  created_at: string;
  last_fired: string | null;
  fail_count: number;
  last_error: string;
  delivered: number;
  failed: number;
  /** The last event the webhook has had. */
  cursor: number;
  /** Failed attempts at the event after the cursor, and when the next is due (epoch ms). */
  attempts: number;
  next_at: number;
}

/**
 * An active webhook as the dispatcher needs it; in cluster mode with the count of live restores
 * when it was read (a run's settle carries it: the writer refuses one a restore has overtaken).
 */
export type ActiveHook = Pick<WebhookRow, 'id' | 'url' | 'secret' | 'patterns' | 'cursor' | 'attempts' | 'next_at'> & { restores?: number };

/**
 * Read-only queries of the webhook registry and of the event log as webhooks read it; SQLite
 * answers at once, PostgreSQL with a promise.
 */
export interface WebhookReader {
  /** Newest first; ties in creation order, the later first. */
  list(): Awaitable<WebhookRow[]>;
  get(id: string): Awaitable<WebhookRow | undefined>;
  active(): Awaitable<ActiveHook[]>;
  /** The newest event id handed out (0 when none ever was). */
  newestEvent(): Awaitable<number>;
  /** Ids and topics of the events in (after, upto], oldest first, at most `limit`. */
  topicsAfter(after: number, upto: number, limit: number): Awaitable<Array<{ id: number; topic: string }>>;
  /** Events by id (ascending), those still in the log. */
  events(ids: readonly number[]): Awaitable<Event[]>;
}

const COLS = 'id, url, patterns, secret, active, created_at, last_fired, fail_count, last_error, delivered, failed, cursor, attempts, next_at';
const ACTIVE_COLS = 'id, url, secret, patterns, cursor, attempts, next_at';
const ACTIVE = `SELECT ${ACTIVE_COLS} FROM webhooks WHERE active = 1`;

export function sqliteWebhookReader(db: ReadDb): WebhookReader {
  const q = {
    // Newest first; rowid breaks ties within a second.
    list: db.prepare<[], WebhookRow>(`SELECT ${COLS} FROM webhooks ORDER BY created_at DESC, rowid DESC`),
    get: db.prepare<[string], WebhookRow>(`SELECT ${COLS} FROM webhooks WHERE id = ?`),
    active: db.prepare<[], ActiveHook>(ACTIVE),
    newest: db.prepare<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck(),
    topicsAfter: db.prepare<[number, number, number], { id: number; topic: string }>('SELECT id, topic FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?'),
    range: db.prepare<[number, number], Event>('SELECT id, topic, data, source, created_at FROM events WHERE id >= ? AND id <= ? ORDER BY id'),
  };
  return {
    list: () => q.list.all(),
    get: (id) => q.get.get(id),
    active: () => q.active.all(),
    newestEvent: () => q.newest.get() ?? 0,
    topicsAfter: (after, upto, limit) => q.topicsAfter.all(after, upto, limit),
    events(ids) {
      if (ids.length === 0) return [];
      const want = new Set(ids);
      return q.range.all(ids[0]!, ids[ids.length - 1]!).filter((e) => want.has(e.id));
    },
  };
}

/** The same on PostgreSQL (cluster mode); `seq` stands for SQLite's rowid. */
export function pgWebhookReader(sql: Sql): WebhookReader {
  const cols = sql.unsafe(COLS);
  return {
    async list() {
      return [...(await sql<WebhookRow[]>`SELECT ${cols} FROM webhooks ORDER BY created_at DESC, seq DESC`)];
    },
    async get(id) {
      return (await sql<WebhookRow[]>`SELECT ${cols} FROM webhooks WHERE id = ${id}`)[0];
    },
    async active() {
      return [...(await sql.unsafe<ActiveHook[]>(`SELECT ${ACTIVE_COLS}, (SELECT value FROM koor_counters WHERE name = 'restores') AS restores FROM webhooks WHERE active = 1`))];
    },
    async newestEvent() {
      return (await sql<{ v: number }[]>`SELECT value AS v FROM koor_counters WHERE name = 'events'`)[0]?.v ?? 0;
    },
    async topicsAfter(after, upto, limit) {
      return [...(await sql<Array<{ id: number; topic: string }>>`SELECT id, topic FROM events WHERE id > ${after} AND id <= ${upto} ORDER BY id LIMIT ${limit}`)];
    },
    async events(ids) {
      if (ids.length === 0) return [];
      return [...(await sql<Event[]>`SELECT id, topic, data, source, created_at FROM events WHERE id = ANY(${sql.array([...ids], 20)}) ORDER BY id`)];
    },
  };
}
