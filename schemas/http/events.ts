import { Type, type Static } from '../typebox.js';
import { Instant } from './common.js';

/** POST /api/events/publish body; unknown members ignored, wrong types → 400 invalid JSON body. `data` is kept raw. */
export const PublishBody = Type.Object({
  topic: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
});

/**
 * An event: the publish reply, each element of GET /api/events/history, each frame of
 * a subscription. `data` is any JSON (null when none was sent).
 */
export const EventReply = Type.Object({
  id: Type.Integer(),
  topic: Type.String(),
  data: Type.Unknown(),
  source: Type.String(),
  created_at: Instant,
});
export type EventReply = Static<typeof EventReply>;
export const EventListReply = Type.Array(EventReply);
