import { call, defineCommand, keyPath } from '../core.js';

export default defineCommand({
  description: 'Print the current value of a state key (raw bytes)',
  examples: [['Read a key (slashes allowed)', '$0 state get api/contract --pretty']],
  positionals: [{ name: 'key' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'GET', `/api/state/${keyPath(pos.key)}`),
});
