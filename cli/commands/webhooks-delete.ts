import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Delete a webhook (its undelivered events go with it)',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'DELETE', `/api/webhooks/${seg(pos.id)}`),
});
