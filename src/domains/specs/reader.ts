import type { Sql } from 'postgres';
import type { Awaitable, ReadDb } from '../../store.js';

export interface SpecRow {
  data: Buffer;
  version: number;
  hash: string;
}

export interface SpecListRow {
  name: string;
  version: number;
  /** Storage text. */
  updated_at: string;
}

/** Read-only queries of the spec registry; SQLite answers at once, PostgreSQL with a promise. */
export interface SpecsReader {
  /** A project's specs by name. */
  list(project: string): Awaitable<SpecListRow[]>;
  get(project: string, name: string): Awaitable<SpecRow | undefined>;
}

/** The spec registry on the front process's SQLite read connection. */
export function sqliteSpecsReader(db: ReadDb): SpecsReader {
  const list = db.prepare<[string], SpecListRow>('SELECT name, version, updated_at FROM specs WHERE project = ? ORDER BY name');
  const get = db.prepare<[string, string], SpecRow>('SELECT data, version, hash FROM specs WHERE project = ? AND name = ?');
  return {
    list: (project) => list.all(project),
    get: (project, name) => get.get(project, name),
  };
}

/** The same queries on PostgreSQL (cluster mode). */
export function pgSpecsReader(sql: Sql): SpecsReader {
  return {
    async list(project) {
      return [...(await sql<SpecListRow[]>`SELECT name, version, updated_at FROM specs WHERE project = ${project} ORDER BY name`)];
    },
    async get(project, name) {
      return (await sql<SpecRow[]>`SELECT data, version, hash FROM specs WHERE project = ${project} AND name = ${name}`)[0];
    },
  };
}
