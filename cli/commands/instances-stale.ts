import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'List instances marked stale',
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/api/instances/stale'),
});
