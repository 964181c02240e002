import type { TObject, TSchema } from '../../schemas/typebox.js';
import type { Ctx } from './context.js';
import type { Rule } from './permissions.js';

/**
 * A route, declared once in its domain: what it answers to, who may call it, what it
 * reads and what it replies. The router mounts it and checks its rule, test/http/replies.test.ts
 * checks its replies against a real server, and the API description (GET /api/openapi.json,
 * ./openapi.ts) is made from it: a new endpoint is one of these plus its test.
 */

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** A body that is not JSON of the server's making: stored bytes, a database file, Prometheus text. */
export interface Media {
  readonly media: string;
  readonly description: string;
}

/** A 200 body: a JSON schema, or bytes of another kind. */
export type Body = TSchema | Media;

export const isMedia = (b: Body): b is Media => typeof (b as Media).media === 'string';

/** What a route replies, by status; errors are ErrorBody (schemas/errors.ts) for every route. */
export interface Replies {
  readonly 200: Body;
  /** A conditional GET: `If-None-Match` equal to the ETag answers 304 with the ETag only. */
  readonly 304?: true;
}

/** What every route declaration says, REST or WebSocket. */
export interface RouteDecl {
  readonly method: Method;
  /** uWS pattern: literal segments, `:param`, trailing `*`. */
  readonly path: string;
  /** One line for the API description. */
  readonly summary: string;
  /** Who may call it (./permissions.ts): checked before the handler runs. */
  readonly rule: Rule;
  /** The query parameters it reads (documentation: the handler parses them strictly itself). */
  readonly query?: TObject;
  /**
   * Request headers it reads beyond the common ones (lower case), with what they hold; the router
   * copies them into `ctx.extraHeaders`.
   */
  readonly headers?: Readonly<Record<string, TSchema>>;
}

export interface Route extends RouteDecl {
  /** Read the body first: raw bytes, or JSON parsed and checked against `schema`. */
  readonly body?: 'raw' | 'json';
  /** The JSON body's schema (`body: 'json'`). */
  readonly schema?: TSchema;
  /** What a raw body holds (documentation), when the route reads one: `body: 'raw'`, or a stream it reads itself. */
  readonly raw?: Media;
  /** A JSON body may be left out: an empty body reads as `{}`. */
  readonly optionalBody?: boolean;
  /**
   * A JSON body as sent → its JSON bytes (a Content-Encoding undone, a format the route does not
   * take refused), before the checks every JSON body gets. Throws an AppError.
   */
  readonly decode?: (ctx: Ctx, body: Buffer) => Buffer;
  /** No auth (only /health). */
  readonly public?: boolean;
  /** Counts as a REST call for the token-tax figures; default true. */
  readonly counted?: boolean;
  readonly replies: Replies;
  /** Query parameters that, when given, change the 200 body: name → that body. */
  readonly modes?: Readonly<Record<string, Body>>;
  readonly handler: (ctx: Ctx) => void | Promise<void>;
}

/** `METHOD path`, as a route is named in audit entries, metrics and tests. */
export const routeName = (r: { method: string; path: string }): string => `${r.method} ${r.path}`;

/** A state value or a spec: the bytes stored, with the Content-Type they were stored with. */
export const STORED: Media = { media: '*/*', description: 'The bytes stored, with the Content-Type they were written with' };
/** GET /metrics. */
export const PROMETHEUS: Media = { media: 'text/plain', description: 'The Prometheus text exposition format' };
/** GET /api/admin/backup, POST /api/admin/restore. */
export const SNAPSHOT: Media = { media: 'application/vnd.sqlite3', description: 'A consistent snapshot of the whole database (a SQLite file)' };
