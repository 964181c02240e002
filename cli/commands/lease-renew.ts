import { INSTANCE_OPTION, asAgent, call, defineCommand, seg } from '../core.js';

export default defineCommand({
  description: "Renew one of this agent's leases: its TTL runs from now again",
  positionals: [{ name: 'id' }],
  options: {
    ttl: { description: 'A new TTL, e.g. 30m (default: the one it has)' },
    ...INSTANCE_OPTION,
  },
  run: ({ pos, opt, ctx }) =>
    call(asAgent(ctx, opt.instance), 'POST', `/api/leases/${seg(pos.id)}/renew`, opt.ttl === undefined ? { retrySafe: true } : { retrySafe: true, body: JSON.stringify({ ttl: opt.ttl }) }),
});
