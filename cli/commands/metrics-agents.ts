import { call, defineCommand, query, seg } from '../core.js';

export default defineCommand({
  description: 'Per-agent metrics: totals per agent, or one agent\'s hourly buckets',
  details: 'Counted for requests that carry an agent identity (X-Koor-Instance or the instance token): rest_calls, mcp_calls, state_writes, events_published, validations, violations. --period is a prefix of YYYY-MM-DDTHH (2026-02-16 = that day).',
  examples: [
    ['Totals of every agent', '$0 metrics agents'],
    ["One agent's buckets today", '$0 metrics agents 1f0c… --period 2026-02-16'],
  ],
  positionals: [{ name: 'id', optional: true }],
  options: {
    instance_id: { description: 'One agent (same as the id argument)' },
    period: { description: 'Only buckets whose hour starts with this' },
  },
  run: ({ pos, opt, ctx }) => {
    if (pos.id !== undefined) return call(ctx, 'GET', `/api/metrics/agents/${seg(pos.id)}${query({ period: opt.period })}`);
    return call(ctx, 'GET', `/api/metrics/agents${query({ instance_id: opt.instance_id, period: opt.period })}`);
  },
});
