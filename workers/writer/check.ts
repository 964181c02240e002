import { Compile, type TSchema } from '../../schemas/typebox.js';
import { RequestEnvelope, type ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import { WriterMethods } from '../../schemas/rpc/writer.js';
import { fault, type Fault } from './fault.js';
import { monoNow } from '../../src/shared/mono-clock.js';

const checkEnvelope = Compile(RequestEnvelope);
/** A method's request check, compiled on its first envelope, not at start-up (~40 ms of TypeBox for all methods). */
const checkReq = new Map<string, ReturnType<typeof Compile<TSchema>>>();
const methodCheck = (method: string): ReturnType<typeof Compile<TSchema>> | undefined => {
  if (!Object.hasOwn(WriterMethods, method)) return undefined;
  let check = checkReq.get(method);
  if (!check) checkReq.set(method, (check = Compile((WriterMethods as Record<string, { req: unknown }>)[method]!.req as TSchema)));
  return check;
};

export const failReply = (id: number, err: Fault): ReplyEnvelope => ({ id, ok: false, err: err.toWire() });

/**
 * The checks every writer backend makes before it runs an envelope: its shape, its deadline
 * (per envelope: an earlier one in the same batch may have taken a while), a method this
 * backend has, a request of that method's schema. The envelope, or the reply refusing it.
 */
export function admit(raw: unknown, has: (method: string) => boolean): { env: RequestEnvelope } | { reply: ReplyEnvelope } {
  if (!checkEnvelope.Check(raw)) {
    const id = typeof (raw as { id?: unknown })?.id === 'number' ? (raw as { id: number }).id : 0;
    return { reply: failReply(id, fault('MALFORMED_ENVELOPE')) };
  }
  const env = raw;
  if (env.deadline < monoNow()) return { reply: failReply(env.id, fault('DEADLINE_BEFORE_WRITE')) };
  const check = methodCheck(env.method);
  if (!check || !has(env.method)) return { reply: failReply(env.id, fault('UNKNOWN_METHOD', env.method)) };
  if (!check.Check(env.req)) {
    const first = [...check.Errors(env.req)][0];
    return { reply: failReply(env.id, fault('INVALID_REQUEST', env.method, first?.instancePath || '/', first?.message ?? '')) };
  }
  return { env };
}

/**
 * Replies for a batch whose transaction failed: nothing in it acknowledged, own failures kept.
 * `err` is one fault for all, or each envelope's by its method (OUTCOME_UNKNOWN names it).
 */
export function failedBatch(batch: readonly unknown[], replies: readonly ReplyEnvelope[], err: Fault | ((method: string) => Fault)): ReplyEnvelope[] {
  const wire = typeof err === 'function' ? null : err.toWire();
  const failed = new Map(replies.filter((r) => !r.ok).map((r) => [r.id, r]));
  const all: ReplyEnvelope[] = [];
  for (const raw of batch) {
    const { id, method } = (raw ?? {}) as { id?: unknown; method?: unknown };
    if (typeof id !== 'number') continue;
    all.push(failed.get(id) ?? { id, ok: false, err: wire ?? (err as (method: string) => Fault)(typeof method === 'string' ? method : 'write').toWire() });
  }
  return all;
}
