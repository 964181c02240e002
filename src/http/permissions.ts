import { fail } from '../errors.js';
import { globMatch } from '../shared/glob.js';
import { pathGlobMatch } from '../shared/path-glob.js';
import type { Ctx, Role } from './context.js';

/**
 * Who may call what (issue 30), in one table beside the router: every REST route, and the
 * WebSocket routes, has a rule; the router refuses to mount a route without one, and
 * test/http/permissions.test.ts calls every route with every role to check the table holds.
 *
 * - `public`: no token (only /health).
 * - `read`: any role — reader, agent, admin.
 * - `write`: agent or admin; a reader may not.
 * - `self`: an agent on its own instance (the path's `:id`), or admin.
 * - `party`: an agent acting as an agent (its sender or recipients see a message), or admin — a
 *   token without an agent would act as the operator (send as `human`, read everyone's mail).
 * - `admin`: the operator only.
 *
 * A scoped token (created with `scopes`) reaches only the state keys, projects, event topics and
 * leased file paths its scopes name: a rule's `scope` says which of them a call touches, read from
 * the path, the query or the body; a call that touches anything outside its scopes — or a whole
 * collection it could not narrow to them — is refused, never answered with a silently empty list.
 * What only the stored object tells (a task's project, a lease's files, a message's recipients) is
 * checked by its handler with permitTargets.
 */

export type Access = 'public' | 'read' | 'write' | 'self' | 'party' | 'admin';

/** What a call touches: a state key, a project, an event topic, a leased file path (null: the whole collection). */
export interface Target {
  kind: 'state' | 'project' | 'topic' | 'path';
  name: string | null;
}

export interface Rule {
  readonly access: Access;
  /** The refusal says "<role> token may not <action>". */
  readonly action: string;
  /** For scoped tokens: what the call touches. `body` ones are read after the body is parsed. */
  readonly scope?: { readonly from: 'request' | 'body'; readonly target: (ctx: Ctx) => Target | readonly Target[] };
}

const decoded = (raw: string): string | null => {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
};
const query = (ctx: Ctx, name: string): string | null => {
  const v = new URLSearchParams(ctx.query).get(name);
  return v === null || v === '' ? null : v;
};
const body = (ctx: Ctx, name: string): string | null => {
  const v = (ctx.json as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' && v !== '' ? v : null;
};

const stateKey = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'state', name: decoded(ctx.url.slice('/api/state/'.length)) }) } as const;
/** A key prefix narrows a listing to it: `prefix=web/` reads as the keys `web/**`. */
const stateList = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'state', name: query(ctx, 'prefix') === null ? null : `${query(ctx, 'prefix')}**` }) } as const;
const projectParam = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'project', name: decoded(ctx.params[0] ?? '') }) } as const;
const projectQuery = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'project', name: query(ctx, 'project') }) } as const;
const projectBody = { from: 'body', target: (ctx: Ctx): Target => ({ kind: 'project', name: body(ctx, 'project') }) } as const;
const topicBody = { from: 'body', target: (ctx: Ctx): Target => ({ kind: 'topic', name: body(ctx, 'topic') }) } as const;
const topicQuery = (param: string) => ({ from: 'request', target: (ctx: Ctx): Target => ({ kind: 'topic', name: query(ctx, param) }) }) as const;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
/** The files a lease body names (none: the handler says what is missing). */
const leaseBody = (field: string) => ({ from: 'body', target: (ctx: Ctx): Target[] => strings((ctx.json as Record<string, unknown> | undefined)?.[field]).map((name) => ({ kind: 'path', name })) }) as const;
/** A lease listing narrowed to a file, or to the caller's own leases; else the whole collection. */
const leaseList = {
  from: 'request',
  target: (ctx: Ctx): Target[] | Target => {
    const holder = query(ctx, 'holder');
    if (holder !== null && holder === ctx.identity?.instanceId) return [];
    return { kind: 'path', name: query(ctx, 'resource') };
  },
} as const;
/**
 * The projects a message's `to` names (`project:<p>`; `*` is everyone: the whole collection). Agents
 * named by id or name are checked by the service once resolved (their workspace's project).
 */
