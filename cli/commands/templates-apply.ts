import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Apply a template to a project',
  details: 'A `rules` template imports its rules into the project (accepted at once); any other kind is stored as the spec `<project>/<template id>`.',
  examples: [['Give a project the go rules', '$0 templates apply go-rules --project web']],
  positionals: [{ name: 'id' }],
  options: {
    project: { description: 'The target project', required: true },
  },
  run: ({ pos, opt, ctx }) => call(ctx, 'POST', `/api/templates/${seg(pos.id)}/apply`, { body: JSON.stringify({ project: opt.project }) }),
});
