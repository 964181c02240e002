import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'List instances, most recently seen first',
  positionals: [],
  options: {
    name: { description: 'Exact name' },
    workspace: { description: 'Exact workspace' },
    stack: { description: 'Exact stack' },
    capability: { description: 'Has this capability' },
  },
  run: ({ opt, ctx }) =>
    call(ctx, 'GET', `/api/instances${query({ name: opt.name, workspace: opt.workspace, stack: opt.stack, capability: opt.capability })}`),
});
