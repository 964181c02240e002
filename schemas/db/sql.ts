/**
 * Statements written once for both backends: the SQL text SQLite and PostgreSQL both
 * accept, or both dialects side by side where they genuinely differ. The writer thread's stores
 * (workers/writer/stores) and the front's readers (src/domains/<d>/reader.ts) declare their
 * statements with these; each backend's driver runs its dialect's text.
 */

export type Dialect = 'sqlite' | 'pg';
/** What a statement binds: TEXT/INTEGER/REAL/BLOB in SQLite; text, int8, float8 and bytea in PostgreSQL. */
export type Param = string | number | Uint8Array | null;

/** A statement's text per dialect, both with `?` placeholders as written (PostgreSQL's are numbered once, here). */
export interface Query {
  readonly sqlite: string;
  readonly pg: string;
}

/** `?` → `$1, $2, …` outside string literals (PostgreSQL's placeholders). */
function numbered(text: string): string {
  let n = 0;
  let out = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === "'") quoted = !quoted;
    out += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  return out;
}

/** One statement both dialects accept as written. */
export function sql(text: string): Query {
  return { sqlite: text, pg: numbered(text) };
}

/** A statement whose dialects genuinely differ: both texts side by side, the same parameters in the same order. */
export function dialects(q: { sqlite: string; pg: string }): Query {
  return { sqlite: q.sqlite, pg: numbered(q.pg) };
}

/**
 * An INSERT whose new row id the writer wants (Tx.insert): SQLite reads it from the connection
 * (RETURNING would cost ~1.7 µs more per row), PostgreSQL returns it (`RETURNING id`).
 */
export function inserting(text: string): Query {
  return { sqlite: text, pg: numbered(`${text} RETURNING id`) };
}

/** A statement only one dialect runs: a store's step that dialect takes its own way (chosen by `tx.dialect`). */
export function only(dialect: Dialect, text: string): Query {
  return dialect === 'pg' ? { sqlite: '', pg: numbered(text) } : { sqlite: text, pg: '' };
}
