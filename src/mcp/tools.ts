import { errorMessage, type ErrorCode, type ErrorParams } from '../../schemas/error-catalogue.js';
import { AppError } from '../errors.js';
import type { InstanceSummary } from '../../schemas/http/instances.js';
import type { InstanceService } from '../domains/instances/service.js';
import type { RuleService } from '../domains/rules/service.js';
import type { Identity, Principal } from '../identity.js';
import { rule, type Rule } from '../http/permissions.js';
import type { ToolName } from '../../schemas/http/mcp.js';

/** A tool failure the model sees as `isError: true` with this text (never a JSON-RPC error). */
export class ToolError extends Error {
  // Private: a tool failure's text is a catalogue message (schemas/error-catalogue.ts), never free text.
  private constructor(message: string) {
    super(message);
  }

  /** The failure `code` names in the catalogue, its message written from `params`. */
  static of<C extends ErrorCode>(code: C, ...params: ErrorParams<C>): ToolError {
    return new ToolError(errorMessage(code, ...params));
  }

  /** A front error passed on as it reads (its message is already the catalogue's). */
  static relay(e: AppError): ToolError {
    return new ToolError(e.message);
  }
}

/** How a missing-argument error of the front ends ("project is required"), from the catalogue. */
const REQUIRED = errorMessage('FIELD_REQUIRED', '');

export interface ToolDeps {
  instances: InstanceService;
  rules: RuleService;
  /** API bind text, verbatim (get_endpoints' api_base is made of it); port 0 → the bound port. */
  apiBind: () => string;
  /** `https` when the listener serves TLS; default `http`. */
  scheme?: 'http' | 'https';
  /**
   * The routes the API listener actually serves (uWS patterns: `:param`, trailing `*`), read on
   * the first get_endpoints call: only endpoints a request would reach are advertised.
   */
  mounted: () => ReadonlyArray<{ method: string; path: string }>;
  /** A tool call its rule (TOOL_RULES) refused (counted and audited). */
  onDenied?: (ctx: { principal: Principal; identity: Identity | null }, rule: Rule, route: string) => void;
}

/** Who may call each tool (src/http/permissions.ts): the control plane is checked like the routes. */
export const TOOL_RULES: Readonly<Record<string, Rule>> = {
  register_instance: rule('write', 'register agents'),
  discover_instances: rule('read', 'list agents'),
  set_intent: rule('self', "set agents' intents"),
  get_endpoints: rule('read', 'list endpoints'),
  propose_rule: rule('write', 'propose rules'),
};

/**
 * Install hint of our distribution: no package is published on the npm registry;
 * koor-cli comes from a clone of the repository, said as `koor-cli init` says it, shorter
 * (cli/hooks/workspace-files.ts INSTALL_HOW, which adds the `npm pack` tarball for other machines).
 */
const CLI_INSTALL = 'Koor clone: npm install && npm install -g .';

/**
 * The data-plane map get_endpoints returns (the 16 names the contract lists, paths in its notation,
 * `{key...}` the rest of the path). Only the entries the server has mounted are advertised (see
 * advertised()), so a route added later shows up here by itself.
 */
export const ENDPOINTS = {
  state_list: 'GET /api/state',
  state_get: 'GET /api/state/{key...}',
  state_put: 'PUT /api/state/{key...}',
  state_delete: 'DELETE /api/state/{key...}',
  specs_list: 'GET /api/specs/{project}',
  specs_get: 'GET /api/specs/{project}/{name}',
  specs_put: 'PUT /api/specs/{project}/{name}',
  specs_delete: 'DELETE /api/specs/{project}/{name}',
  events_publish: 'POST /api/events/publish',
  events_history: 'GET /api/events/history',
  events_ws: 'GET /api/events/subscribe',
  instances_list: 'GET /api/instances',
  instance_get: 'GET /api/instances/{id}',
  instance_activate: 'POST /api/instances/{id}/activate',
  rules_export: 'GET /api/rules/export',
  rules_import: 'POST /api/rules/import',
} as const;

/** Every data-plane route lives under this prefix; get_endpoints puts it in api_base once. */
const API_PREFIX = '/api';

/** `GET /api/state/{key...}` → `GET state/{key...}` (relative to an api_base ending in `/api/`). */
function relativeToApi<T extends Record<string, string>>(map: T): T {
  const out: Record<string, string> = {};
  for (const [name, endpoint] of Object.entries(map)) out[name] = endpoint.replace(` ${API_PREFIX}/`, ' ');
  return out as T;
}

