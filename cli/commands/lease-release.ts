import { INSTANCE_OPTION, asAgent, call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: "Release one of this agent's leases",
  positionals: [{ name: 'id' }],
  options: { ...INSTANCE_OPTION },
  run: ({ pos, opt, ctx }) => call(asAgent(ctx, opt.instance), 'DELETE', `/api/leases/${seg(pos.id)}`),
});
