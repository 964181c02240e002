import { Type, type Static } from '../typebox.js';
import { Instant } from './common.js';

/* Replies of the specs routes; GET of one spec is its stored bytes: no schema. */

/** GET /api/specs/{project}: by name. */
export const SpecListReply = Type.Object({
  project: Type.String(),
  specs: Type.Array(Type.Object({ name: Type.String(), version: Type.Integer(), updated_at: Instant })),
});
export type SpecListReply = Static<typeof SpecListReply>;

/** PUT /api/specs/{project}/{name}. */
export const SpecPutReply = Type.Object({
  project: Type.String(),
  name: Type.String(),
  version: Type.Integer(),
  hash: Type.String(),
  updated_at: Instant,
  /** The store-wide revision of this write. */
  revision: Type.Integer(),
});
export type SpecPutReply = Static<typeof SpecPutReply>;

/** DELETE /api/specs/{project}/{name}: `P/N`, and the revision of the delete. */
export const SpecDeletedReply = Type.Object({ deleted: Type.String(), revision: Type.Integer() });
export type SpecDeletedReply = Static<typeof SpecDeletedReply>;
