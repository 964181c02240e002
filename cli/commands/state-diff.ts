import { call, defineCommand, keyPath, query } from '../core.js';

export default defineCommand({
  description: 'Structural diff between two versions of a JSON state value',
  examples: [['What changed from v1 to v2?', '$0 state diff api/contract --v1 1 --v2 2 --pretty']],
  positionals: [{ name: 'key' }],
  options: {
    v1: { description: 'Older version', required: true },
    v2: { description: 'Newer version', required: true },
  },
  run: ({ pos, opt, ctx }) => call(ctx, 'GET', `/api/state/${keyPath(pos.key)}${query({ diff: `${opt.v1},${opt.v2}` })}`),
});
