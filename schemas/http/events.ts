import { Type, type Static } from '../typebox.js';
import { EVENT } from '../db/tables/events.js';

/** POST /api/events/publish body; unknown members ignored, wrong types → 400 invalid JSON body. `data` is kept raw. */
export const PublishBody = Type.Object({
  topic: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
});

/**
 * An event: the publish reply, each element of GET /api/events/history, each frame of
 * a subscription. `data` is any JSON (null when none was sent).
 */
export const EventReply = EVENT.Wire;
export type EventReply = Static<typeof EventReply>;
export const EventListReply = Type.Array(EventReply);
