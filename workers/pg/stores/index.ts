import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Event, WriterMethod, WriterMethods } from '../../../schemas/rpc/writer.js';
import { pgComplianceStore } from './compliance.js';
import { pgEventStore } from './events.js';
import { pgInstanceStore } from './instances.js';
import { pgLeaseStore } from './leases.js';
import { pgOpsStore } from './ops.js';
import { pgRuleStore } from './rules.js';
import { pgSpecStore } from './specs.js';
import { pgStateStore } from './state.js';
import { pgTaskStore } from './tasks.js';
import { pgTemplateStore } from './templates.js';
import { pgWebhookStore } from './webhooks.js';

/** A writer method on PostgreSQL: runs inside the batch's transaction. */
export type PgHandler<K extends WriterMethod> = (tx: TransactionSql, req: ReqOf<WriterMethods, K>) => Promise<ResOf<WriterMethods, K>>;
export type PgHandlers = { [K in WriterMethod]: PgHandler<K> };

export interface PgStoreOptions {
  stateHistoryKeep?: number;
  webhookBacklogMax?: number;
  webhookDisableAfter?: number;
}

/**
 * Every writer method on PostgreSQL except the dispatcher's own (sys.*, db.vacuum), wired as
 * workers/writer/dispatch.ts wires the SQLite stores: the same cross-domain steps (an agent that
 * goes stale or deregisters lets go of its leases and tasks; a heartbeat renews its leases).
 */
export function pgStores(opts: PgStoreOptions) {
  const state = pgStateStore(opts.stateHistoryKeep ?? 0);
  const specs = pgSpecStore();
  const events = pgEventStore({ webhookBacklogMax: opts.webhookBacklogMax ?? 10_000 });
  const instances = pgInstanceStore(events);
  const leases = pgLeaseStore(events);
  const tasks = pgTaskStore(events);
  const rules = pgRuleStore();
  const templates = pgTemplateStore();
  const compliance = pgComplianceStore();
  const webhooks = pgWebhookStore({ disableAfter: opts.webhookDisableAfter ?? 10 });
  const ops = pgOpsStore();
  const letGo = async (tx: TransactionSql, holder: string, why: 'stale' | 'deregistered'): Promise<Event[]> => [
    ...(await leases.releaseHolder(tx, holder, why)),
    ...(await tasks.releaseHolder(tx, holder, why)),
  ];
  const handlers: Omit<PgHandlers, 'sys.ping' | 'sys.sleep' | 'db.vacuum'> = {
    'state.put': state.put,
    'state.delete': state.delete,
    'state.rollback': state.rollback,
    'state.prune_history': state.pruneHistory,
    'spec.put': specs.put,
    'spec.delete': specs.delete,
    'events.publish': events.publish,
    'events.prune': events.prune,
    'instances.register': instances.register,
    'instances.touch': async (tx, req) => {
      const r = await instances.touch(tx, req);
      if (req.op !== 'touch') await leases.renewHolder(tx, req.id);
      return r;
    },
    'instances.update': instances.update,
    'instances.deregister': async (tx, req) => ({ ...(await instances.deregister(tx, req)), events: await letGo(tx, req.id, 'deregistered') }),
    'instances.mark_stale': async (tx, req) => {
      const r = await instances.markStale(tx, req);
      const released: Event[] = [];
      for (const i of r.stale) released.push(...(await letGo(tx, i.id, 'stale')));
      return { stale: r.stale, events: [...r.events, ...released] };
    },
    'leases.acquire': leases.acquire,
    'leases.renew': leases.renew,
    'leases.release': leases.release,
    'leases.expire': leases.expire,
    'tasks.create': tasks.create,
    'tasks.claim': tasks.claim,
    'tasks.complete': tasks.complete,
    'tasks.fail': tasks.fail,
    'tasks.release': tasks.release,
    'rules.propose': rules.propose,
    'rules.replace': rules.replace,
    'rules.decide': rules.decide,
    'rules.delete': rules.delete,
    'rules.import': rules.import,
    'templates.create': templates.create,
    'templates.delete': templates.delete,
    'compliance.record': compliance.record,
    'webhooks.create': webhooks.create,
    'webhooks.delete': webhooks.delete,
    'webhooks.settle': webhooks.settle,
    'agent_metrics.add': ops.addMetrics,
    'llm.record': ops.recordLlm,
    'ops.prune': ops.prune,
  };
  return { handlers, endBatch: (committed: boolean) => state.endBatch(committed) };
}
