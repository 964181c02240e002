import { Type, type Static } from 'typebox';

/** Start-up data of the webhook delivery thread. */
export const DeliveryStartup = Type.Object({
  /** One POST may take this long, reply included (SPEC §2.11: 10 s). */
  timeout_ms: Type.Integer({ minimum: 1 }),
  /** Bytes of a receiver's reply read before the status alone decides. */
  max_reply_bytes: Type.Integer({ minimum: 0 }),
  /** Keep-alive connections per receiver. */
  max_sockets: Type.Integer({ minimum: 1 }),
  /** Nice value the thread gives itself (0 = as the server): delivery yields the CPU to requests. */
  nice: Type.Integer({ minimum: 0, maximum: 19 }),
});
export type DeliveryStartup = Static<typeof DeliveryStartup>;

/**
 * `deliver.run`: POST each body to `url` in order, stopping at the first failure (a webhook
 * receives its events in order). `secret` '' = unsigned.
 */
export const DeliveryRun = Type.Object({
  id: Type.Integer(),
  url: Type.String(),
  secret: Type.String(),
  bodies: Type.Array(Type.String(), { minItems: 1 }),
});
export type DeliveryRun = Static<typeof DeliveryRun>;

/** Its reply: how many of the bodies were delivered (a prefix), and why the next one failed. */
export const DeliveryRunResult = Type.Object({
  id: Type.Integer(),
  delivered: Type.Integer({ minimum: 0 }),
  error: Type.Optional(Type.String()),
});
export type DeliveryRunResult = Static<typeof DeliveryRunResult>;

/** Control message: abort every attempt under way (shutdown); their runs reply with what got through. */
export const DeliveryAbort = Type.Object({ control: Type.Literal('abort') });
export type DeliveryAbort = Static<typeof DeliveryAbort>;
