import { Type, type Static } from '../typebox.js';
import { SPEC_DOC } from '../db/tables/specs.js';

/* Replies of the specs routes; GET of one spec is its stored bytes: no schema. */

/** GET /api/specs/{project}: by name. */
export const SpecListReply = Type.Object({
  project: Type.String(),
  specs: Type.Array(Type.Pick(SPEC_DOC.Wire, ['name', 'version', 'updated_at'])),
});
export type SpecListReply = Static<typeof SpecListReply>;

/** PUT /api/specs/{project}/{name}: the spec as written (schemas/db/tables/specs.ts). */
export const SpecPutReply = SPEC_DOC.Wire;
export type SpecPutReply = Static<typeof SpecPutReply>;

/** DELETE /api/specs/{project}/{name}: `P/N`, and the revision of the delete. */
export const SpecDeletedReply = Type.Object({ deleted: Type.String(), revision: Type.Integer() });
export type SpecDeletedReply = Static<typeof SpecDeletedReply>;
