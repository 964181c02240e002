import { call, defineCommand, query } from '../core.js';

export default defineCommand({
  description: 'List tasks by id, optionally of one project',
  examples: [
    ["A project's open work", '$0 task list web --status ready,blocked,claimed'],
    ["One agent's claims", '$0 task list --status claimed --claimed-by 1f0c…'],
  ],
  positionals: [{ name: 'project', optional: true }],
  options: {
    status: { description: 'Comma-separated: ready, blocked, claimed, done, failed' },
    'claimed-by': { description: 'Claimed (or last claimed) by this agent (instance id)' },
    limit: { description: 'At most this many (default 1000)' },
    after: { description: 'Only tasks with a larger id (the next page)' },
  },
  run: ({ pos, opt, ctx }) =>
    call(ctx, 'GET', `/api/tasks${query({ project: pos.project, status: opt.status, claimed_by: opt['claimed-by'], limit: opt.limit, after: opt.after })}`),
});
