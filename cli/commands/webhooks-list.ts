import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'List webhooks (newest first) with their delivery state',
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/api/webhooks'),
});
