import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'Compliance runs, newest first',
  examples: [['The last 10 runs of one agent', '$0 compliance history --instance_id 1f0c… --limit 10']],
  positionals: [],
  options: {
    instance_id: { description: 'Only this instance' },
    limit: { description: 'At most N runs (default 50)' },
  },
  run: ({ opt, ctx }) => call(ctx, 'GET', `/api/compliance/history${query({ instance_id: opt.instance_id, limit: opt.limit })}`),
});
