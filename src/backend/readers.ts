import type { Sql } from 'postgres';
import type { ReadDb } from '../store.js';
import { pgStateReader, sqliteStateReader, type StateReader } from '../domains/state/reader.js';
import { pgEventsReader, sqliteEventsReader, type EventsReader, type SyncEventsReader } from '../domains/events/reader.js';

/**
 * Every domain's read queries, from one backend: the front's SQLite read connection, or a
 * PostgreSQL pool (cluster mode). The domain services take their reader from here and never
 * learn which backend answers.
 */
export interface Readers {
  state: StateReader;
  events: EventsReader;
}

/** SQLite's readers answer synchronously; the event log's local fan-out relies on it. */
export interface SqliteReaders extends Readers {
  events: SyncEventsReader;
}

export function sqliteReaders(db: ReadDb): SqliteReaders {
  return { state: sqliteStateReader(db), events: sqliteEventsReader(db) };
}

export function pgReaders(sql: Sql): Readers {
  return { state: pgStateReader(sql), events: pgEventsReader(sql) };
}
