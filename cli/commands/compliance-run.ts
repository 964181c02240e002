import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Run a compliance pass now',
  details: 'Checks the contracts of every active instance\'s project; prints `{"checked":true,"runs":[…],"count":N}`.',
  examples: [['Check now', '$0 compliance run --pretty']],
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'POST', '/api/compliance/run'),
});
