import { Type, type Static } from '../typebox.js';

/** GET /api/metrics/agents?instance_id=X and GET /api/metrics/agents/{id}: hourly counters. */
export const AgentMetricRows = Type.Array(
  Type.Object({ instance_id: Type.String(), metric_name: Type.String(), metric_value: Type.Number(), period: Type.String() }),
);

export type AgentMetricRows = Static<typeof AgentMetricRows>;

/** GET /api/metrics/agents: each instance's counters summed, by name. */
export const AgentMetricTotals = Type.Array(Type.Object({ instance_id: Type.String(), metrics: Type.Record(Type.String(), Type.Number()) }));

export type AgentMetricTotals = Static<typeof AgentMetricTotals>;
