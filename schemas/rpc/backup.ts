import { Type, type Static } from '../typebox.js';

/**
 * The backup thread's one job: copy the live database `source` into `dest` (a new file); in
 * cluster mode, copy the PostgreSQL database into `dest`, or the snapshot `restore` into it.
 */
export const BackupJob = Type.Union([
  Type.Object({ source: Type.String({ minLength: 1 }), dest: Type.String({ minLength: 1 }) }),
  Type.Object({ database_url: Type.String({ minLength: 1 }), dest: Type.String({ minLength: 1 }) }),
  // A snapshot copied into PostgreSQL: replacing its data (a restore), or into an empty database (--migrate-from).
  Type.Object({ database_url: Type.String({ minLength: 1 }), restore: Type.String({ minLength: 1 }), replace: Type.Boolean() }),
]);
export type BackupJob = Static<typeof BackupJob>;

const SnapshotCounts = Type.Object({
  state_keys: Type.Integer(),
  rules: Type.Integer(),
  specs: Type.Integer(),
  events: Type.Integer(),
  instances: Type.Integer(),
});

/** Its reply: the snapshot's size and contents, or why it failed. */
export const BackupDone = Type.Union([
  Type.Object({ ok: Type.Literal(true), bytes: Type.Integer(), version: Type.Integer(), counts: SnapshotCounts, rows: Type.Optional(Type.Integer()) }),
  Type.Object({ ok: Type.Literal(false), error: Type.String() }),
]);
export type BackupDone = Static<typeof BackupDone>;