const messageTo = {
  from: 'body',
  target: (ctx: Ctx): Target[] => {
    const to = (ctx.json as { to?: unknown } | undefined)?.to;
    return strings(typeof to === 'string' ? [to] : to).flatMap((e): Target[] => (e === '*' ? [{ kind: 'project', name: null }] : e.startsWith('project:') ? [{ kind: 'project', name: e.slice(8) }] : []));
  },
} as const;
/** Budgets narrowed to one (`scope=project:<p>`): a scoped token reads only its projects' budgets. */
const budgetQuery = {
  from: 'request',
  target: (ctx: Ctx): Target => {
    const scope = query(ctx, 'scope');
    return { kind: 'project', name: scope !== null && scope.startsWith('project:') ? scope.slice('project:'.length) : null };
  },
} as const;
const leasePath = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'path', name: query(ctx, 'path') }) } as const;

const r = (access: Access, action: string, scope?: Rule['scope']): Rule => (scope ? { access, action, scope } : { access, action });

/** Every route's rule, by `METHOD path` as the route is declared (as schemas/http/replies.ts names them). */
export const PERMISSIONS: Readonly<Record<string, Rule>> = {
  'GET /health': r('public', 'check health'),

  'GET /api/state': r('read', 'list state keys', stateList),
  'GET /api/state/watch': r('read', 'watch state', stateList),
  'GET /api/specs/watch': r('read', 'watch specs', projectQuery),
  // A scoped token: the route checks every key and topic of the transaction (src/domains/state/txn.ts).
  'POST /api/txn': r('write', 'run transactions'),
  'GET /api/state/*': r('read', 'read state', stateKey),
  'PUT /api/state/*': r('write', 'write state', stateKey),
  'POST /api/state/*': r('write', 'write state', stateKey),
  'DELETE /api/state/*': r('write', 'delete state', stateKey),
  'GET /api/specs/:project': r('read', 'read specs', projectParam),
  'GET /api/specs/:project/:name': r('read', 'read specs', projectParam),
  'PUT /api/specs/:project/:name': r('write', 'write specs', projectParam),
  'DELETE /api/specs/:project/:name': r('write', 'delete specs', projectParam),

  'POST /api/events/publish': r('write', 'publish events', topicBody),
  'GET /api/events/history': r('read', 'read event history', topicQuery('topic')),
  'GET /api/events/subscribe': r('read', 'subscribe to events', topicQuery('pattern')),

  'GET /api/instances': r('read', 'list agents'),
  'GET /api/instances/stale': r('read', 'list agents'),
  'GET /api/instances/:id': r('read', 'read agents'),
  'POST /api/instances/register': r('write', 'register agents'),
  'POST /api/instances/:id/activate': r('self', 'activate another agent'),
  'POST /api/instances/:id/heartbeat': r('self', 'heartbeat for another agent'),
  'POST /api/instances/:id/capabilities': r('self', "change another agent's capabilities"),
  'DELETE /api/instances/:id': r('self', 'deregister another agent'),
  'POST /api/liveness/check': r('admin', 'run the liveness check'),

  'POST /api/leases': r('write', 'take leases', leaseBody('resources')),
  'GET /api/leases': r('read', 'list leases', leaseList),
  'GET /api/leases/check': r('read', 'check leases', leasePath),
  'POST /api/leases/check': r('read', 'check leases', leaseBody('paths')),
  'GET /api/leases/:id': r('read', 'read leases'),
  'POST /api/leases/:id/renew': r('write', 'renew leases'),
  'DELETE /api/leases/:id': r('write', 'release leases'),
  'POST /api/tasks': r('write', 'create tasks', projectBody),
  'GET /api/tasks': r('read', 'list tasks', projectQuery),
  'POST /api/tasks/:id/checkpoint': r('write', 'checkpoint tasks'),
  'GET /api/tasks/:id/checkpoints': r('read', 'read tasks'),
  'POST /api/tasks/claim': r('write', 'claim tasks', projectBody),
  'GET /api/tasks/:id': r('read', 'read tasks'),
  'POST /api/tasks/:id/complete': r('write', 'complete tasks'),
  'POST /api/tasks/:id/fail': r('write', 'fail tasks'),
  'POST /api/tasks/:id/release': r('write', 'release tasks'),

  'POST /api/messages': r('party', 'send messages', messageTo),
  'GET /api/inbox': r('read', 'read an inbox'),
  'POST /api/inbox/read': r('write', 'mark messages read'),
  'POST /api/inbox/:id/ack': r('write', 'acknowledge messages'),
  'GET /api/messages/:id': r('party', 'read messages'),
  'GET /api/threads/:id': r('party', 'read messages'),
  'GET /api/inbox/subscribe': r('read', 'subscribe to an inbox'),

  'POST /api/hooks/claude-code': r('write', 'call agent hooks'),
  'GET /api/hooks/claude-code/sessions/:id': r('read', 'read hook sessions'),
  'GET /api/agents/:id/digest': r('read', 'read digests'),

  'GET /api/validate/:project/rules': r('read', 'read rules', projectParam),
  'PUT /api/validate/:project/rules': r('admin', 'replace a rule set', projectParam),
  'POST /api/validate/:project': r('read', 'validate content', projectParam),
  'POST /api/rules/propose': r('write', 'propose rules', projectBody),
  'POST /api/rules/:project/:rule/accept': r('admin', 'accept rules', projectParam),
  'POST /api/rules/:project/:rule/reject': r('admin', 'reject rules', projectParam),
  'GET /api/rules': r('read', 'list rules', projectQuery),
  'DELETE /api/rules/:project/:rule': r('admin', 'delete rules', projectParam),
  'GET /api/rules/export': r('read', 'export rules', projectQuery),
  'POST /api/rules/import': r('admin', 'import rules'),
  'POST /api/contracts/:project/:name/validate': r('read', 'validate contracts', projectParam),
  'POST /api/contracts/:project/:name/test': r('read', 'test contracts', projectParam),
  'GET /api/compliance/history': r('read', 'read compliance history'),
  'POST /api/compliance/run': r('write', 'run compliance checks'),

  'GET /api/webhooks': r('admin', 'list webhooks'),
  'POST /api/webhooks': r('admin', 'create webhooks'),
  'DELETE /api/webhooks/:id': r('admin', 'delete webhooks'),
  'POST /api/webhooks/:id/test': r('admin', 'test webhooks'),
  'GET /api/templates': r('read', 'list templates'),
  'POST /api/templates': r('admin', 'create templates'),
  'GET /api/templates/:id': r('read', 'read templates'),
  'DELETE /api/templates/:id': r('admin', 'delete templates'),
  'POST /api/templates/:id/apply': r('admin', 'apply templates'),

  'GET /api/audit': r('admin', 'read the audit log'),
  'GET /api/audit/summary': r('admin', 'read the audit log'),
  'GET /api/metrics': r('read', 'read metrics'),
  'POST /api/metrics/reset': r('admin', 'reset metrics'),
  'GET /metrics': r('read', 'read metrics'),
  'GET /api/metrics/agents': r('read', 'read agent metrics'),
  'GET /api/metrics/agents/:id': r('read', 'read agent metrics'),
  'GET /api/llm/usage': r('read', 'read LLM usage', projectQuery),
  // Whose usage and which project: checked by the route (the caller's own agent; a scoped token's projects).
  'POST /api/llm/usage': r('write', 'record LLM usage'),
  'GET /api/llm/usage/summary': r('read', 'read LLM usage', projectQuery),
  'POST /v1/logs': r('write', 'send telemetry'),
  'POST /v1/metrics': r('write', 'send telemetry'),
  'GET /api/budgets': r('read', 'read budgets', budgetQuery),
  'PUT /api/budgets/:scope': r('admin', 'set budgets'),
  'DELETE /api/budgets/:scope': r('admin', 'remove budgets'),
  'POST /api/tokens': r('admin', 'manage tokens'),
  'GET /api/tokens': r('admin', 'manage tokens'),
  'DELETE /api/tokens/:id': r('admin', 'manage tokens'),
  'GET /api/admin/backup': r('admin', 'take backups'),
  'POST /api/admin/restore': r('admin', 'restore backups'),
};

