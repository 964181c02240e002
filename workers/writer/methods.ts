import { threadId } from 'node:worker_threads';
import type { ReqOf, ResOf } from '../../schemas/rpc/envelope.js';
import type { Event, WriterMethod, WriterMethods } from '../../schemas/rpc/writer.js';
import { fault } from './fault.js';
import type { Driver, Tx } from './sql.js';
import type { Awaitable } from '../../src/shared/awaitable.js';
import { agentMetricStore } from './stores/agent-metrics.js';
import { auditStore } from './stores/audit.js';
import { complianceStore } from './stores/compliance.js';
import { eventStore } from './stores/events.js';
import { hookStore } from './stores/hooks.js';
import { instanceStore } from './stores/instances.js';
import { leaseStore } from './stores/leases.js';
import { llmStore } from './stores/llm.js';
import { messageStore } from './stores/messages.js';
import { retentionStore } from './stores/system.js';
import { ruleStore } from './stores/rules.js';
import { specStore } from './stores/specs.js';
import { stateStore } from './stores/state.js';
import { endChanges, pruneChanges } from './stores/changes.js';
import { txnStore } from './stores/txn.js';
import { taskStore } from './stores/tasks.js';
import { templateStore } from './stores/templates.js';
import { tokenStore } from './stores/tokens.js';
import { webhookStore } from './stores/webhooks.js';

/** A method's work in the batch transaction: a value at once where SQLite answers at once (a PUT: no promise per layer), else a promise. */
export type Handler<K extends WriterMethod> = (tx: Tx, req: ReqOf<WriterMethods, K>) => Awaitable<ResOf<WriterMethods, K>>;
export type Handlers = { [K in WriterMethod]: Handler<K> };

export interface MethodOptions {
  testHooks?: boolean;
  stateHistoryKeep?: number;
  webhookBacklogMax?: number;
  webhookDisableAfter?: number;
}

/**
 * The writer's method table, for both backends: each method's store, and the steps that cross
 * domains — an agent that goes stale or deregisters lets go of its leases and tasks,
 * a deregistered one's inbox and hook sessions go with it, a heartbeat renews its
 * leases, a hook session binds, shows progress and ends through its instance, and
 * the LLM usage its session recorded before binding becomes its agent's.
 */
