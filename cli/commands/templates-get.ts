import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Print a template, its data as JSON',
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'GET', `/api/templates/${seg(pos.id)}`),
});
