import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: "Budgets with this period's spend against each (status ok, warning or exceeded)",
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/api/budgets'),
});
