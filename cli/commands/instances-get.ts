import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Show one instance',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'GET', `/api/instances/${seg(pos.id)}`),
});
