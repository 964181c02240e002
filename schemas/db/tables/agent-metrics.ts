import type { Table } from '../table.js';

/** Per-agent counters in hour buckets. */
export const AGENT_METRICS: Table = {
  name: 'agent_metrics',
  columns: {
    instance_id: { type: 'text' },
    metric_name: { type: 'text' },
    period: { type: 'text' },
    metric_value: { type: 'int', default: 0 },
  },
  primaryKey: ['instance_id', 'metric_name', 'period'],
  indexes: [{ name: 'agent_metrics_period', on: 'period' }],
};

