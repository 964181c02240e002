import { INSTANCE_OPTION, asAgent, call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Give a claimed task back, unfinished: it is ready for another agent',
  positionals: [{ name: 'id' }],
  options: {
    reason: { description: 'Why (kept on the task)' },
    ...INSTANCE_OPTION,
  },
  run: ({ pos, opt, ctx }) => call(asAgent(ctx, opt.instance), 'POST', `/api/tasks/${seg(pos.id)}/release`, { retrySafe: true, body: JSON.stringify({ reason: opt.reason ?? '' }) }),
});
