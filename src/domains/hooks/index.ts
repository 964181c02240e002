import type { Domain, Platform } from '../domain.js';
import type { InstanceService } from '../instances/service.js';
import type { LeaseService } from '../leases/service.js';
import { touchIntervalMs } from '../../shared/limits.js';
import { hookRoutes } from './routes.js';
import { HookService } from './service.js';
import { NewsClock } from './news-clock.js';
import { withAuditTail } from './audit-tail.js';
import { then } from '../../shared/awaitable.js';

/** Coding-agent hooks: Claude Code's hook endpoint, the edit guard, the digests. */
export function hooksDomain(p: Platform, d: { leases: LeaseService; instances: InstanceService}): Domain & { hooks: HookService } {
  const r = p.readers;
  // Exact only where every write passes through this node (news-clock.ts).
  const clock = p.backend.othersWrite ? null : new NewsClock().listen(p.hub, p.writer);
  // Stored before this node started: not published here.
  if (clock) void then(r.hooks.newestEvent(), (id) => clock.seen(id));
  const hooks = new HookService({
    // One writer: the audit entries digests read are kept once for every session (audit-tail.ts).
    reader: clock ? withAuditTail(r.hooks) : r.hooks,
    messages: r.messages,
    instances: r.instances,
    tasks: r.tasks,
    leases: d.leases,
    writer: p.writer,
    remember: (i) => d.instances.remember(i),
    edits: p.config.hookEdits,
    autoLeaseIdleMs: p.config.autoLeaseIdleMs,
    touchMs: touchIntervalMs(p.config.livenessTimeoutMs),
    clock,
    feed: clock ? null : new NewsClock().listenFeed(p.hub),
    hub: p.hub,
    log: p.log.child({ component: 'hooks' }),
  });
  d.instances.onForget((id) => hooks.forgetInstance(id));
  return {
    hooks,
    routes: hookRoutes(hooks),
    close: () => hooks.close(),
    metrics: (m) => {
      m.labeled('koor_hook_calls_total', 'Coding-agent hook calls by event.', 'counter', () => [...hooks.stats.calls].map(([event, value]) => ({ labels: { event }, value })));
      m.counter('koor_hook_denials_total', 'Edits refused by a hook because another agent leases the file.', () => hooks.stats.denied);
      m.counter('koor_hook_unconfirmed_total', 'Edits refused by a hook because the lease could not be checked within its deadline (a stalled writer, a node cut off from the database).', () => hooks.stats.unconfirmed);
      m.counter('koor_hook_pull_first_total', 'Edits refused once because another agent let the file go after the session last pulled (pull first).', () => hooks.stats.pull_first);
      m.counter('koor_hook_auto_leases_total', 'Leases taken by a hook on the first edit of a free file (--hook-edits auto-lease).', () => hooks.stats.auto_leased);
      m.counter('koor_hook_digests_total', 'Digests put into a model context by hooks.', () => hooks.stats.digests);
      m.counter('koor_hook_kept_total', 'Hooks answered from what the node keeps, without a read or a wait: nothing to tell the model, nothing to write on its path (an edit of a file its agent leases, a turn with no news).', () => hooks.stats.kept);
      m.counter('koor_hook_quiet_total', 'Hooks answered "nothing new" without reading: the news clock had not moved for the session since it last read its news.', () => hooks.stats.quiet);
    },
  };
}
