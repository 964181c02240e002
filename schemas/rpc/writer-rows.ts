import { Type, type Static } from '../typebox.js';

/** The rows writer methods return (decoded; times in storage text), as the front receives them. */

/** A stored event; `data` is raw JSON text, `created_at` storage text. */
export const Event = Type.Object({
  id: Type.Integer(),
  topic: Type.String(),
  data: Type.String(),
  source: Type.String(),
  created_at: Type.String(),
});
export type Event = Static<typeof Event>;

/** An instance row; `capabilities` decoded, times in storage text. */
export const Instance = Type.Object({
  id: Type.String(),
  name: Type.String(),
  workspace: Type.String(),
  intent: Type.String(),
  stack: Type.String(),
  capabilities: Type.Array(Type.String()),
  status: Type.String(),
  /** SHA-256 of its token, hex: the token itself is only in the registration's reply. */
  token_hash: Type.String(),
  registered_at: Type.String(),
  last_seen: Type.String(),
  /** The created token that registered it, '' if none: that token may act as it. */
  token_id: Type.String(),
});
export type Instance = Static<typeof Instance>;

/** A validation rule as written (defaults applied by the front); `status` set by the method. */
export const RuleRow = Type.Object({
  project: Type.String({ minLength: 1 }),
  rule_id: Type.String(),
  severity: Type.String(),
  match_type: Type.String(),
  pattern: Type.String(),
  message: Type.String(),
  stack: Type.String(),
  applies_to: Type.Array(Type.String()),
  source: Type.String(),
  proposed_by: Type.String(),
  context: Type.String(),
});
export type RuleRow = Static<typeof RuleRow>;

/** A lease row: `acquired_at` storage text, `expires_ms` epoch ms (0 = no TTL). */
export const LeaseRow = Type.Object({
  id: Type.String(),
  holder: Type.String(),
  holder_name: Type.String(),
  resources: Type.Array(Type.String()),
  exclusive: Type.Boolean(),
  reason: Type.String(),
  ttl_ms: Type.Integer(),
  acquired_at: Type.String(),
  expires_ms: Type.Integer(),
  /** Its fencing token: only grows; a later holder of the resources has a larger one. */
  fence: Type.Integer(),
  /** The project its paths are in: leases of different projects never conflict. */
  project: Type.String(),
});
export type LeaseRow = Static<typeof LeaseRow>;

/** A task row: `data` raw JSON text, times storage text. */
export const TaskRow = Type.Object({
  id: Type.Integer(),
  project: Type.String(),
  title: Type.String(),
  data: Type.String(),
  priority: Type.Integer(),
  deps: Type.Array(Type.Integer()),
  capabilities: Type.Array(Type.String()),
  status: Type.String(),
  claimed_by: Type.String(),
  claimed_by_name: Type.String(),
  attempts: Type.Integer(),
  max_attempts: Type.Integer(),
  reason: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
  /** The fencing token of its current (or last) claim. */
  fence: Type.Integer(),
  /** The path globs it will touch; a claim leases them. */
  paths: Type.Array(Type.String()),
  /** The lease its current claim holds on `paths` ('' = none). */
  lease_id: Type.String(),
});
export type TaskRow = Static<typeof TaskRow>;

/** A task's checkpoint: `data` raw JSON text, `at` storage text. */
export const CheckpointRow = Type.Object({
  task_id: Type.Integer(),
  seq: Type.Integer(),
  done: Type.String(),
  next: Type.String(),
  data: Type.String(),
  by_id: Type.String(),
  by_name: Type.String(),
  at: Type.String(),
});
export type CheckpointRow = Static<typeof CheckpointRow>;
