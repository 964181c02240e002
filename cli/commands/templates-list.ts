import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'List templates (without their data), newest first',
  examples: [['Rules templates tagged go', '$0 templates list --kind rules --tag go']],
  positionals: [],
  options: {
    kind: { description: 'Only this kind (rules, contracts, bundle, …)' },
    tag: { description: 'Only templates carrying this tag' },
  },
  run: ({ opt, ctx }) => call(ctx, 'GET', `/api/templates${query({ kind: opt.kind, tag: opt.tag })}`),
});
