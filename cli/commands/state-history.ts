import { call, defineCommand, keyPath, query } from '../core.js';

export default defineCommand({
  description: 'List the versions of a state key, newest first',
  positionals: [{ name: 'key' }],
  options: { limit: { description: 'At most N versions (default 50)' } },
  run: ({ pos, opt, ctx }) => call(ctx, 'GET', `/api/state/${keyPath(pos.key)}${query({ history: 1, limit: opt.limit })}`),
});
