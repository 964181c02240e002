import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'Audit log entries, newest first',
  details: 'from/to are instants: RFC 3339 or YYYY-MM-DD[ HH:MM:SS] (UTC), both inclusive.',
  examples: [['Who changed state today', '$0 audit --action state.put --from 2026-02-16']],
  positionals: [],
  options: {
    actor: { description: 'Only this actor (exact)' },
    action: { description: 'Only this action, e.g. state.put (exact)' },
    from: { description: 'Not before this time' },
    to: { description: 'Not after this time' },
    limit: { description: 'At most N entries (default 50)' },
  },
  run: ({ opt, ctx }) => call(ctx, 'GET', `/api/audit${query({ actor: opt.actor, action: opt.action, from: opt.from, to: opt.to, limit: opt.limit })}`),
});
