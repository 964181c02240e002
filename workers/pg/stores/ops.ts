import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow } from '../../writer/db.js';

type M = WriterMethods;
type Tx = TransactionSql;

/**
 * Agent metric buckets, LLM usage records and operations-table retention on PostgreSQL
 * (workers/writer/stores/ops.ts). Prune chunks break ties as SQLite's index walk does: by id
 * for the logs; agent_metrics has no insertion order here, so by its primary key.
 */
export function pgOpsStore() {
  const prune = {
    audit_log: (tx: Tx, before: string, chunk: number) =>
      tx`DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE timestamp < ${before} ORDER BY timestamp, id LIMIT ${chunk})`,
    llm_usage: (tx: Tx, before: string, chunk: number) =>
      tx`DELETE FROM llm_usage WHERE id IN (SELECT id FROM llm_usage WHERE created_at < ${before} ORDER BY created_at, id LIMIT ${chunk})`,
    agent_metrics: (tx: Tx, before: string, chunk: number) =>
      tx`DELETE FROM agent_metrics WHERE (instance_id, metric_name, period) IN (
           SELECT instance_id, metric_name, period FROM agent_metrics WHERE period < ${before} ORDER BY period, instance_id, metric_name LIMIT ${chunk})`,
  };

  return {
    async addMetrics(tx: Tx, req: ReqOf<M, 'agent_metrics.add'>): Promise<ResOf<M, 'agent_metrics.add'>> {
      for (const r of req.rows) {
        await tx`INSERT INTO agent_metrics (instance_id, metric_name, period, metric_value) VALUES (${r.instance_id}, ${r.metric_name}, ${r.period}, ${r.value})
                 ON CONFLICT (instance_id, metric_name, period) DO UPDATE SET metric_value = agent_metrics.metric_value + excluded.metric_value`;
      }
      return { rows: req.rows.length };
    },

    async recordLlm(tx: Tx, req: ReqOf<M, 'llm.record'>): Promise<ResOf<M, 'llm.record'>> {
      const created_at = storageNow();
      const [r] = await tx<{ id: number }[]>`INSERT INTO llm_usage (instance_id, project, provider, model, tokens_in, tokens_out, cost_usd, request_type, session_tag, created_at)
                                             VALUES (${req.instance_id}, ${req.project}, ${req.provider}, ${req.model}, ${req.tokens_in}, ${req.tokens_out},
                                                     ${req.cost_usd}, ${req.request_type}, ${req.session_tag}, ${created_at}) RETURNING id`;
      return { id: r!.id, created_at };
    },

    async prune(tx: Tx, req: ReqOf<M, 'ops.prune'>): Promise<ResOf<M, 'ops.prune'>> {
      const deleted = (await prune[req.table](tx, req.before, req.chunk)).count;
      return { deleted, more: deleted === req.chunk };
    },
  };
}
