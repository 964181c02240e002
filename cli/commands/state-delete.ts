import { call, defineCommand, keyPath } from '../core.js';

export default defineCommand({
  description: 'Delete a state key',
  positionals: [{ name: 'key' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'DELETE', `/api/state/${keyPath(pos.key)}`),
});