/**
 * The work loop agents run — claim a task (which leases its files), lease more, complete it, read
 * the inbox — in the order they run it, as one `loop` entry beside the 16 names:
 * `"POST tasks/claim, leases, tasks/{id}/complete; GET inbox"` (its mounted routes only).
 */
const LOOP: readonly string[] = ['POST /api/tasks/claim', 'POST /api/leases', 'POST /api/tasks/{id}/complete', 'GET /api/inbox'];

export function workLoop(mounted: ReadonlyArray<{ method: string; path: string }>): string | undefined {
  const served = new Set(mounted.map((r) => shape(r.method, r.path)));
  const groups: Array<[string, string[]]> = [];
  for (const endpoint of LOOP) {
    const [method, path] = endpoint.split(' ') as [string, string];
    if (!served.has(shape(method, path))) continue;
    const last = groups[groups.length - 1];
    const rel = path.slice(API_PREFIX.length + 1);
    if (last !== undefined && last[0] === method) last[1].push(rel);
    else groups.push([method, [rel]]);
  }
  return groups.length === 0 ? undefined : groups.map(([m, paths]) => `${m} ${paths.join(', ')}`).join('; ');
}

/** A route's shape, comparable across notations: `{p}` and `:p` → `:`, `{p...}` (the contract's) → `*` (uWS). */
const shape = (method: string, path: string): string =>
  `${method} ${path.replace(/\{[^}]+\.\.\.\}/g, '*').replace(/\{[^}]+\}/g, ':').replace(/:[^/]+/g, ':')}`;

/** The ENDPOINTS entries whose route (method and path pattern) is mounted. */
export function advertised(mounted: ReadonlyArray<{ method: string; path: string }>): Partial<Record<keyof typeof ENDPOINTS, string>> {
  const served = new Set(mounted.map((r) => shape(r.method, r.path)));
  const out: Partial<Record<keyof typeof ENDPOINTS, string>> = {};
  for (const [name, endpoint] of Object.entries(ENDPOINTS) as Array<[keyof typeof ENDPOINTS, string]>) {
    const [method, path] = endpoint.split(' ') as [string, string];
    if (served.has(shape(method, path))) out[name] = endpoint;
  }
  return out;
}

/** The route table is fixed once the server listens: filter it once per server. */
const advertisedCache = new WeakMap<ToolDeps, Record<string, string>>();

/** discover_instances columns, in this order (the members of the compact reply). */
const DISCOVER_COLUMNS = ['id', 'name', 'workspace', 'intent', 'stack', 'capabilities', 'status', 'last_seen'] as const;
type DiscoverColumn = (typeof DISCOVER_COLUMNS)[number];

