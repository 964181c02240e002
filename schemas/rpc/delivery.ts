import { Type, type Static } from '../typebox.js';

/** Start-up data of the webhook delivery thread. */
export const DeliveryStartup = Type.Object({
  /** One POST may take this long, reply included (10 s). */
  timeout_ms: Type.Integer({ minimum: 1 }),
  /** Bytes of a receiver's reply read before the status alone decides. */
  max_reply_bytes: Type.Integer({ minimum: 0 }),
  /** Keep-alive connections per receiver. */
  max_sockets: Type.Integer({ minimum: 1 }),
  /** Nice value the thread gives itself (0 = as the server): delivery yields the CPU to requests. */
  nice: Type.Integer({ minimum: 0, maximum: 19 }),
  /** The data file, opened read-only: runs of logged events read their bodies themselves. */
  db_path: Type.String(),
});
export type DeliveryStartup = Static<typeof DeliveryStartup>;

/**
 * Logged events to deliver: those with `after` < id <= `upto` — all of them, or only `ids` (the
 * ones matching the webhook's patterns, ascending). The thread reads them from the event log.
 */
export const DeliveryEvents = Type.Object({
  after: Type.Integer({ minimum: 0 }),
  upto: Type.Integer({ minimum: 0 }),
  ids: Type.Optional(Type.Array(Type.Integer(), { minItems: 1 })),
});
export type DeliveryEvents = Static<typeof DeliveryEvents>;

/**
 * `deliver.run`: POST each body to `url` in order, stopping at the first failure (a webhook
 * receives its events in order). `secret` '' = unsigned. The bodies are given (`bodies`: a test
 * delivery) or built from logged events (`events`); exactly one of the two.
 */
export const DeliveryRun = Type.Union([
  Type.Object({ id: Type.Integer(), url: Type.String(), secret: Type.String(), bodies: Type.Array(Type.String(), { minItems: 1 }) }, { additionalProperties: false }),
  Type.Object({ id: Type.Integer(), url: Type.String(), secret: Type.String(), events: DeliveryEvents }, { additionalProperties: false }),
]);
export type DeliveryRun = Static<typeof DeliveryRun>;

/**
 * Its reply: how many bodies were delivered (a prefix), and why the next one failed; for logged
 * events, `failed_event` = the id of the event that did not get through.
 */
export const DeliveryRunResult = Type.Object({
  id: Type.Integer(),
  delivered: Type.Integer({ minimum: 0 }),
  error: Type.Optional(Type.String()),
  failed_event: Type.Optional(Type.Integer()),
});
export type DeliveryRunResult = Static<typeof DeliveryRunResult>;

/** Control message: abort every attempt under way (shutdown); their runs reply with what got through. */
const DeliveryAbort = Type.Object({ control: Type.Literal('abort') });
export type DeliveryAbort = Static<typeof DeliveryAbort>;
