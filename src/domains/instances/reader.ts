import type { Sql } from 'postgres';
import type { Instance } from '../../../schemas/rpc/writer.js';
import type { Awaitable, ReadDb } from '../../store.js';

export interface InstanceFilter {
  name?: string;
  workspace?: string;
  stack?: string;
  capability?: string;
}

export type InstanceRow = Omit<Instance, 'capabilities'> & { capabilities: string };
/** What the identity index holds per agent. */
export interface TokenRow {
  id: string;
  name: string;
  token: string;
}

/** Read-only queries of the instance registry; SQLite answers at once, PostgreSQL with a promise. */
export interface InstanceReader {
  /** Most recently seen first. */
  list(f: InstanceFilter): Awaitable<InstanceRow[]>;
  stale(): Awaitable<InstanceRow[]>;
  get(id: string): Awaitable<InstanceRow | undefined>;
  /** Every agent's id, name and token (the identity index). */
  tokens(): Awaitable<TokenRow[]>;
  /** The agent whose token this is, if any (an index miss on a cluster node). */
  byToken(token: string): Awaitable<TokenRow | undefined>;
  byId(id: string): Awaitable<TokenRow | undefined>;
  count(): Awaitable<number>;
}

const COLS = 'id, name, workspace, intent, stack, capabilities, status, token, registered_at, last_seen';
const filterOf = (f: InstanceFilter) => ({ name: f.name ?? null, workspace: f.workspace ?? null, stack: f.stack ?? null, capability: f.capability ?? null });

export function sqliteInstanceReader(db: ReadDb): InstanceReader {
  const q = {
    list: db.prepare<[Record<keyof InstanceFilter, string | null>], InstanceRow>(
      `SELECT ${COLS} FROM instances
       WHERE (@name IS NULL OR name = @name) AND (@workspace IS NULL OR workspace = @workspace)
         AND (@stack IS NULL OR stack = @stack)
         AND (@capability IS NULL OR EXISTS (SELECT 1 FROM json_each(instances.capabilities) WHERE value = @capability))
       ORDER BY last_seen DESC, registered_at DESC`,
    ),
    stale: db.prepare<[], InstanceRow>(`SELECT ${COLS} FROM instances WHERE status = 'stale' ORDER BY last_seen DESC`),
    get: db.prepare<[string], InstanceRow>(`SELECT ${COLS} FROM instances WHERE id = ?`),
    tokens: db.prepare<[], TokenRow>('SELECT id, name, token FROM instances'),
    byToken: db.prepare<[string], TokenRow>('SELECT id, name, token FROM instances WHERE token = ?'),
    byId: db.prepare<[string], TokenRow>('SELECT id, name, token FROM instances WHERE id = ?'),
    count: db.prepare<[], number>('SELECT count(*) FROM instances').pluck(),
  };
  return {
    list: (f) => q.list.all(filterOf(f)),
    stale: () => q.stale.all(),
    get: (id) => q.get.get(id),
    tokens: () => q.tokens.all(),
    byToken: (token) => q.byToken.get(token),
    byId: (id) => q.byId.get(id),
    count: () => q.count.get() ?? 0,
  };
}

/**
 * The same on PostgreSQL (cluster mode). Ties in last_seen (1 s precision) end as SQLite ends
 * them, by `seq` (its rowid): ascending in a list (its sorter keeps the table's order),
 * descending among the stale (it walks the (status, last_seen) index backwards).
 */
export function pgInstanceReader(sql: Sql): InstanceReader {
  const cols = sql.unsafe(COLS);
  return {
    async list(f) {
      const p = filterOf(f);
      return [
        ...(await sql<InstanceRow[]>`
          SELECT ${cols} FROM instances
          WHERE (${p.name}::text IS NULL OR name = ${p.name}) AND (${p.workspace}::text IS NULL OR workspace = ${p.workspace})
            AND (${p.stack}::text IS NULL OR stack = ${p.stack})
            AND (${p.capability}::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(capabilities::jsonb) c WHERE c = ${p.capability}))
          ORDER BY last_seen DESC, registered_at DESC, seq`),
      ];
    },
    async stale() {
      return [...(await sql<InstanceRow[]>`SELECT ${cols} FROM instances WHERE status = 'stale' ORDER BY last_seen DESC, seq DESC`)];
    },
    async get(id) {
      return (await sql<InstanceRow[]>`SELECT ${cols} FROM instances WHERE id = ${id}`)[0];
    },
    async tokens() {
      return [...(await sql<TokenRow[]>`SELECT id, name, token FROM instances`)];
    },
    async byToken(token) {
      return (await sql<TokenRow[]>`SELECT id, name, token FROM instances WHERE token = ${token}`)[0];
    },
    async byId(id) {
      return (await sql<TokenRow[]>`SELECT id, name, token FROM instances WHERE id = ${id}`)[0];
    },
    async count() {
      return (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM instances`)[0]!.n;
    },
  };
}
