import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'List the created tokens, oldest first (never the tokens themselves; admin only)',
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/api/tokens'),
});
