import type { paths } from './api.js';

/*
 * A route's reply type by its name, for the clients (the CLI, the dashboard): schemas/http/api.ts is
 * generated from the server's route declarations (GET /api/openapi.json), so a client names the
 * route it calls and the reply's type follows from the route, never from the caller's choice.
 */

type Method = 'get' | 'put' | 'post' | 'delete';

/** A route as `METHOD path`, the path as the API description spells it (`POST /api/inbox/{id}/ack`). */
export type ApiRoute = { [P in keyof paths]: { [M in Method]: [NonNullable<paths[P][M]>] extends [never] ? never : `${Uppercase<M>} ${P & string}` }[Method] }[keyof paths];

/** The JSON body of a route's 200 (for a route whose query changes the reply: any of them). */
export type ReplyOf<R extends ApiRoute> = R extends `${infer M} ${infer P}`
  ? P extends keyof paths
    ? NonNullable<paths[P][Lowercase<M> & Method]> extends { responses: { 200: { content: { 'application/json': infer B } } } }
      ? B
      : never
    : never
  : never;
