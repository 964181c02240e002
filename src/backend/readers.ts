import type { Sql } from 'postgres';
import type { ReadDb } from '../store.js';
import { pgStateReader, sqliteStateReader, type StateReader } from '../domains/state/reader.js';

/**
 * Every domain's read queries, from one backend: the front's SQLite read connection, or a
 * PostgreSQL pool (cluster mode). The domain services take their reader from here and never
 * learn which backend answers.
 */
export interface Readers {
  state: StateReader;
}

export function sqliteReaders(db: ReadDb): Readers {
  return { state: sqliteStateReader(db) };
}

export function pgReaders(sql: Sql): Readers {
  return { state: pgStateReader(sql) };
}
