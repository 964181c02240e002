import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Remove a spending cap (admin only)',
  positionals: [{ name: 'scope', description: 'agent:<id|name>, project:<name>, session:<tag> or global' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'DELETE', `/api/budgets/${encodeURIComponent(pos.scope)}`),
});
