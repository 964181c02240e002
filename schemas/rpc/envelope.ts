import { Type, type Static, type TSchema } from '../typebox.js';
import { WireError } from '../errors.js';

/** Raw bytes (Buffer / Uint8Array) as they survive structured clone. */
export const Bytes = Type.Refine(
  Type.Unsafe<Uint8Array>({}),
  (v) => v instanceof Uint8Array,
  () => 'expected bytes',
);

/**
 * An audit entry to record with a write, in the same savepoint. `actor` alone: the
 * writer derives action, resource and detail from the method, its request and its result; a
 * composed operation (template apply) names them itself. `detail` is compact JSON text.
 */
export const AuditTag = Type.Object({
  actor: Type.String(),
  action: Type.Optional(Type.String({ minLength: 1 })),
  resource: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
});
export type AuditTag = Static<typeof AuditTag>;

/** An audit `detail`: compact JSON with sorted keys. */
export function sortedJson(o: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]])));
}

/**
 * An idempotent write: `caller` and `key` name it, `hash` its request (the same key for
 * another request is refused). A retry gets the first result, marked `replayed`.
 */
export const IdemTag = Type.Object({
  caller: Type.String({ minLength: 1 }),
  key: Type.String({ minLength: 1, maxLength: 255 }),
  hash: Type.String(),
});
export type IdemTag = Static<typeof IdemTag>;

/**
 * A request on an RPC port: named method, typed request, absolute deadline (ms on the monotonic
 * clock, src/shared/mono-clock.ts: every thread reads the same one, and a wall-clock step does not
 * move it). On the writer's port it and its reply cross in the compact form of `writer-wire.ts`.
 */
export const RequestEnvelope = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  method: Type.String({ minLength: 1 }),
  deadline: Type.Number(),
  req: Type.Unknown(),
  /** Present when the write is audited. */
  audit: Type.Optional(AuditTag),
  /** Present when the write was sent with an Idempotency-Key (workers/writer/idempotency.ts). */
  idem: Type.Optional(IdemTag),
});
export type RequestEnvelope = Static<typeof RequestEnvelope>;

export const ReplyEnvelope = Type.Union([
  /** `replayed`: an idempotent write's retry, answered with the first result (nothing written). */
  Type.Object({ id: Type.Integer(), ok: Type.Literal(true), res: Type.Unknown(), replayed: Type.Optional(Type.Literal(true)) }),
  Type.Object({ id: Type.Integer(), ok: Type.Literal(false), err: WireError }),
]);
export type ReplyEnvelope = Static<typeof ReplyEnvelope>;

/** A method table entry: request and response schema. */
export interface MethodDef<Req extends TSchema = TSchema, Res extends TSchema = TSchema> {
  req: Req;
  res: Res;
}
export type MethodTable = Record<string, MethodDef>;
export type ReqOf<T extends MethodTable, K extends keyof T> = Static<T[K]['req']>;
export type ResOf<T extends MethodTable, K extends keyof T> = Static<T[K]['res']>;
