import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { dialects, sql, type Tx } from '../sql.js';

type M = WriterMethods;

/**
 * Chunks of rows older than a time, oldest first: ties broken as SQLite's index walk does (by id
 * for the logs); agent_metrics has no insertion order on PostgreSQL, so by its primary key there.
 * The audit log has no timestamp index: its entries are written in time order, so of
 * the oldest by id, those older than the time go, never the newest entry (its id is where the
 * next continues: schemas/db/tables/audit.ts). An entry stamped later than those after it (a
 * clock set back) stays until it is old too and ends each pass's walk at its chunk; the count
 * limit still bounds the log.
 */
const PRUNE = {
  audit_log: sql(
    `WITH cutoff (at) AS (SELECT CAST(? AS text))
     DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE id < (SELECT max(id) FROM audit_log) ORDER BY id LIMIT CAST(? AS bigint))
       AND timestamp < (SELECT at FROM cutoff)`,
  ),
  llm_usage: dialects({
    sqlite: 'DELETE FROM llm_usage WHERE id IN (SELECT id FROM llm_usage WHERE created_at < ? ORDER BY created_at LIMIT CAST(? AS bigint))',
    pg: 'DELETE FROM llm_usage WHERE id IN (SELECT id FROM llm_usage WHERE created_at < ? ORDER BY created_at, id LIMIT CAST(? AS bigint))',
  }),
  // expired created tokens (a few at most: no index on expires_at)
  api_tokens: sql('DELETE FROM api_tokens WHERE id IN (SELECT id FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < ? ORDER BY expires_at, id LIMIT CAST(? AS bigint))'),
  // by their primary key: WITHOUT ROWID on SQLite
  idempotency_keys: sql(
    'DELETE FROM idempotency_keys WHERE (caller, key) IN (SELECT caller, key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at, caller, key LIMIT CAST(? AS bigint))',
  ),
  // runs of agents no longer registered: while registered, the newest 100 per
  // contract are kept by each pass (./compliance.ts); the run_at index walks only the old ones
  compliance_runs: sql(
    `DELETE FROM compliance_runs WHERE id IN (
       SELECT r.id FROM compliance_runs r WHERE r.run_at < ? AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = r.instance_id)
       ORDER BY r.run_at, r.id LIMIT CAST(? AS bigint))`,
  ),
  // sessions that ended: kept for their late telemetry (workers/writer/stores/llm.ts)
  hook_sessions_ended: sql(
    'DELETE FROM hook_sessions_ended WHERE session_id IN (SELECT session_id FROM hook_sessions_ended WHERE ended_at < ? ORDER BY ended_at, session_id LIMIT CAST(? AS bigint))',
  ),
  agent_metrics: dialects({
    sqlite: 'DELETE FROM agent_metrics WHERE rowid IN (SELECT rowid FROM agent_metrics WHERE period < ? ORDER BY period LIMIT CAST(? AS bigint))',
    pg: `DELETE FROM agent_metrics WHERE (instance_id, metric_name, period) IN (
           SELECT instance_id, metric_name, period FROM agent_metrics WHERE period < ? ORDER BY period, instance_id, metric_name LIMIT CAST(? AS bigint))`,
  }),
};

/**
 * Past the newest `keep` rows (parameters: keep, chunk; keep ≥ 1, so the newest stays): the logs by
 * id, which only grows; a message's recipients go with it (ON DELETE CASCADE).
 */
const TRIM_LOG = (table: 'audit_log' | 'llm_usage' | 'messages') => sql(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE id <= (SELECT max(id) FROM ${table}) - ? ORDER BY id LIMIT CAST(? AS bigint))`);
const TRIM = { audit_log: TRIM_LOG('audit_log'), llm_usage: TRIM_LOG('llm_usage'), messages: TRIM_LOG('messages') };
/**
 * Tables with no id that only grows, bounded by their count: how many rows, and a statement
 * deleting the oldest `n`. Agent-metric buckets (a table its own count bounds: a count is cheap)
 * and Idempotency-Key replies (their count walks the created_at index: 5 ms of the writer's
 * time at the default 1,000,000 replies, 34 ms with the file's pages cold, per turn of a pass).
 */
const COUNTED = {
  agent_metrics: {
    count: sql('SELECT count(*) AS n FROM agent_metrics'),
    trim: dialects({
      sqlite: 'DELETE FROM agent_metrics WHERE rowid IN (SELECT rowid FROM agent_metrics ORDER BY period, rowid LIMIT CAST(? AS bigint))',
      pg: `DELETE FROM agent_metrics WHERE (instance_id, metric_name, period) IN (
             SELECT instance_id, metric_name, period FROM agent_metrics ORDER BY period, instance_id, metric_name LIMIT CAST(? AS bigint))`,
    }),
  },
  // by their primary key: WITHOUT ROWID on SQLite
  idempotency_keys: {
    count: sql('SELECT count(*) AS n FROM idempotency_keys'),
    trim: sql('DELETE FROM idempotency_keys WHERE (caller, key) IN (SELECT caller, key FROM idempotency_keys ORDER BY created_at, caller, key LIMIT CAST(? AS bigint))'),
  },
};

/**
 * The retention of the append-only operations tables (src/domains/system/retention.ts): the logs
 * and agent-metric buckets past their age or count, in chunks.
 */
export function retentionStore() {
  return {
    async trim(tx: Tx, req: ReqOf<M, 'ops.trim'>): Promise<ResOf<M, 'ops.trim'>> {
      let deleted: number;
      if (req.table === 'agent_metrics' || req.table === 'idempotency_keys') {
        const { count, trim } = COUNTED[req.table];
        const excess = Number((await tx.get<{ n: number | string }>(count))!.n) - req.keep;
        deleted = excess > 0 ? await tx.run(trim, Math.min(excess, req.chunk)) : 0;
      } else deleted = await tx.run(TRIM[req.table], req.keep, req.chunk);
      return { deleted, more: deleted === req.chunk };
    },

    async prune(tx: Tx, req: ReqOf<M, 'ops.prune'>): Promise<ResOf<M, 'ops.prune'>> {
      const deleted = await tx.run(PRUNE[req.table], req.before, req.chunk);
      return { deleted, more: deleted === req.chunk };
    },
  };
}
