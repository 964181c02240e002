import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'Audit totals: entries per action and outcome, distinct actors and resources',
  positionals: [],
  options: {
    from: { description: 'Not before this time' },
    to: { description: 'Not after this time' },
  },
  run: ({ opt, ctx }) => call(ctx, 'GET', `/api/audit/summary${query({ from: opt.from, to: opt.to })}`),
});
