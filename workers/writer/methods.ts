import { threadId } from 'node:worker_threads';
import type { ReqOf, ResOf } from '../../schemas/rpc/envelope.js';
import type { Event, WriterMethod, WriterMethods } from '../../schemas/rpc/writer.js';
import { fault } from './fault.js';
import type { Driver, Tx } from './sql.js';
import { complianceStore } from './stores/compliance.js';
import { eventStore } from './stores/events.js';
import { instanceStore } from './stores/instances.js';
import { leaseStore } from './stores/leases.js';
import { messageStore } from './stores/messages.js';
import { opsStore } from './stores/ops.js';
import { ruleStore } from './stores/rules.js';
import { specStore } from './stores/specs.js';
import { stateStore } from './stores/state.js';
import { taskStore } from './stores/tasks.js';
import { templateStore } from './stores/templates.js';
import { webhookStore } from './stores/webhooks.js';

export type Handler<K extends WriterMethod> = (tx: Tx, req: ReqOf<WriterMethods, K>) => Promise<ResOf<WriterMethods, K>>;
export type Handlers = { [K in WriterMethod]: Handler<K> };

export interface MethodOptions {
  testHooks?: boolean;
  stateHistoryKeep?: number;
  webhookBacklogMax?: number;
  webhookDisableAfter?: number;
}

/**
 * The writer's method table, for both backends: each method's store, and the steps that cross
 * domains — an agent that goes stale or deregisters lets go of its leases and tasks (SPEC §8.8),
 * a deregistered one's inbox goes with it (issue 28), a heartbeat renews its leases.
 */
export function writerMethods(driver: Driver, opts: MethodOptions = {}) {
  const state = stateStore(opts.stateHistoryKeep ?? 0);
  const specs = specStore();
  const events = eventStore({ webhookBacklogMax: opts.webhookBacklogMax ?? 10_000 });
  const instances = instanceStore(events);
  const leases = leaseStore(events);
  const tasks = taskStore(events);
  const messages = messageStore(events);
  const rules = ruleStore();
  const templates = templateStore();
  const compliance = complianceStore();
  const webhooks = webhookStore({ disableAfter: opts.webhookDisableAfter ?? 10 });
  const ops = opsStore();
  const letGo = async (tx: Tx, holder: string, why: 'stale' | 'deregistered'): Promise<Event[]> => [
    ...(await leases.releaseHolder(tx, holder, why)),
    ...(await tasks.releaseHolder(tx, holder, why)),
  ];
  const handlers: Handlers = {
    'sys.ping': async (tx) => ({ threadId, schema_version: await driver.schemaVersion(tx) }),
    'sys.sleep': async (tx, req) => {
      if (!opts.testHooks) throw fault('UNKNOWN_METHOD', 'sys.sleep');
      await driver.sleep(tx, req.ms);
      return {};
    },
    'db.vacuum': (tx, req) => driver.vacuum(tx, req.pages),
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
      // A heartbeat (or activate) is the sign of life that renews the holder's TTL leases.
      if (req.op !== 'touch') await leases.renewHolder(tx, req.id);
      return r;
    },
    'instances.update': instances.update,
    'instances.deregister': async (tx, req) => {
      const r = await instances.deregister(tx, req);
      // Only deregistration drops the inbox: a stale agent may come back and read it.
      await messages.dropInbox(tx, req.id);
      return { ...r, events: await letGo(tx, req.id, 'deregistered') };
    },
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
    'messages.send': messages.send,
    'inbox.mark_read': messages.markRead,
    'inbox.ack': messages.ack,
    'messages.prune': messages.prune,
  };
  return { handlers, endBatch: (committed: boolean) => state.endBatch(committed) };
}