/** The MCP tools' rules (the control plane goes through the same table). */
export const MCP_TOOL_RULES: Readonly<Record<string, Rule>> = {
  register_instance: r('write', 'register agents'),
  discover_instances: r('read', 'list agents'),
  set_intent: r('self', "set another agent's intent"),
  get_endpoints: r('read', 'list endpoints'),
  propose_rule: r('write', 'propose rules'),
};

/** The rule of a route; a route without one is a defect (the router refuses to mount it). */
export function ruleOf(method: string, path: string): Rule {
  const rule = PERMISSIONS[`${method} ${path}`];
  if (!rule) throw new Error(`no permission rule for ${method} ${path} (src/http/permissions.ts)`);
  return rule;
}

const ALLOWED: Readonly<Record<Access, readonly Role[]>> = {
  public: ['admin', 'agent', 'reader'],
  read: ['admin', 'agent', 'reader'],
  write: ['admin', 'agent'],
  self: ['admin', 'agent'],
  party: ['admin', 'agent'],
  admin: ['admin'],
};

/** Refuses a role the rule does not allow; for `self`, an agent whose own id is not `subject`. */
export function permitRole(rule: Rule, role: Role, own: string | null, subject: string | null): void {
  if (!ALLOWED[rule.access].includes(role)) throw fail('ROLE_FORBIDDEN', role, rule.action);
  if (rule.access === 'self' && role !== 'admin' && (own === null || own !== subject)) throw fail('ROLE_FORBIDDEN', role, rule.action);
  if (rule.access === 'party' && role !== 'admin' && own === null) throw fail('ROLE_FORBIDDEN', role, `${rule.action} without acting as an agent (X-Koor-Instance)`);
}

