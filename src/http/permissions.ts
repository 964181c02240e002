import { fail } from '../errors.js';
import { globMatch } from '../shared/glob.js';
import { pathGlobMatch } from '../shared/path-glob.js';
import type { Ctx, Role } from './context.js';

/**
 * Who may call what (issue 30): every route, REST or WebSocket, declares its rule (src/http/route.ts),
 * the router and the upgrade check it before the handler runs, and test/http/permissions.test.ts
 * calls every declared route with every role to check the rules hold. MCP tools declare theirs
 * beside them (src/mcp/tools.ts).
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

/** A path segment URL-decoded; null when it does not decode. */
export const decoded = (raw: string): string | null => {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
};
/** A query parameter; null when absent or empty. */
export const queryValue = (ctx: Ctx, name: string): string | null => {
  const v = new URLSearchParams(ctx.query).get(name);
  return v === null || v === '' ? null : v;
};
/** A string member of the parsed JSON body; null when absent, empty or not a string. */
export const bodyValue = (ctx: Ctx, name: string): string | null => {
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
