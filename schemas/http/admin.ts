import { Type, type Static } from '../typebox.js';

/* Replies of the admin routes: GET /api/admin/backup is a database file, no schema. */

/**
 * POST /api/admin/restore: `restoring` says the server restarts on the snapshot (false in cluster
 * mode, where the database was replaced already); `boot` is the id of the server that answered.
 */
export const RestoreReply = Type.Object({
  restoring: Type.Boolean(),
  boot: Type.String(),
  schema_version: Type.Integer(),
  bytes: Type.Integer(),
  counts: Type.Record(Type.String(), Type.Integer()),
});

export type RestoreReply = Static<typeof RestoreReply>;
