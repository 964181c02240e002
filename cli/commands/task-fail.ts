import { INSTANCE_OPTION, asAgent, call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Report a claimed task as failed: back to ready while it has attempts left, else failed',
  positionals: [{ name: 'id' }],
  options: {
    reason: { description: 'What went wrong (kept on the task)' },
    permanent: { description: 'Failed for good, whatever the attempts left', boolean: true },
    ...INSTANCE_OPTION,
  },
  run: ({ pos, opt, ctx }) =>
    call(asAgent(ctx, opt.instance), 'POST', `/api/tasks/${seg(pos.id)}/fail`, { retrySafe: true, body: JSON.stringify({ reason: opt.reason ?? '', retry: !opt.permanent }) }),
});
