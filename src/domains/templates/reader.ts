import { then, type Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { dialects, sql } from '../../../schemas/db/sql.js';
import { TEMPLATE, TEMPLATE_SUMMARY } from '../../../schemas/db/tables/templates.js';

/** A stored template without its data; `tags` JSON text, times storage text. */
export type TemplateRow = Parameters<typeof TEMPLATE_SUMMARY.decode>[0];
/** A stored template, `data` the JSON text it was created with. */
export type TemplateDbRow = Parameters<typeof TEMPLATE.decode>[0];

export interface TemplateFilter {
  kind: string | null;
  /** An exact member of `tags`. */
  tag: string | null;
}

/** Read-only queries of the template registry; SQLite answers at once, PostgreSQL with a promise. */
export interface TemplatesReader {
  /** Newest first; ties in insertion order, the later first. */
  list(filter: TemplateFilter): Awaitable<TemplateRow[]>;
  get(id: string): Awaitable<TemplateDbRow | undefined>;
}

const COLUMNS = TEMPLATE_SUMMARY.columns;

/**
 * Newest first; ties within a second in insertion order, the later first (SQLite's rowid,
 * PostgreSQL's seq). Parameters: kind ×2 (and on SQLite tag ×2: a member of the stored JSON array;
 * PostgreSQL's tag is matched here, on the parsed array: jsonb would refuse a stored "\u0000"
 * that SQLite accepts).
 */
const LIST = dialects({
  sqlite: `SELECT ${COLUMNS} FROM templates
           WHERE (? IS NULL OR kind = ?)
             AND (? IS NULL OR EXISTS (SELECT 1 FROM json_each(templates.tags) WHERE json_each.value = ?))
           ORDER BY updated_at DESC, rowid DESC`,
  pg: `SELECT ${COLUMNS} FROM templates WHERE (CAST(? AS text) IS NULL OR kind = ?) ORDER BY updated_at DESC, seq DESC`,
});
const GET = sql(`SELECT ${TEMPLATE.columns} FROM templates WHERE id = ?`);

/** A member of the stored JSON array equal to `tag` (json_each's values are the decoded strings). */
const hasTag = (tags: string, tag: string): boolean => {
  const list: unknown = JSON.parse(tags);
  return Array.isArray(list) && list.includes(tag);
};

/** The template registry's reads, on either backend. */
export function templatesReader(db: Reads): TemplatesReader {
  const list = db.statement<TemplateRow>(LIST);
  const get = db.statement<TemplateDbRow>(GET);
  return {
    list: (f) =>
      db.dialect === 'sqlite'
        ? list.all(f.kind, f.kind, f.tag, f.tag)
        : then(list.all(f.kind, f.kind), (rows) => (f.tag === null ? rows : rows.filter((r) => hasTag(r.tags, f.tag!)))),
    get: (id) => get.get(id),
  };
}
