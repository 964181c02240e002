import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'List the specs of a project',
  positionals: [{ name: 'project' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'GET', `/api/specs/${seg(pos.project)}`),
});
