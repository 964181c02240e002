import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Send a test delivery to a webhook now (counters untouched)',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'POST', `/api/webhooks/${seg(pos.id)}/test`),
});
