import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Create a token with a role and scopes (admin only); the token is shown this once',
  details:
    'Roles: admin, agent (registers instances and acts as them), reader (reads, history, subscriptions). Scopes are comma-separated: project:<name>, state:<key glob>, topic:<event glob>; none = what the role reaches. --ttl is seconds or a duration like 90d, 12h, 30m (default: never expires). The reply holds `token`: the server keeps only its hash, so store it now.',
  examples: [
    ['A read-only token for a dashboard, for 90 days', '$0 token create --name dash --role reader --ttl 90d'],
    ['An agent token limited to one project', '$0 token create --name web-ci --role agent --scopes "project:web,state:web/*,topic:web.*"'],
  ],
  positionals: [],
  options: {
    name: { description: 'What the token is for (shown in the list)', required: true },
    role: { description: 'admin, agent or reader', required: true },
    scopes: { description: 'Comma-separated scopes, e.g. "project:web,topic:web.*"' },
    ttl: { description: 'Lifetime: seconds, or like 90d, 12h, 30m (default: none)' },
  },
  run: ({ opt, ctx }) => {
    const body: Record<string, unknown> = { name: opt.name, role: opt.role };
    if (opt.scopes !== undefined) body.scopes = opt.scopes.split(',').filter((s) => s !== '');
    if (opt.ttl !== undefined) body.ttl = /^\d+$/.test(opt.ttl) ? Number(opt.ttl) : opt.ttl;
    return call(ctx, 'POST', '/api/tokens', { retrySafe: true, body: JSON.stringify(body) });
  },
});
