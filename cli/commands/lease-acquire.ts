import { INSTANCE_OPTION, UsageError, asAgent, call, commaList, defineCommand, durationOption, printReply, request } from '../core.js';
import { repoProject } from '../project.js';

/** How often `--wait` asks again while the files are held. */
const WAIT_RETRY_MS = 500;

export default defineCommand({
  description: 'Lease files (path globs) for this agent before editing them; exit 1 on a conflict',
  details:
    'Resources are path globs relative to the repository root, separated by commas, in the project of this directory\'s repository (--project to name another; see `koor-cli status`): `*` and `?` stay within one directory, `**` crosses directories (`src/**/*.ts`). ' +
    'Exclusive by default: refused (409, exit 1, the conflicting leases printed) when another agent holds an overlapping lease; nothing is taken then. ' +
    'With --wait the refusal is retried every half second until the lease is taken or the time is up (then the last refusal is printed, exit 1): a file is taken the moment it is free, where checking then editing could lose it to another agent in between. ' +
    'The lease lasts while this agent is alive (it ends when the agent goes stale or is deregistered); --ttl bounds it further (renewed by heartbeats and `lease renew`). Needs an agent identity: --instance or KOOR_INSTANCE.',
  examples: [
    ['Lease a package and its docs', `$0 lease acquire 'src/api/**,docs/api.md' --reason 'task 17: pagination'`],
    ['Read-only (shared) lease for an hour', `$0 lease acquire 'schema/*.sql' --shared --ttl 1h`],
    ['Wait up to 2 minutes for a shared file', `$0 lease acquire package.json --wait 2m`],
  ],
  positionals: [{ name: 'resources' }],
  options: {
    shared: { description: 'Shared: only exclusive leases of others conflict with it', boolean: true },
    ttl: { description: 'Upper bound of its life, e.g. 30m or 2h (default: as long as this agent lives)' },
    reason: { description: 'Why (shown to agents it blocks)' },
    wait: { description: 'While another agent holds them, keep trying this long (e.g. 90s, 2m) instead of failing at once' },
    project: { description: "The project (default: this directory's, as `koor-cli status` shows it)" },
    ...INSTANCE_OPTION,
  },
  run: async ({ pos, opt, ctx }) => {
    const resources = commaList(pos.resources);
    if (resources.length === 0) throw new UsageError('expected at least one resource');
    const waitMs = opt.wait === undefined ? 0 : durationOption('wait', opt.wait);
    const body: Record<string, unknown> = { resources, exclusive: !opt.shared, project: opt.project ?? repoProject(ctx.cwd).project };
    if (opt.ttl !== undefined) body.ttl = opt.ttl;
    if (opt.reason !== undefined) body.reason = opt.reason;
    const agent = asAgent(ctx, opt.instance);
    const send = { retrySafe: true, body: JSON.stringify(body) };
    if (waitMs === 0) return call(agent, 'POST', '/api/leases', send);
    const until = Date.now() + waitMs;
    for (;;) {
      const r = await request(agent.config, 'POST', '/api/leases', send);
      const left = until - Date.now();
      if (r.status !== 409 || left <= 0) return printReply(r, ctx.pretty);
      await new Promise((resolve) => setTimeout(resolve, Math.min(WAIT_RETRY_MS, left)));
    }
  },
});