const GLOB_META = /[*?[\]{}\\]/;
/** The literal start of a glob: what every name it matches begins with. */
const literalPrefix = (g: string): string => {
  const i = g.search(GLOB_META);
  return i < 0 ? g : g.slice(0, i);
};

/**
 * Whether the scope glob `scope` reaches `name`. A name that is itself a glob (a subscription
 * pattern, a listing's `prefix**`, a leased path glob) must be contained, not merely matched as
 * text: only by the same glob, or by a scope that is a literal start plus a tail matching
 * anything (`web/**`, `ci.*`) when the name's literal start begins with it.
 */
function reaches(kind: 'state' | 'topic' | 'path', scope: string, name: string): boolean {
  if (scope === name) return true;
  if (!GLOB_META.test(name)) return kind === 'topic' ? globMatch(scope, name) : pathGlobMatch(scope, name);
  // A topic `*` never crosses '/': a name whose matches could hold one (a '/' or a class) is not contained.
  if (kind === 'topic' && /[/[]/.test(name)) return false;
  const tail = kind === 'topic' ? '*' : '**';
  const lead = scope.slice(0, -tail.length);
  return scope.endsWith(tail) && !GLOB_META.test(lead) && literalPrefix(name).startsWith(lead);
}

/**
 * Whether `scopes` reach `t`. A project scope also reaches the keys and leased paths `<p>/**` and
 * the topics `<p>.*`; a `path:` scope is a path glob of the files a token may lease.
 */
export function inScope(scopes: readonly string[], t: Target): boolean {
  if (t.name === null) return false;
  const name = t.name;
  for (const s of scopes) {
    const i = s.indexOf(':');
    const kind = s.slice(0, i);
    const v = s.slice(i + 1);
    if (kind === t.kind) {
      if (t.kind === 'project' ? v === name : reaches(t.kind, v, name)) return true;
    } else if (kind === 'project' && literalPrefix(name).startsWith(t.kind === 'topic' ? `${v}.` : `${v}/`) && t.kind !== 'project') return true;
  }
  return false;
}

/** A scoped token's refusal unless its scopes reach every target (none: nothing to refuse). */
export function permitTargets(ctx: { principal: Pick<Ctx['principal'], 'role' | 'scopes'> }, action: string, targets: Target | readonly Target[]): void {
  const { role, scopes } = ctx.principal;
  if (scopes === null) return;
  const all = Array.isArray(targets) ? (targets as readonly Target[]) : [targets as Target];
  for (const t of all) if (!inScope(scopes, t)) throw fail('SCOPE_FORBIDDEN', role, action);
}

/**
 * Refuses the call when the caller's role may not make it (before the body is read), or — for a
 * scoped token — when it touches nothing its scopes reach (`phase` body: after the body is parsed).
 * Throws the 403 of the error catalogue.
 */
export function permit(ctx: Ctx, rule: Rule, phase: 'request' | 'body'): void {
  const { role, scopes } = ctx.principal;
  // An agent acts on itself only: the path's instance id must be its own.
  if (phase === 'request') permitRole(rule, role, ctx.identity?.instanceId ?? null, decoded(ctx.params[0] ?? ''));
  if (scopes === null || !rule.scope || rule.scope.from !== phase) return;
  permitTargets(ctx, rule.action, rule.scope.target(ctx));
}
