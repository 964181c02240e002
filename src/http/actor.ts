import type { AuditTag } from '../../schemas/rpc/envelope.js';
import type { Ctx } from './context.js';

/**
 * The audit tag of a REST mutation: the actor the audit log names for the action when
 * it has one (an instance's name, a proposer, a body's instance_id), else the calling agent's
 * name when the request carries an identity, else "".
 */
export function auditBy(ctx: Ctx, named = ''): AuditTag {
  return { actor: named !== '' ? named : (ctx.identity?.name ?? '') };
}
