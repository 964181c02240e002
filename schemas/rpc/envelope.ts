import { Type, type Static, type TSchema } from 'typebox';
import { WireError } from '../errors.js';

/** Raw bytes (Buffer / Uint8Array) as they survive structured clone. */
export const Bytes = Type.Refine(
  Type.Unsafe<Uint8Array>({}),
  (v) => v instanceof Uint8Array,
  () => 'expected bytes',
);

/** A request on an RPC port: named method, typed request, absolute deadline (epoch ms). */
export const RequestEnvelope = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  method: Type.String({ minLength: 1 }),
  deadline: Type.Number(),
  req: Type.Unknown(),
});
export type RequestEnvelope = Static<typeof RequestEnvelope>;

export const ReplyEnvelope = Type.Union([
  Type.Object({ id: Type.Integer(), ok: Type.Literal(true), res: Type.Unknown() }),
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