export function writerMethods(driver: Driver, opts: MethodOptions = {}) {
  const state = stateStore(opts.stateHistoryKeep ?? 0);
  const specs = specStore();
  const events = eventStore({ webhookBacklogMax: opts.webhookBacklogMax ?? 10_000 });
  const instances = instanceStore(events);
  const leases = leaseStore(events);
  const tasks = taskStore(events, leases);
  const messages = messageStore(events);
  const rules = ruleStore();
  const templates = templateStore();
  const compliance = complianceStore();
  const webhooks = webhookStore({ disableAfter: opts.webhookDisableAfter ?? 10 });
  const agentMetrics = agentMetricStore();
  const retention = retentionStore();
  const audit = auditStore();
  const llm = llmStore(events);
  const tokens = tokenStore();
  const hooks = hookStore(events);
  /**
   * X-Koor-Fence on a state write: refused when a live lease on the key, or an earlier
   * fenced write of it, carries a larger token (the writer lost its lease to a newer holder).
   */
  const checkFence = async (tx: Tx, key: string, fence: number): Promise<void> => {
    const current = Math.max(await leases.fenceOver(tx, key), await state.fenceOf(tx, key));
    if (fence < current) throw fault('FENCE_OUTDATED', `key ${key}`, fence, current);
  };
  const txns = txnStore(state, events, checkFence);
  const letGo = async (tx: Tx, holder: string, why: 'stale' | 'deregistered'): Promise<Event[]> => {
    // Its ephemeral state keys go with it (Consul sessions' semantics).
    await state.dropOwned(tx, holder);
    return [...(await leases.releaseHolder(tx, holder, why)), ...(await tasks.releaseHolder(tx, holder, why))];
  };
  const deregister = async (tx: Tx, id: string): Promise<{ id: string; events: Event[] }> => {
    const r = await instances.deregister(tx, { id });
    // Only deregistration drops the inbox: a stale agent may come back and read it.
    await messages.dropInbox(tx, id);
    // A session bound to it binds anew at its next hook.
    await hooks.dropFor(tx, id);
    return { ...r, events: await letGo(tx, id, 'deregistered') };
  };
  /** A coding-agent session ends (SessionEnd, or its client killed long ago): its binding dropped, its agent deregistered. */
  const endSession = async (tx: Tx, sessionId: string): Promise<{ instance_id: string; events: Event[] }> => {
    const s = await hooks.remove(tx, sessionId);
    await llm.ended(tx, s.session_id, s.instance_id, s.project);
    // Deregistered by hand before the session ended: nothing more to let go.
    if (!(await hooks.instanceExists(tx, s.instance_id))) return { instance_id: s.instance_id, events: [] };
    return { instance_id: s.instance_id, events: (await deregister(tx, s.instance_id)).events };
  };
  const handlers: Handlers = {
    'sys.ping': async (tx) => ({ threadId, schema_version: await driver.schemaVersion(tx) }),
    'sys.sleep': async (tx, req) => {
      if (!opts.testHooks) throw fault('UNKNOWN_METHOD', 'sys.sleep');
      await driver.sleep(tx, req.ms);
      return {};
    },
    'db.vacuum': (tx, req) => driver.vacuum(tx, req.pages),
    'state.put': (tx, req) => (req.fence === undefined ? state.put(tx, req) : checkFence(tx, req.key, req.fence).then(() => state.put(tx, req))),
    'state.delete': async (tx, req) => {
      if (req.fence !== undefined) await checkFence(tx, req.key, req.fence);
      return state.delete(tx, req);
    },
    'state.rollback': async (tx, req) => {
      if (req.fence !== undefined) await checkFence(tx, req.key, req.fence);
      return state.rollback(tx, req);
    },
    'state.prune_history': state.pruneHistory,
    'state.expire': state.expire,
    'state.prune_changes': (tx, req) => pruneChanges(tx, req.keep, req.chunk),
    'state.txn': txns.txn,
    'specs.put': specs.put,
    'specs.delete': specs.delete,
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
    'instances.rekey': instances.rekey,
    'instances.deregister': (tx, req) => deregister(tx, req.id),
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
    'leases.shift': leases.shift,
    'tasks.create': tasks.create,
    'tasks.claim': tasks.claim,
    'tasks.checkpoint': tasks.checkpoint,
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
    'webhooks.seal_secret': webhooks.sealSecret,
    'agent_metrics.add': agentMetrics.addMetrics,
    'llm.record': llm.record,
    'budget.put': llm.putBudget,
    'budget.delete': llm.deleteBudget,
    'ops.prune': retention.prune,
    'ops.trim': retention.trim,
    'audit.denied': audit.denied,
    'messages.send': messages.send,
    'messages.mark_read': messages.markRead,
    'messages.ack': messages.ack,
    'messages.prune': messages.prune,
    'tasks.prune': tasks.prune,
    'hooks.bind': async (tx, req) => {
      const bound = await hooks.live(tx, req.session_id);
      if (bound) return { session: bound, instance: await instances.touch(tx, { id: bound.instance_id, op: 'heartbeat' }), created: false };
      const registered = await instances.register(tx, { name: req.name, workspace: req.workspace, intent: '', stack: '', capabilities: [], ...(req.token_id !== undefined ? { token_id: req.token_id } : {}) });
      const instance = await instances.touch(tx, { id: registered.id, op: 'activate' });
      const session = await hooks.insert(tx, req, registered.id);
      // Its LLM usage that arrived before this hook (OpenTelemetry) becomes the agent's.
      await llm.attribute(tx, req.session_id, registered.id, session.project);
      return { session, instance, created: true };
    },
    'hooks.progress': async (tx, req) => {
      // A shell command's mark is the session's row alone: its hooks' progress, written at most every touch interval, is the heartbeat.
      if (req.busy !== undefined) return { found: await hooks.progress(tx, req.session_id, req.busy) };
      const s = await hooks.get(tx, req.session_id);
      if (!s || !(await hooks.progress(tx, req.session_id))) return { found: false };
      // As a heartbeat: back to active if it had gone stale, its TTL leases renewed.
      if (!(await hooks.instanceExists(tx, s.instance_id))) return { found: false };
      await instances.touch(tx, { id: s.instance_id, op: 'heartbeat' });
      await leases.renewHolder(tx, s.instance_id);
      return { found: true };
    },
    'hooks.advance': hooks.advance,
    'hooks.end': (tx, req) => endSession(tx, req.session_id),
    'hooks.prune_stale': async (tx, req) => {
      const ended: string[] = [];
      const events: Event[] = [];
      for (const s of await hooks.stale(tx, req.before, req.chunk)) {
        const r = await endSession(tx, s.session_id);
        events.push(...r.events);
        ended.push(r.instance_id);
      }
      return { ended, events, more: ended.length === req.chunk };
    },
    'hooks.denied': hooks.denied,
    'tokens.create': tokens.create,
    'tokens.rekey': tokens.rekey,
    'tokens.revoke': tokens.revoke,
  };
  return {
    handlers,
    endBatch: (committed: boolean) => {
      state.endBatch(committed);
      endChanges(committed);
    },
  };
}
