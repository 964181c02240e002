import { INSTANCE_OPTION, UsageError, asAgent, call, commaList, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Lease files (path globs) for this agent before editing them; exit 1 on a conflict',
  details:
    'Resources are path globs relative to the repository root, separated by commas: `*` and `?` stay within one directory, `**` crosses directories (`src/**/*.ts`). ' +
    'Exclusive by default: refused (409, exit 1, the conflicting leases printed) when another agent holds an overlapping lease; nothing is taken then. ' +
    'The lease lasts while this agent is alive (it ends when the agent goes stale or is deregistered); --ttl bounds it further (renewed by heartbeats and `lease renew`). Needs an agent identity: --instance or KOOR_INSTANCE.',
  examples: [
    ['Lease a package and its docs', `$0 lease acquire 'src/api/**,docs/api.md' --reason 'task 17: pagination'`],
    ['Read-only (shared) lease for an hour', `$0 lease acquire 'schema/*.sql' --shared --ttl 1h`],
  ],
  positionals: [{ name: 'resources' }],
  options: {
    shared: { description: 'Shared: only exclusive leases of others conflict with it', boolean: true },
    ttl: { description: 'Upper bound of its life, e.g. 30m or 2h (default: as long as this agent lives)' },
    reason: { description: 'Why (shown to agents it blocks)' },
    ...INSTANCE_OPTION,
  },
  run: ({ pos, opt, ctx }) => {
    const resources = commaList(pos.resources);
    if (resources.length === 0) throw new UsageError('expected at least one resource');
    const body: Record<string, unknown> = { resources, exclusive: !opt.shared };
    if (opt.ttl !== undefined) body.ttl = opt.ttl;
    if (opt.reason !== undefined) body.reason = opt.reason;
    return call(asAgent(ctx, opt.instance), 'POST', '/api/leases', { retrySafe: true, body: JSON.stringify(body) });
  },
});
