import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';

type M = WriterMethods;

/** Agent metric buckets, LLM usage records and the retention of the append-only operations tables. */
export function opsStore(db: DB) {
  const addMetric = db.prepare(
    `INSERT INTO agent_metrics (instance_id, metric_name, period, metric_value) VALUES (@instance_id, @metric_name, @period, @value)
     ON CONFLICT (instance_id, metric_name, period) DO UPDATE SET metric_value = metric_value + excluded.metric_value`,
  );
  const insertLlm = db.prepare(
    `INSERT INTO llm_usage (instance_id, project, provider, model, tokens_in, tokens_out, cost_usd, request_type, session_tag, created_at)
     VALUES (@instance_id, @project, @provider, @model, @tokens_in, @tokens_out, @cost_usd, @request_type, @session_tag, @created_at)`,
  );
  const prune = {
    audit_log: db.prepare<[string, number]>('DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE timestamp < ? ORDER BY timestamp LIMIT ?)'),
    llm_usage: db.prepare<[string, number]>('DELETE FROM llm_usage WHERE id IN (SELECT id FROM llm_usage WHERE created_at < ? ORDER BY created_at LIMIT ?)'),
    agent_metrics: db.prepare<[string, number]>('DELETE FROM agent_metrics WHERE rowid IN (SELECT rowid FROM agent_metrics WHERE period < ? ORDER BY period LIMIT ?)'),
  };

  return {
    addMetrics(req: ReqOf<M, 'agent_metrics.add'>): ResOf<M, 'agent_metrics.add'> {
      for (const r of req.rows) addMetric.run(r);
      return { rows: req.rows.length };
    },

    recordLlm(req: ReqOf<M, 'llm.record'>): ResOf<M, 'llm.record'> {
      const created_at = storageNow();
      const r = insertLlm.run({ ...req, created_at });
      return { id: Number(r.lastInsertRowid), created_at };
    },

    prune(req: ReqOf<M, 'ops.prune'>): ResOf<M, 'ops.prune'> {
      const deleted = prune[req.table].run(req.before, req.chunk).changes;
      return { deleted, more: deleted === req.chunk };
    },
  };
}
