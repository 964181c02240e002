import { call, defineCommand, query } from '../core.js';
import { repoProject } from '../project.js';

export default defineCommand({
  description: 'List live leases, oldest first',
  examples: [
    ['Who holds anything under src/api', `$0 lease list --resource 'src/api/**'`],
    ["One agent's leases", '$0 lease list --holder 1f0c…'],
    ['The leases of one project', '$0 lease list --project acme.shop'],
  ],
  positionals: [],
  options: {
    holder: { description: 'Only this agent\'s (instance id)' },
    resource: { description: 'Only leases overlapping this path glob' },
    project: { description: "Only the leases of this project (default: every project; with --resource, this directory's, as `koor-cli status` shows it)" },
    limit: { description: 'At most this many (default 1000)' },
  },
  run: ({ opt, ctx }) => {
    // A path means something within one project: a --resource filter is in this directory's unless --project names one.
    const project = opt.project ?? (opt.resource === undefined ? undefined : repoProject(ctx.cwd).project);
    return call(ctx, 'GET', `/api/leases${query({ holder: opt.holder, resource: opt.resource, project, limit: opt.limit })}`);
  },
});
