import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Activate a registered instance',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'POST', `/api/instances/${seg(pos.id)}/activate`),
});
