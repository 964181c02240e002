import { call } from '../lib/api.js';
import { defineCommand } from '../lib/command.js';

export default defineCommand({
  description: 'List instances marked stale',
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/api/instances/stale'),
});
