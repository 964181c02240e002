import { INSTANCE_OPTION, asAgent, call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: 'Mark a task this agent claimed as done (tasks waiting on it may become ready)',
  positionals: [{ name: 'id' }],
  options: { ...INSTANCE_OPTION },
  run: ({ pos, opt, ctx }) => call(asAgent(ctx, opt.instance), 'POST', `/api/tasks/${seg(pos.id)}/complete`, { retrySafe: true }),
});
