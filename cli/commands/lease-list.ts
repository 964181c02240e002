import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'List live leases, oldest first',
  examples: [
    ['Who holds anything under src/api', `$0 lease list --resource 'src/api/**'`],
    ["One agent's leases", '$0 lease list --holder 1f0c…'],
  ],
  positionals: [],
  options: {
    holder: { description: 'Only this agent\'s (instance id)' },
    resource: { description: 'Only leases overlapping this path glob' },
    limit: { description: 'At most this many (default 1000)' },
  },
  run: ({ opt, ctx }) => call(ctx, 'GET', `/api/leases${query({ holder: opt.holder, resource: opt.resource, limit: opt.limit })}`),
});
