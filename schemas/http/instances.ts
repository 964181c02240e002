import { Type, type Static } from '../typebox.js';
import { Instant } from './common.js';

/** POST /api/instances/register; `capabilities` is an extension (absent/null → []). */
export const RegisterBody = Type.Object({
  name: Type.Optional(Type.String()),
  workspace: Type.Optional(Type.String()),
  intent: Type.Optional(Type.String()),
  stack: Type.Optional(Type.String()),
  capabilities: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});

/** POST /api/instances/{id}/capabilities: absent/null → []; a body is required. */
export const CapabilitiesBody = Type.Object({
  capabilities: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});

/** An instance as GET replies show it: no token. */
export const InstanceSummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  workspace: Type.String(),
  intent: Type.String(),
  stack: Type.String(),
  capabilities: Type.Array(Type.String()),
  /** `pending`, `active` or `stale`. */
  status: Type.String(),
  registered_at: Instant,
  last_seen: Instant,
});
export type InstanceSummary = Static<typeof InstanceSummary>;
export const InstanceListReply = Type.Array(InstanceSummary);

/** POST /api/instances/register: the summary and the instance's token (its Bearer). */
export const RegisterReply = Type.Object({ ...InstanceSummary.properties, token: Type.String() });
export type RegisterReply = Static<typeof RegisterReply>;

/** POST /api/instances/{id}/activate (`active`) and …/heartbeat (`ok`). */
export const InstanceStatusReply = Type.Object({ id: Type.String(), status: Type.String() });
export type InstanceStatusReply = Static<typeof InstanceStatusReply>;

/** POST /api/instances/{id}/capabilities. */
export const CapabilitiesReply = Type.Object({ id: Type.String(), capabilities: Type.Array(Type.String()) });
export type CapabilitiesReply = Static<typeof CapabilitiesReply>;

/** POST /api/liveness/check: the instances this pass marked stale. */
export const LivenessReply = Type.Object({ checked: Type.Literal(true), newly_stale: InstanceListReply, count: Type.Integer() });
export type LivenessReply = Static<typeof LivenessReply>;
