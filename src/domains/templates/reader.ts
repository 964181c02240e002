import type { Sql } from 'postgres';
import type { Awaitable, ReadDb } from '../../store.js';

/** A stored template without its data; times are storage text. */
export interface TemplateRow {
  id: string;
  name: string;
  description: string;
  kind: string;
  /** JSON array text. */
  tags: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface TemplateFilter {
  kind: string | null;
  /** An exact member of `tags`. */
  tag: string | null;
}

/** Read-only queries of the template registry; SQLite answers at once, PostgreSQL with a promise. */
export interface TemplatesReader {
  /** Newest first; ties in insertion order, the later first. */
  list(filter: TemplateFilter): Awaitable<TemplateRow[]>;
  get(id: string): Awaitable<(TemplateRow & { data: string }) | undefined>;
}

const COLUMNS = 'id, name, description, kind, tags, version, created_at, updated_at';

/** The template registry on the front process's SQLite read connection. */
export function sqliteTemplatesReader(db: ReadDb): TemplatesReader {
  // Newest first; rowid breaks ties within a second (the later insert has the larger rowid).
  const list = db.prepare<[TemplateFilter], TemplateRow>(
    `SELECT ${COLUMNS} FROM templates
     WHERE (@kind IS NULL OR kind = @kind)
       AND (@tag IS NULL OR EXISTS (SELECT 1 FROM json_each(templates.tags) WHERE json_each.value = @tag))
     ORDER BY updated_at DESC, rowid DESC`,
  );
  const get = db.prepare<[string], TemplateRow & { data: string }>(`SELECT ${COLUMNS}, data FROM templates WHERE id = ?`);
  return {
    list: (filter) => list.all(filter),
    get: (id) => get.get(id),
  };
}

/** A member of the stored JSON array equal to `tag` (json_each's values are the decoded strings). */
const hasTag = (tags: string, tag: string): boolean => {
  const list: unknown = JSON.parse(tags);
  return Array.isArray(list) && list.includes(tag);
};

/**
 * The same queries on PostgreSQL (cluster mode). `seq` stands for SQLite's rowid; the tag is
 * matched here on the parsed array (jsonb would refuse a stored "\u0000" that SQLite accepts).
 */
export function pgTemplatesReader(sql: Sql): TemplatesReader {
  return {
    async list(f) {
      const rows = await sql<TemplateRow[]>`
        SELECT ${sql.unsafe(COLUMNS)} FROM templates WHERE (${f.kind}::text IS NULL OR kind = ${f.kind}) ORDER BY updated_at DESC, seq DESC`;
      return f.tag === null ? [...rows] : rows.filter((r) => hasTag(r.tags, f.tag!));
    },
    async get(id) {
      return (await sql<(TemplateRow & { data: string })[]>`SELECT ${sql.unsafe(COLUMNS)}, data FROM templates WHERE id = ${id}`)[0];
    },
  };
}
