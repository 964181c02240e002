import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'List state keys with version, content type and update time',
  positionals: [],
  options: {},
  run: ({ ctx }) => call(ctx, 'GET', '/api/state'),
});
