import { call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: "Show a task's checkpoints, oldest first",
  positionals: [{ name: 'id' }],
  options: {},
  run: ({ pos, ctx }) => call(ctx, 'GET', `/api/tasks/${seg(pos.id)}/checkpoints`),
});
