import type { Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { sql } from '../../../schemas/db/sql.js';

export interface MetricRow {
  instance_id: string;
  metric_name: string;
  metric_value: number;
  period: string;
}

export interface MetricTotal {
  instance_id: string;
  metric_name: string;
  total: number;
}

/** Read-only queries of the agent metric buckets; SQLite answers at once, PostgreSQL with a promise. */
export interface AgentMetricsReader {
  /** One agent's buckets, newest period first then by name; `period` a prefix (null = all). */
  rows(instanceId: string, period: string | null): Awaitable<MetricRow[]>;
  /** Sums per (agent, metric), in that order; `period` a prefix (null = all). */
  totals(period: string | null): Awaitable<MetricTotal[]>;
}

/** `period` a prefix, or null for all: parameters period, period, period. */
const IN_PERIOD = '(CAST(? AS text) IS NULL OR substr(period, 1, length(CAST(? AS text))) = CAST(? AS text))';
const ROWS = sql(`SELECT instance_id, metric_name, metric_value, period FROM agent_metrics WHERE instance_id = ? AND ${IN_PERIOD} ORDER BY period DESC, metric_name`);
const TOTALS = sql(
  `SELECT instance_id, metric_name, CAST(sum(metric_value) AS bigint) AS total FROM agent_metrics
   WHERE ${IN_PERIOD} GROUP BY instance_id, metric_name ORDER BY instance_id, metric_name`,
);

/** The agent metric buckets' reads, on either backend. */
export function agentMetricsReader(db: Reads): AgentMetricsReader {
  const rows = db.statement<MetricRow>(ROWS);
  const totals = db.statement<MetricTotal>(TOTALS);
  return {
    rows: (id, period) => rows.all(id, period, period, period),
    totals: (period) => totals.all(period, period, period),
  };
}
