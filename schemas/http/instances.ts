import { Type, type Static } from '../typebox.js';
import { INSTANCE } from '../db/tables/instances.js';

/** POST /api/instances/register: the instance's input fields (schemas/db/tables/instances.ts). */
export const RegisterBody = INSTANCE.Body;

/** POST /api/instances/{id}/capabilities: absent/null → []; a body is required. */
export const CapabilitiesBody = Type.Pick(RegisterBody, ['capabilities']);

/** An instance as GET replies show it: no token. */
export const InstanceSummary = INSTANCE.Wire;
export type InstanceSummary = Static<typeof InstanceSummary>;
export const InstanceListReply = Type.Array(InstanceSummary);

/** POST /api/instances/register: the summary and the instance's token (its Bearer). */
export const RegisterReply = Type.Object({ ...InstanceSummary.properties, token: Type.String() });
export type RegisterReply = Static<typeof RegisterReply>;

/** POST /api/instances/{id}/activate (`active`) and …/heartbeat (`ok`). */
export const InstanceStatusReply = Type.Object({ id: Type.String(), status: Type.String() });
export type InstanceStatusReply = Static<typeof InstanceStatusReply>;

/** POST /api/instances/{id}/capabilities. */
export const CapabilitiesReply = Type.Pick(InstanceSummary, ['id', 'capabilities']);
export type CapabilitiesReply = Static<typeof CapabilitiesReply>;

/** POST /api/liveness/check: the instances this pass marked stale. */
export const LivenessReply = Type.Object({ checked: Type.Literal(true), newly_stale: InstanceListReply, count: Type.Integer() });
export type LivenessReply = Static<typeof LivenessReply>;
