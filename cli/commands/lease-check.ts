import { call, defineCommand, query } from '../core.js';
import { repoProject } from '../project.js';

export default defineCommand({
  description: 'Who holds a file: the live leases covering a path (relative to the repository root) in this repository\'s project',
  positionals: [{ name: 'path' }],
  options: {
    project: { description: "The project (default: this directory's, as `koor-cli status` shows it)" },
  },
  run: ({ pos, opt, ctx }) => call(ctx, 'GET', `/api/leases/check${query({ path: pos.path, project: opt.project ?? repoProject(ctx.cwd).project })}`),
});
