import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Delete a template',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'DELETE', `/api/templates/${seg(pos.id)}`),
});
