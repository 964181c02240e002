import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'LLM usage records, newest first',
  details: 'Only the first of --instance, --project, --session applies.',
  examples: [['This week of one project', '$0 llm usage --project api --from 2026-02-09']],
  positionals: [],
  options: {
    instance: { description: 'Only this instance id' },
    project: { description: 'Only this project' },
    session: { description: 'Only this session tag' },
    from: { description: 'Not before this time' },
    to: { description: 'Not after this time' },
    limit: { description: 'At most N records (default 50)' },
  },
  run: ({ opt, ctx }) =>
    call(ctx, 'GET', `/api/llm/usage${query({ instance: opt.instance, project: opt.project, session_tag: opt.session, from: opt.from, to: opt.to, limit: opt.limit })}`),
});
