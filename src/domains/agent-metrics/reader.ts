import type { Sql } from 'postgres';
import type { Awaitable, ReadDb } from '../../store.js';

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

/** The agent metric buckets on the front process's SQLite read connection. */
export function sqliteAgentMetricsReader(db: ReadDb): AgentMetricsReader {
  const rows = db.prepare<[{ id: string; period: string | null }], MetricRow>(
    `SELECT instance_id, metric_name, metric_value, period FROM agent_metrics
     WHERE instance_id = @id AND (@period IS NULL OR substr(period, 1, length(@period)) = @period)
     ORDER BY period DESC, metric_name`,
  );
  const totals = db.prepare<[{ period: string | null }], MetricTotal>(
    `SELECT instance_id, metric_name, sum(metric_value) AS total FROM agent_metrics
     WHERE (@period IS NULL OR substr(period, 1, length(@period)) = @period)
     GROUP BY instance_id, metric_name ORDER BY instance_id, metric_name`,
  );
  return {
    rows: (id, period) => rows.all({ id, period }),
    totals: (period) => totals.all({ period }),
  };
}

/** The same queries on PostgreSQL (cluster mode). */
export function pgAgentMetricsReader(sql: Sql): AgentMetricsReader {
  const inPeriod = (p: string | null) => sql`(${p}::text IS NULL OR substr(period, 1, length(${p}::text)) = ${p}::text)`;
  return {
    async rows(id, period) {
      return [
        ...(await sql<MetricRow[]>`
          SELECT instance_id, metric_name, metric_value, period FROM agent_metrics
           WHERE instance_id = ${id} AND ${inPeriod(period)} ORDER BY period DESC, metric_name`),
      ];
    },
    async totals(period) {
      return [
        ...(await sql<MetricTotal[]>`
          SELECT instance_id, metric_name, sum(metric_value)::bigint AS total FROM agent_metrics
           WHERE ${inPeriod(period)} GROUP BY instance_id, metric_name ORDER BY instance_id, metric_name`),
      ];
    },
  };
}
