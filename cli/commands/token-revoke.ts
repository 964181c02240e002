import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Revoke a created token: refused from now on, on every cluster node within a second (admin only)',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'DELETE', `/api/tokens/${seg(pos.id)}`),
});
