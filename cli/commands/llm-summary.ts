import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'LLM tokens and cost summed by instance, project, model or session tag',
  examples: [['Cost per model', '$0 llm summary --by model']],
  positionals: [],
  options: {
    by: { description: 'instance, project (default), model or session_tag' },
    from: { description: 'Not before this time' },
    to: { description: 'Not after this time' },
  },
  run: ({ opt, ctx }) => call(ctx, 'GET', `/api/llm/usage/summary${query({ group_by: opt.by, from: opt.from, to: opt.to })}`),
});
