import { fail } from '../errors.js';
import { permitTargets, type Target } from '../access.js';
import type { Ctx, Identity, Principal, Role } from './context.js';
import { decoded } from './path.js';

/**
 * Who may call what: every route, REST or WebSocket, declares its rule (src/http/route.ts),
 * the router and the upgrade check it before the handler runs, and test/http/permissions.test.ts
 * calls every declared route with every role to check the rules hold. MCP tools declare theirs
 * beside them (src/mcp/tools.ts).
 *
 * - `public`: no token (only /health).
 * - `read`: any role — reader, agent, admin.
 * - `write`: agent or admin; a reader may not.
 * - `self`: an agent on its own instance (the path's `:id`), or admin. A created agent token's own
 *   instances are those it registered: it acts on them with no X-Koor-Instance.
 * - `party`: an agent acting as an agent (its sender or recipients see a message), or admin — a
 *   token without an agent would act as the operator (send as `human`, read everyone's mail).
 * - `admin`: the operator only.
 *
 * A scoped token (created with `scopes`) reaches only the state keys, projects, event topics and
 * leased file paths its scopes name: a rule's `scope` says which of them a call touches, read from
 * the path, the query or the body; a call that touches anything outside its scopes — or a whole
 * collection it could not narrow to them — is refused, never answered with a silently empty list.
 * What only the stored object tells (a task's project, a lease's files, a message's recipients) is
 * checked by its handler with permitTargets (src/access.ts, where the scope checks live so a
 * domain's service may use them without HTTP).
 */

export type Access = 'public' | 'read' | 'write' | 'self' | 'party' | 'admin';

export interface Rule {
  readonly access: Access;
  /** The refusal says "<role> token may not <action>". */
  readonly action: string;
  /** For scoped tokens: what the call touches. `body` ones are read after the body is parsed. */
  readonly scope?: { readonly from: 'request' | 'body'; readonly target: (ctx: Ctx) => Target | readonly Target[] };
}

/** A query parameter; null when absent or empty. */
export const queryValue = (ctx: Ctx, name: string): string | null => {
  const v = new URLSearchParams(ctx.query).get(name);
  return v === null || v === '' ? null : v;
};
/** A string member of the parsed JSON body; null when absent, empty or not a string. */
const bodyValue = (ctx: Ctx, name: string): string | null => {
  const v = (ctx.json as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' && v !== '' ? v : null;
};
/** The strings of a list (anything else left out). */
export const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** What a route touches, for the scope checks every domain uses: the project of its path, query or body; the topic of its body or query. */
export const projectParam = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'project', name: decoded(ctx.params[0] ?? '') }) } as const;
export const projectQuery = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'project', name: queryValue(ctx, 'project') }) } as const;
export const projectBody = { from: 'body', target: (ctx: Ctx): Target => ({ kind: 'project', name: bodyValue(ctx, 'project') }) } as const;
export const topicBody = { from: 'body', target: (ctx: Ctx): Target => ({ kind: 'topic', name: bodyValue(ctx, 'topic') }) } as const;
export const topicQuery = (param: string) => ({ from: 'request', target: (ctx: Ctx): Target => ({ kind: 'topic', name: queryValue(ctx, param) }) }) as const;

/** A route's rule: who may call it (`access`), the refusal's words (`action`), what a scoped token's call touches (`scope`). */
export const rule = (access: Access, action: string, scope?: Rule['scope']): Rule => (scope ? { access, action, scope } : { access, action });

const ALLOWED: Readonly<Record<Access, readonly Role[]>> = {
  public: ['admin', 'agent', 'reader'],
  read: ['admin', 'agent', 'reader'],
  write: ['admin', 'agent'],
  self: ['admin', 'agent'],
  party: ['admin', 'agent'],
  admin: ['admin'],
};

/**
 * Refuses a role the rule does not allow; for `self`, an agent acting on an instance not its own:
 * `own` is the agent the caller acts as, `subject` the instance acted on and `target` that
 * instance as the identity index knows it (null: unknown, or not looked up). A created token's
 * own instances are those it registered (their `tokenId`), whichever agent it acts as.
 */
export function permitRole(rule: Rule, principal: Pick<Principal, 'role' | 'tokenId'>, own: Identity | null, subject: string | null, target: Identity | null = null): void {
  const { role } = principal;
  if (!ALLOWED[rule.access].includes(role)) throw fail('ROLE_FORBIDDEN', role, rule.action);
  if (rule.access === 'self' && role !== 'admin' && (own === null || own.instanceId !== subject)) {
    const registered = principal.tokenId !== null && target !== null && target.instanceId === subject && target.tokenId === principal.tokenId;
    if (registered) return;
    if (subject === null || subject === '') throw fail('ROLE_FORBIDDEN', role, rule.action);
    const agent = target?.instanceId === subject ? target.name : subject;
    // An instance token is its own agent only; a created token names how to act as one of its own.
    throw principal.tokenId === null && own !== null ? fail('NOT_THIS_INSTANCE', role, agent, own.name) : fail('NOT_OWN_AGENT', role, agent);
  }
  if (rule.access === 'party' && role !== 'admin' && own === null) throw fail('AGENT_REQUIRED', role, rule.action);
}

/**
 * Refuses the call when the caller's role may not make it (before the body is read), or — for a
 * scoped token — when it touches nothing its scopes reach (`phase` body: after the body is parsed).
 * Throws the 403 of the error catalogue.
 */
export function permit(ctx: Ctx, rule: Rule, phase: 'request' | 'body'): void {
  const { scopes } = ctx.principal;
  // An agent acts on itself only: the path's instance id must be its own (or, for a created token, one it registered).
  if (phase === 'request') permitRole(rule, ctx.principal, ctx.identity, decoded(ctx.params[0] ?? ''), ctx.subject);
  if (scopes === null || !rule.scope || rule.scope.from !== phase) return;
  permitTargets(ctx, rule.action, rule.scope.target(ctx));
}
