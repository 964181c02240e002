import { fail } from './errors.js';
import type { Principal } from './identity.js';
import { globMatch } from './shared/glob.js';
import { pathGlobMatch } from './shared/path-glob.js';

/*
 * What a scoped token reaches: the pure scope checks, below HTTP so a route's rule
 * (src/http/permissions.ts) and a domain's service (a hook binding a session, a transaction's
 * keys) ask the same question without the service knowing HTTP.
 */

/** What a call touches: a state key, a project, an event topic, a leased file path (null: the whole collection). */
export interface Target {
  kind: 'state' | 'project' | 'topic' | 'path';
  name: string | null;
  /** A leased path's project: a `project:<p>` scope reaches every path of project p. */
  project?: string;
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
 * Whether `scopes` reach `t`. A project scope also reaches the keys `<p>/**` and the topics
 * `<p>.*`, and the leased paths of project p (a path without a project: those under `<p>/`); a
 * `path:` scope is a path glob of the files a token may lease, in any project.
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
    } else if (kind === 'project' && t.project !== undefined) {
      if (v === t.project) return true;
    } else if (kind === 'project' && literalPrefix(name).startsWith(t.kind === 'topic' ? `${v}.` : `${v}/`) && t.kind !== 'project') return true;
  }
  return false;
}

const KIND_NAMES = { state: 'key', project: 'project', topic: 'topic', path: 'file' } as const;

/** A target as a refusal names it: `project ops`, `key ops/a`, `b.ts in project ops`, `every project` (a whole collection). */
export function describeTarget(t: Target): string {
  if (t.name === null) return `every ${KIND_NAMES[t.kind]}`;
  if (t.kind === 'path' && t.project !== undefined) return `${t.name} in project ${t.project === '' ? '""' : t.project}`;
  return `${KIND_NAMES[t.kind]} ${t.name}`;
}

/** A scoped token's refusal unless its scopes reach every target (none: nothing to refuse). */
export function permitTargets(ctx: { principal: Pick<Principal, 'role' | 'scopes'> }, action: string, targets: Target | readonly Target[]): void {
  const { role, scopes } = ctx.principal;
  if (scopes === null) return;
  const all = Array.isArray(targets) ? (targets as readonly Target[]) : [targets as Target];
  for (const t of all) if (!inScope(scopes, t)) throw fail('SCOPE_FORBIDDEN', role, action, describeTarget(t));
}
