import { sortedJson, type AuditTag, type ReqOf, type ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { inserting, sql, type Tx } from '../sql.js';
import { storageNow } from '../../../schemas/db/time.js';

type Entry = { action: string; resource: string; detail: string };
type Req = Record<string, unknown>;
type Res = Record<string, unknown>;

const s = (v: unknown): string => String(v ?? '');

/**
 * The audit entry of each audited writer method, from its request and result. A
 * method absent here (or a request it does not describe, such as a heartbeat) records nothing.
 */
const DERIVE: Readonly<Record<string, (req: Req, res: Res) => Entry | null>> = {
  // One key: sorted as it is (sortedJson's sort and copy were a tenth of what a PUT allocated in the writer).
  'state.put': (req, res) => ({ action: 'state.put', resource: s(req.key), detail: JSON.stringify({ version: res.version }) }),
  'state.delete': (req) => ({ action: 'state.delete', resource: s(req.key), detail: '{}' }),
  'state.rollback': (req, res) => ({ action: 'state.rollback', resource: s(req.key), detail: sortedJson({ from_version: req.version, new_version: res.version }) }),
  'specs.put': (req, res) => ({ action: 'spec.put', resource: `${s(req.project)}/${s(req.name)}`, detail: sortedJson({ version: res.version }) }),
  'specs.delete': (req) => ({ action: 'spec.delete', resource: `${s(req.project)}/${s(req.name)}`, detail: '{}' }),
  'instances.register': (req, res) => ({ action: 'instance.register', resource: s(res.id), detail: sortedJson({ workspace: req.workspace }) }),
  'instances.touch': (req) => (req.op === 'activate' ? { action: 'instance.activate', resource: s(req.id), detail: '{}' } : null),
  'instances.deregister': (req) => ({ action: 'instance.deregister', resource: s(req.id), detail: '{}' }),
  'instances.update': (req, res) => (req.capabilities === undefined ? null : { action: 'instance.capabilities', resource: s(req.id), detail: sortedJson({ capabilities: res.capabilities }) }),
  'rules.propose': (req) => ({ action: 'rule.propose', resource: `${s(req.project)}/${s(req.rule_id)}`, detail: '{}' }),
  'rules.decide': (req) => ({ action: req.status === 'accepted' ? 'rule.accept' : 'rule.reject', resource: `${s(req.project)}/${s(req.rule_id)}`, detail: '{}' }),
  'rules.delete': (req) => ({ action: 'rule.delete', resource: `${s(req.project)}/${s(req.rule_id)}`, detail: '{}' }),
  'rules.import': (_req, res) => ({ action: 'rules.import', resource: 'bulk', detail: sortedJson({ count: res.imported }) }),
  'webhooks.create': (req) => ({ action: 'webhook.create', resource: s(req.id), detail: sortedJson({ url: req.url }) }),
  'webhooks.delete': (req) => ({ action: 'webhook.delete', resource: s(req.id), detail: '{}' }),
  'templates.create': (req) => ({ action: 'template.create', resource: s(req.id), detail: sortedJson({ kind: req.kind }) }),
  'templates.delete': (req) => ({ action: 'template.delete', resource: s(req.id), detail: '{}' }),
  'leases.acquire': (req, res) => {
    const lease = res.lease as { id: string } | undefined;
    // Its keys in order already (an edit's auto-lease is the commonest audited write).
    return lease ? { action: 'lease.acquire', resource: lease.id, detail: JSON.stringify({ exclusive: req.exclusive, project: req.project, resources: req.resources }) } : null;
  },
  'leases.release': (req) => ({ action: 'lease.release', resource: s(req.id), detail: '{}' }),
  'tasks.create': (req, res) => ({ action: 'task.create', resource: s((res.task as Res).id), detail: sortedJson({ project: req.project }) }),
  'tasks.claim': (req, res) => (res.task ? { action: 'task.claim', resource: s((res.task as Res).id), detail: sortedJson({ project: req.project }) } : null),
  'tasks.complete': (req) => ({ action: 'task.complete', resource: s(req.id), detail: '{}' }),
  'tasks.fail': (req, res) => ({ action: 'task.fail', resource: s(req.id), detail: sortedJson({ reason: req.reason, status: (res.task as Res).status }) }),
  'tasks.release': (req) => ({ action: 'task.release', resource: s(req.id), detail: '{}' }),
  'messages.send': (_req, res) => {
    const m = res.message as Res;
    return { action: 'message.send', resource: s(m.id), detail: sortedJson({ recipients: (m.recipients as unknown[]).length, thread_id: m.thread_id }) };
  },
  'hooks.bind': (req, res) => {
    if (!res.created) return null;
    return { action: 'instance.register', resource: s((res.instance as Res).id), detail: sortedJson({ client: req.client, workspace: req.workspace }) };
  },
  'hooks.denied': (req) => ({ action: 'lease.denied', resource: s(req.lease_id), detail: sortedJson({ path: req.path, tool: req.tool, holder: req.holder_name, ...(req.project === undefined ? {} : { project: req.project }) }) }),
  'hooks.end': (req, res) => ({ action: 'instance.deregister', resource: s(res.instance_id), detail: sortedJson({ session_id: req.session_id }) }),
  'tokens.create': (req, res) => ({ action: 'token.create', resource: s(req.id), detail: sortedJson({ expires_at: res.expires_at, name: req.name, role: req.role, scopes: req.scopes }) }),
  'tokens.revoke': (req) => ({ action: 'token.revoke', resource: s(req.id), detail: '{}' }),
  'messages.ack': (req) => ({ action: 'message.ack', resource: s(req.id), detail: '{}' }),
  // One entry per call, of the records it stored (a batch's first names it; a retried batch stored nothing and records nothing).
  'llm.record': (req, res) => {
    const done = (res.records as Array<{ duplicate: boolean }>).map((r, i) => ({ r, q: (req.records as Req[])[i]! })).filter((x) => !x.r.duplicate).map((x) => x.q);
    if (done.length === 0) return null;
    const sum = (k: string) => done.reduce((a, q) => a + Number(q[k]), 0);
    const first = done[0]!;
    const detail = { cost_usd: sum('cost_usd'), tokens_in: sum('tokens_in'), tokens_out: sum('tokens_out'), ...(done.length > 1 ? { records: done.length } : {}) };
    return { action: 'llm.usage', resource: `${s(first.project)}/${s(first.model)}`, detail: sortedJson(detail) };
  },
  'budget.put': (req) => ({ action: 'budget.put', resource: s(req.scope), detail: sortedJson({ period: req.period, tokens: req.tokens, usd: req.usd, warn_at: req.warn_at }) }),
  'budget.delete': (req, res) => (res.deleted ? { action: 'budget.delete', resource: s(req.scope), detail: '{}' } : null),
};

/** The audit entry a write records (both backends), or null when it records none. */
export function auditEntry(method: string, req: unknown, res: unknown, tag: AuditTag): Entry | null {
  return tag.action ? { action: tag.action, resource: tag.resource ?? '', detail: tag.detail ?? '{}' } : (DERIVE[method]?.(req as Req, res as Res) ?? null);
}

/** The append-only audit log: one row per audited write, in that write's transaction. */
export const AUDIT_INSERT = sql("INSERT INTO audit_log (timestamp, actor, action, resource, detail, outcome) VALUES (?, ?, ?, ?, ?, 'success')");

/** One audit row's parameters, as AUDIT_INSERT takes them. */
export type AuditRow = [timestamp: string, actor: string, action: string, resource: string, detail: string];

/** Row counts of the multi-row inserts, largest first: a batch's rows go in at most a few statements of these sizes. */
const CHUNKS = [64, 16, 4, 1] as const;
const INSERT_ROWS = new Map(
  CHUNKS.map((n) => [n, sql(`INSERT INTO audit_log (timestamp, actor, action, resource, detail, outcome) VALUES ${Array.from({ length: n }, () => "(?, ?, ?, ?, ?, 'success')").join(', ')}`)]),
);

/**
 * The audit rows of a batch's writes, inserted together at its end: one statement per
 * up to 64 rows, in the order of the writes, so the per-statement work (AUTOINCREMENT's sequence
 * row read and rewritten, the statement's start and end) is paid a few times per batch, not once
 * per write. Still in the batch's transaction: committed with the writes they describe or not at all.
 */
export function insertAuditRows(send: (q: ReturnType<typeof sql>, ...params: string[]) => void, rows: readonly AuditRow[]): void {
  let i = 0;
  for (const n of CHUNKS) {
    const q = INSERT_ROWS.get(n)!;
    while (rows.length - i >= n) {
      const params: string[] = [];
      for (let k = i; k < i + n; k++) params.push(...rows[k]!);
      send(q, ...params);
      i += n;
    }
  }
}

const INSERT_DENIED = inserting("INSERT INTO audit_log (timestamp, actor, action, resource, detail, outcome) VALUES (?, ?, 'auth.denied', ?, ?, 'denied')");

/** Refusals of the front's rules, audited as `auth.denied`, outcome `denied`. */
export function auditStore() {
  return {
    async denied(tx: Tx, req: ReqOf<WriterMethods, 'audit.denied'>): Promise<ResOf<WriterMethods, 'audit.denied'>> {
      return { id: await tx.insert(INSERT_DENIED, storageNow(), req.actor, req.resource, req.detail) };
    },
  };
}
