import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Register an agent instance (status pending); prints its id and token',
  examples: [['Register', `$0 register frontend --workspace ~/web --intent 'build login page'`]],
  positionals: [{ name: 'name' }],
  options: {
    workspace: { description: 'Workspace path or name' },
    intent: { description: 'What the agent is working on' },
    stack: { description: 'Technology stack' },
  },
  async run({ pos, opt, ctx }) {
    const body: Record<string, string> = { name: pos.name };
    if (opt.workspace !== undefined) body.workspace = opt.workspace;
    if (opt.intent !== undefined) body.intent = opt.intent;
    if (opt.stack !== undefined) body.stack = opt.stack;
    return call(ctx, 'POST', '/api/instances/register', { retrySafe: true, body: JSON.stringify(body) });
  },
});
