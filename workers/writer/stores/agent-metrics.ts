import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { sql, type Tx } from '../sql.js';

type M = WriterMethods;

const ADD_METRIC = sql(
  `INSERT INTO agent_metrics (instance_id, metric_name, period, metric_value) VALUES (?, ?, ?, ?)
   ON CONFLICT (instance_id, metric_name, period) DO UPDATE SET metric_value = agent_metrics.metric_value + excluded.metric_value`,
);

/** Agent metric buckets: the front's counters, added to their hour's row. */
export function agentMetricStore() {
  return {
    async addMetrics(tx: Tx, req: ReqOf<M, 'agent_metrics.add'>): Promise<ResOf<M, 'agent_metrics.add'>> {
      for (const r of req.rows) await tx.run(ADD_METRIC, r.instance_id, r.metric_name, r.period, r.value);
      return { rows: req.rows.length };
    },
  };
}
