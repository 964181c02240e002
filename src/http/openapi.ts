import fs from 'node:fs';
import { ErrorBody } from '../../schemas/errors.js';
import * as admin from '../../schemas/http/admin.js';
import * as agentMetrics from '../../schemas/http/agent-metrics.js';
import * as audit from '../../schemas/http/audit.js';
import * as common from '../../schemas/http/common.js';
import * as compliance from '../../schemas/http/compliance.js';
import * as contracts from '../../schemas/http/contracts.js';
import * as events from '../../schemas/http/events.js';
import * as hooks from '../../schemas/http/hooks.js';
import * as instances from '../../schemas/http/instances.js';
import * as leases from '../../schemas/http/leases.js';
import * as llm from '../../schemas/http/llm.js';
import * as messages from '../../schemas/http/messages.js';
import * as rules from '../../schemas/http/rules.js';
import * as specs from '../../schemas/http/specs.js';
import * as state from '../../schemas/http/state.js';
import * as system from '../../schemas/http/system.js';
import * as tasks from '../../schemas/http/tasks.js';
import * as templates from '../../schemas/http/templates.js';
import * as tokens from '../../schemas/http/tokens.js';
import * as webhooks from '../../schemas/http/webhooks.js';
import type { TObject, TSchema } from '../../schemas/typebox.js';
import { isMedia, type Body, type Route, type RouteDecl } from './route.js';

/**
 * The API description (OpenAPI 3.1), made from the route declarations (./route.ts) and nothing
 * else: every REST route with its parameters, body and replies, every WebSocket route as a GET
 * answered with 101 (`x-koor-websocket`), errors as ErrorBody, auth as a bearer token. Served at
 * GET /api/openapi.json and printed by `koor-cli openapi`; test/http/openapi.test.ts validates it
 * and compiles a client against the types openapi-typescript generates from it.
 */

type Json = Record<string, unknown>;

/**
 * The schemas of schemas/http/ by name: a schema declared once and used in several places is one
 * component, referred to by name (generated clients then name its type as the server does).
 */
const NAMED = (() => {
  const names = new Map<object, string>();
  const modules = [{ ErrorBody }, admin, agentMetrics, audit, common, compliance, contracts, events, hooks, instances, leases, llm, messages, rules, specs, state, system, tasks, templates, tokens, webhooks];
  for (const m of modules) {
    for (const [name, v] of Object.entries(m)) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || names.has(v)) continue;
      const s = v as Json;
      if (s.type !== undefined || s.anyOf !== undefined || s.const !== undefined || s.allOf !== undefined) names.set(v, name);
    }
  }
  return names;
})();

/** Builds the document's schemas: named ones become `$ref`s to components, emitted once each. */
class Components {
  readonly schemas: Record<string, unknown> = {};