/** How long ago an RFC 3339 time was, in its largest whole unit: "0s ago", "4m ago", "2h ago", "3d ago". */
export function age(rfc3339: string, now: number): string {
  const s = Math.max(0, Math.floor((now - Date.parse(rfc3339)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/**
 * discover_instances' reply, as a table: `columns` names the members once and each instance is
 * one array in that order; a member with the same value for every listed instance (typically
 * `workspace` and `status`) is given once, beside `count`, instead of in every row; `capabilities`
 * only when some instance has any; `last_seen` as an age ("12s ago"), which is what a model
 * without a clock can use. Why: with one object per instance the member names repeat per
 * instance and an RFC 3339 time costs 13 tokens, so three instances cost ~250 tokens against the
 * 200-token budget of a reply (docs/mcp.md#token-budget; ~190 even with empty names and intents).
 *
 *   {"count":3,"workspace":"shop","status":"active","columns":["id","name","intent",…],"instances":[["…","ui-agent","Fix…",…],…]}
 */
export function discoverReply(list: readonly InstanceSummary[], now: number): Record<string, unknown> {
  const value = (i: InstanceSummary, c: DiscoverColumn): unknown => (c === 'last_seen' ? age(i.last_seen, now) : i[c]);
  const same = (c: DiscoverColumn): boolean => {
    const first = JSON.stringify(value(list[0]!, c));
    return list.every((i) => JSON.stringify(value(i, c)) === first);
  };
  const out: Record<string, unknown> = { count: list.length };
  const columns: DiscoverColumn[] = [];
  for (const c of DISCOVER_COLUMNS) {
    if (c === 'capabilities' && list.every((i) => i.capabilities.length === 0)) continue;
    if (list.length >= 2 && same(c)) out[c] = value(list[0]!, c);
    else columns.push(c);
  }
  out.columns = columns;
  out.instances = list.map((i) => columns.map((c) => value(i, c)));
  return out;
}

/** Arguments are strings; anything else counts as absent. */
function str(args: Record<string, unknown>, k: string): string {
  const v = args[k];
  return typeof v === 'string' ? v : '';
}

const failMessage = (e: unknown): string => (e instanceof AppError ? e.message : errorMessage('TOOL_INTERNAL'));

/**
 * Runs one tool; returns the JSON value of its reply (sent compact), or throws ToolError.
 * `tokenId`: the created token calling (an agent it registers is its own).
 */
export async function runTool(name: string, args: Record<string, unknown>, deps: ToolDeps, caller: Identity | null, tokenId: string | null = null): Promise<unknown> {
  switch (name as ToolName) {
    case 'register_instance': {
      const n = str(args, 'name');
      if (!n) throw ToolError.of('FIELD_REQUIRED', 'name');
      const caps = str(args, 'capabilities');
      try {
        const { instance: r } = await deps.instances.register({
          name: n,
          workspace: str(args, 'workspace'),
          intent: str(args, 'intent'),
          stack: str(args, 'stack'),
          capabilities: caps === '' ? [] : caps.split(',').map((c) => c.trim()),
          ...(tokenId !== null ? { token_id: tokenId } : {}),
        });
        return {
          instance_id: r.id,
          token: r.token,
          name: r.name,
          workspace: r.workspace,
          intent: r.intent,
          stack: r.stack,
          capabilities: r.capabilities,
          status: r.status,
          registered_at: r.registered_at,
          message: `Registered (status: pending). Activate via CLI: koor-cli activate ${r.id}`,
        };
      } catch (e) {
        throw ToolError.of('TOOL_FAILED', 'registration', failMessage(e));
      }
    }
    case 'discover_instances': {
      const f = (k: string) => str(args, k) || undefined;
      const list = await deps.instances.list({ name: f('name'), workspace: f('workspace'), stack: f('stack'), capability: f('capability') });
      return discoverReply(list, Date.now());
    }
    case 'set_intent': {
      const id = str(args, 'instance_id');
      const intent = str(args, 'intent');
      if (!id) throw ToolError.of('FIELD_REQUIRED', 'instance_id');
      if (!intent) throw ToolError.of('FIELD_REQUIRED', 'intent');
      try {
        await deps.instances.update(id, { intent });
      } catch (e) {
        throw ToolError.of('TOOL_FAILED', 'set intent', failMessage(e));
      }
      return { instance_id: id, intent, message: 'Intent updated successfully.' };
    }
    case 'get_endpoints': {
      let endpoints = advertisedCache.get(deps);
      if (!endpoints) {
        const mounted = deps.mounted();
        const loop = workLoop(mounted);
        advertisedCache.set(deps, (endpoints = { ...relativeToApi(advertised(mounted)), ...(loop === undefined ? {} : { loop }) }));
      }
      // No `message` and no `cli.usage` (the contract allows dropping both). The 16 names in
      // their `GET /api/state/{key...}` form cost ~186 tokens, over the reply's 200 alone; so the
      // common `/api/` moves into api_base ("http://<bind>/api/") and each path is relative to it
      // (`GET state/{key...}`: api_base + path is still the full URL), which leaves room for the
      // install story and the work loop: 196 tokens with api_base of the default bind (test/mcp/tokens.test.ts).
      return { api_base: `${deps.scheme ?? 'http'}://${deps.apiBind()}${API_PREFIX}/`, endpoints, cli: { install: CLI_INSTALL } };
    }
    case 'propose_rule': {
      // Arguments are strings; the rules service checks, defaults and stores them.
      const f = (k: string) => str(args, k);
      try {
        const { res: r } = await deps.rules.propose(
          { project: f('project'), rule_id: f('rule_id'), pattern: f('pattern'), message: f('message'), severity: f('severity'), match_type: f('match_type'), stack: f('stack'), proposed_by: f('proposed_by'), context: f('context') },
          caller?.instanceId ?? '',
        );
        return { ...r, message: 'Rule proposed successfully. It will be reviewed by the user before activation.' };
      } catch (e) {
        // "project is required" and its siblings read as they are; anything else says what failed.
        if (e instanceof AppError && e.message.endsWith(REQUIRED)) throw ToolError.relay(e);
        if (e instanceof AppError && e.status === 'ALREADY_EXISTS') throw ToolError.of('TOOL_FAILED', 'propose rule', errorMessage('RULE_ALREADY_EXISTS', f('project'), f('rule_id')));
        throw ToolError.of('TOOL_FAILED', 'propose rule', failMessage(e));
      }
    }
    default:
      throw ToolError.of('UNKNOWN_TOOL', name);
  }
}
