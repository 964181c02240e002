import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'Who holds a file: the live leases covering a path (relative to the repository root)',
  positionals: [{ name: 'path' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'GET', `/api/leases/check${query({ path: pos.path })}`),
});
