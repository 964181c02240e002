import type { ReqOf, ResOf } from '../../schemas/rpc/envelope.js';
import type { PoolMethods } from '../../schemas/rpc/pool.js';
import { threadId } from 'node:worker_threads';
import { diffJson, diffObjects, parseObject } from './diff.js';

export { validate as 'rules.validate' } from './validate.js';

type M = PoolMethods;

/** Pool job `diff`: the state diff of two stored versions. */
export function diff(req: ReqOf<M, 'diff'>): ResOf<M, 'diff'> {
  const a = parseObject(req.a);
  if (!a.ok) return { ok: false, error: `version ${req.v1} is not a JSON object: ${a.reason}` };
  const b = parseObject(req.b);
  if (!b.ok) return { ok: false, error: `version ${req.v2} is not a JSON object: ${b.reason}` };
  return { ok: true, diffs: diffJson(diffObjects(a.value, b.value)) };
}

export function ping(): ResOf<M, 'ping'> {
  return { threadId };
}

/** piscina calls the default export unless a `name` run option selects another export. */
export default diff;

/** Contract and compliance jobs. */
export { validate as 'contract.validate', planTest as 'contract.plan_test', checkReply as 'contract.check_reply', complianceCheck as 'compliance.check' } from './contract.js';
