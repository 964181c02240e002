import { then } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { dialects, sql } from '../../../schemas/db/sql.js';
import { INSTANCE, type InstanceDbRow } from '../../../schemas/db/tables/instances.js';
import type { Awaitable } from '../../shared/awaitable.js';

export interface InstanceFilter {
  name?: string;
  workspace?: string;
  stack?: string;
  capability?: string;
}

/** What the identity index holds per agent. */
export type TokenRow = Pick<InstanceDbRow, 'id' | 'name' | 'token_hash' | 'token_id'>;

/** Read-only queries of the instance registry; SQLite answers at once, PostgreSQL with a promise. */
export interface InstanceReader {
  /** Most recently seen first: the first `limit`, or all. */
  list(f: InstanceFilter, limit?: number): Awaitable<InstanceDbRow[]>;
  /** The agents of `project` that are not stale, but `except`: the `limit` seen last, and how many there are. */
  inProject(project: string, except: string, limit: number): Awaitable<{ rows: InstanceDbRow[]; count: number }>;
  stale(): Awaitable<InstanceDbRow[]>;
  get(id: string): Awaitable<InstanceDbRow | undefined>;
  /** Every agent's id, name and token hash (the identity index). */
  tokens(): Awaitable<TokenRow[]>;
  /** The agent whose token has this hash, if any (a cluster node's miss or confirmation). */
  byTokenHash(hash: string): Awaitable<TokenRow | undefined>;
  byId(id: string): Awaitable<TokenRow | undefined>;
  count(): Awaitable<number>;
}

const filterOf = (f: InstanceFilter) => ({ name: f.name ?? null, workspace: f.workspace ?? null, stack: f.stack ?? null, capability: f.capability ?? null });

/**
 * Parameters: name ×2, workspace ×2, stack ×2, capability ×2, the limit. Ties in last_seen (1 s precision)
 * end in insertion order (SQLite's rowid, PostgreSQL's seq): ascending in a list (SQLite's sorter
 * keeps the table's order), descending among the stale (it walks the (status, last_seen) index
 * backwards). Capabilities are JSON text: SQLite's json_each, PostgreSQL's jsonb_array_elements_text.
 */
const LIST = dialects({
  sqlite: `SELECT ${INSTANCE.columns} FROM instances
           WHERE (? IS NULL OR name = ?) AND (? IS NULL OR workspace = ?) AND (? IS NULL OR stack = ?)
             AND (? IS NULL OR EXISTS (SELECT 1 FROM json_each(instances.capabilities) WHERE value = ?))
           ORDER BY last_seen DESC, registered_at DESC LIMIT CAST(? AS bigint)`,
  pg: `SELECT ${INSTANCE.columns} FROM instances
       WHERE (CAST(? AS text) IS NULL OR name = ?) AND (CAST(? AS text) IS NULL OR workspace = ?) AND (CAST(? AS text) IS NULL OR stack = ?)
         AND (CAST(? AS text) IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(capabilities::jsonb) c WHERE c = ?))
       ORDER BY last_seen DESC, registered_at DESC, seq LIMIT CAST(? AS bigint)`,
});
const STALE = dialects({
  sqlite: `SELECT ${INSTANCE.columns} FROM instances WHERE status = 'stale' ORDER BY last_seen DESC`,
  pg: `SELECT ${INSTANCE.columns} FROM instances WHERE status = 'stale' ORDER BY last_seen DESC, seq DESC`,
});
/** Parameters: project, except; then the limit (IN_PROJECT) or none (IN_PROJECT_COUNT). Ties as LIST's. */
const IN_PROJECT = dialects({
  sqlite: `SELECT ${INSTANCE.columns} FROM instances WHERE project = ? AND status <> 'stale' AND id <> ? ORDER BY last_seen DESC, registered_at DESC LIMIT CAST(? AS bigint)`,
  pg: `SELECT ${INSTANCE.columns} FROM instances WHERE project = ? AND status <> 'stale' AND id <> ? ORDER BY last_seen DESC, registered_at DESC, seq LIMIT CAST(? AS bigint)`,
});
const IN_PROJECT_COUNT = sql("SELECT count(*) AS n FROM instances WHERE project = ? AND status <> 'stale' AND id <> ?");
const GET = sql(`SELECT ${INSTANCE.columns} FROM instances WHERE id = ?`);
const TOKENS = sql('SELECT id, name, token_hash, token_id FROM instances');
const BY_TOKEN = sql('SELECT id, name, token_hash, token_id FROM instances WHERE token_hash = ?');
const BY_ID = sql('SELECT id, name, token_hash, token_id FROM instances WHERE id = ?');
const COUNT = sql('SELECT count(*) AS n FROM instances');

/** The instance registry's reads, on either backend. */
export function instanceReader(db: Reads): InstanceReader {
  const list = db.statement<InstanceDbRow>(LIST);
  const inProject = db.statement<InstanceDbRow>(IN_PROJECT);
  const inProjectCount = db.statement<{ n: number | string }>(IN_PROJECT_COUNT);
  const stale = db.statement<InstanceDbRow>(STALE);
  const get = db.statement<InstanceDbRow>(GET);
  const tokens = db.statement<TokenRow>(TOKENS);
  const byToken = db.statement<TokenRow>(BY_TOKEN);
  const byId = db.statement<TokenRow>(BY_ID);
  const count = db.statement<{ n: number }>(COUNT);
  return {
    list(f, limit = Number.MAX_SAFE_INTEGER) {
      const p = filterOf(f);
      return list.all(p.name, p.name, p.workspace, p.workspace, p.stack, p.stack, p.capability, p.capability, limit);
    },
    inProject: (project, except, limit) => then(inProject.all(project, except, limit), (rows) => then(inProjectCount.get(project, except), (c) => ({ rows, count: Number(c?.n ?? 0) }))),
    stale: () => stale.all(),
    get: (id) => get.get(id),
    tokens: () => tokens.all(),
    byTokenHash: (hash) => byToken.get(hash),
    byId: (id) => byId.get(id),
    count: () => then(count.get(), (r) => r?.n ?? 0),
  };
}
