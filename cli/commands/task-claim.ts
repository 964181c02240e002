import { INSTANCE_OPTION, asAgent, call, defineCommand } from '../core.js';

export default defineCommand({
  description: "Take the next ready task of a project (exit 1 when none is ready)",
  details: 'Hands this agent the best ready task it can do (deps done, capabilities matched), atomically: no other agent gets the same task. Needs an agent identity: --instance or KOOR_INSTANCE.',
  examples: [['Work through a queue', '$0 task claim web']],
  positionals: [{ name: 'project' }],
  options: { ...INSTANCE_OPTION },
  run: ({ pos, opt, ctx }) => call(asAgent(ctx, opt.instance), 'POST', '/api/tasks/claim', { retrySafe: true, body: JSON.stringify({ project: pos.project }) }),
});
