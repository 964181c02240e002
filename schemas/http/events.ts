import { Type } from '../typebox.js';

/** POST /api/events/publish body; unknown members ignored, wrong types → 400 invalid JSON body. `data` is kept raw. */
export const PublishBody = Type.Object({
  topic: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
});