  ref(schema: TSchema): unknown {
    const name = NAMED.get(schema);
    if (name === undefined) return this.inline(schema);
    if (!(name in this.schemas)) {
      this.schemas[name] = {}; // taken before its body is walked: a schema may refer to itself
      this.schemas[name] = this.inline(schema);
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  /** A plain JSON copy of `schema`, its named sub-schemas referred to. */
  private inline(schema: unknown): unknown {
    if (Array.isArray(schema)) return schema.map((s) => this.walk(s));
    if (typeof schema !== 'object' || schema === null) return schema;
    const out: Json = {};
    for (const [k, v] of Object.entries(schema)) out[k] = k === 'properties' || k === 'patternProperties' || k === '$defs' ? this.members(v as Json) : k === 'const' || k === 'enum' || k === 'default' || k === 'examples' ? v : this.walk(v);
    return out;
  }

  private members(props: Json): Json {
    const out: Json = {};
    for (const [k, v] of Object.entries(props)) out[k] = this.walk(v);
    return out;
  }

  private walk(v: unknown): unknown {
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && NAMED.has(v)) return this.ref(v as TSchema);
    return this.inline(v);
  }
}

/** `/api/tasks/:id/checkpoints` → `/api/tasks/{id}/checkpoints`; a trailing `*` (the rest of the path) → `{key}`. */
const templated = (path: string): string =>
  path
    .split('/')
    .map((seg) => (seg === '*' ? '{key}' : seg.startsWith(':') ? `{${seg.slice(1)}}` : seg))
    .join('/');

/** `GET /api/tasks/:id/checkpoints` → `getApiTasksByIdCheckpoints`. */
function operationId(r: RouteDecl): string {
  const words = r.path
    .split(/[/.]/)
    .filter((s) => s !== '')
    .map((seg) => (seg === '*' ? 'ByKey' : seg.startsWith(':') ? `By_${seg.slice(1)}` : seg))
    .flatMap((seg) => seg.split(/[-_]/))
    .filter((w) => w !== '');
  return r.method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/** `x-koor-fence` → `X-Koor-Fence`. */
const headerName = (h: string): string =>
  h
    .split('-')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('-');

/** Splits a schema's own description off: OpenAPI puts it on the parameter. */
function described(schema: TSchema): { description?: string; schema: Json } {
  const { description, ...rest } = JSON.parse(JSON.stringify(schema)) as Json & { description?: string };
  return description === undefined ? { schema: rest } : { description, schema: rest };
}

function parameters(r: RouteDecl): Json[] {
  const out: Json[] = [];
  for (const seg of r.path.split('/')) {
    if (seg === '*') out.push({ name: 'key', in: 'path', required: true, description: 'The rest of the path, slashes included (URL-encode other reserved characters)', schema: { type: 'string' } });
    else if (seg.startsWith(':')) out.push({ name: seg.slice(1), in: 'path', required: true, schema: { type: 'string' } });
  }
  const query = r.query as TObject | undefined;
  if (query) {
    const required = new Set(query.required ?? []);
    for (const [name, s] of Object.entries(query.properties)) out.push({ name, in: 'query', required: required.has(name), ...described(s) });
  }
  for (const [name, s] of Object.entries(r.headers ?? {})) out.push({ name: headerName(name), in: 'header', required: false, ...described(s) });
  return out;
}

/**
 * Bytes of any type (a stored value, `*\/*`) are JSON when they were written as JSON: a client
 * matches such a reply to the `application/json` entry (the more specific range), so beside JSON
 * bodies of the server's making that entry admits any JSON value too.
 */
const STORED_JSON: Json = { description: 'The value stored, when it was written as JSON: any JSON value' };

/** The 200 reply: its body, or — when a query changes it — each of its bodies, said which. */
function ok(r: Route, c: Components): Json {
  const bodies: Array<[mode: string | null, body: Body]> = [[null, r.replies[200]], ...Object.entries(r.modes ?? {})];
  const json = bodies.filter(([, b]) => !isMedia(b)).map(([, b]) => c.ref(b as TSchema));
  if (json.length > 0 && bodies.some(([, b]) => isMedia(b) && (b.media === '*/*' || b.media === 'application/*'))) json.push(STORED_JSON);
  const content: Json = {};
  for (const [, b] of bodies) if (isMedia(b)) content[b.media] = {};
  if (json.length > 0) content['application/json'] = { schema: json.length === 1 ? json[0] : { anyOf: json } };
  const say = (b: Body): string => (isMedia(b) ? b.description : `JSON (${NAMED.get(b) ?? 'as described'})`);
  const modes = Object.entries(r.modes ?? {}).map(([mode, b]) => `with \`?${mode}=\`: ${say(b)}`);
  const description = modes.length === 0 ? (isMedia(r.replies[200]) ? r.replies[200].description : 'OK') : `${say(r.replies[200])}; ${modes.join('; ')}`;
  return { description, content };
}

function operation(r: Route, c: Components): Json {
  const op: Json = { operationId: operationId(r), summary: r.summary, tags: [tagOf(r.path)] };
  const params = parameters(r);
  if (params.length > 0) op.parameters = params;
  if (r.body === 'json' && r.schema) op.requestBody = { required: r.optionalBody !== true, content: { 'application/json': { schema: c.ref(r.schema) } } };
  else if (r.body === 'raw' || r.raw) op.requestBody = { required: r.raw !== undefined, content: { [r.raw?.media ?? '*/*']: {} }, ...(r.raw ? { description: r.raw.description } : {}) };
  const responses: Json = { '200': ok(r, c) };
  if (r.replies[304]) responses['304'] = { description: 'Not modified: If-None-Match named the current ETag (the reply carries the ETag only)' };
  responses.default = { $ref: '#/components/responses/Error' };
  op.responses = responses;
  if (r.public) op.security = [];
  return op;
}

function socketOperation(r: RouteDecl): Json {
  const params = parameters(r);
  return {
    operationId: operationId(r),
    summary: r.summary,
    tags: [tagOf(r.path)],
    description: 'A WebSocket: upgrade with the usual headers (a browser may offer the token as the subprotocols `koor`, `koor.bearer.<base64url token>`); each message is one JSON item.',
    'x-koor-websocket': true,
    ...(params.length > 0 ? { parameters: params } : {}),
    responses: { '101': { description: 'Switching Protocols: the stream is open' }, default: { $ref: '#/components/responses/Error' } },
  };
}

/** `/api/tasks/:id` → `tasks`; `/v1/logs` → `otlp`; `/health`, `/metrics` → `system`. */
function tagOf(path: string): string {
  const seg = path.split('/');
  if (seg[1] === 'v1') return 'otlp';
  return seg[1] === 'api' && seg[2] ? seg[2] : 'system';
}

let version: string | null = null;
function packageVersion(): string {
  try {
    version ??= (JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    version = '0.0.0';
  }
  return version;
}

/** The OpenAPI 3.1 document of `routes` (REST) and `sockets` (WebSocket). */
export function openApiDocument(routes: readonly Route[], sockets: readonly RouteDecl[]): Json {
  const c = new Components();
  const paths: Record<string, Json> = {};
  const item = (path: string): Json => (paths[templated(path)] ??= {});
  for (const r of routes) item(r.path)[r.method.toLowerCase()] = operation(r, c);
  for (const s of sockets) item(s.path)[s.method.toLowerCase()] = socketOperation(s);
  c.ref(ErrorBody);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Koor',
      version: packageVersion(),
      description: 'Coordination server for AI coding agents: shared state, specs, events, leases, tasks, messages and rules. Errors are ErrorBody with the HTTP status; auth is a bearer token (none in open mode).',
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: c.schemas,
      responses: { Error: { description: 'An error: what was wrong, and the status', content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } } } },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The server token, an instance token, or a created token (koor_…)' } },
    },
  };
}

