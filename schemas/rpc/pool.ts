import { Type, type Static } from 'typebox';
import { Bytes, type MethodTable } from './envelope.js';

/** One entry of a state diff (SPEC §2.2). `old`/`new` are omitted when null. */
export const DiffEntry = Type.Object({
  path: Type.String(),
  old: Type.Optional(Type.Unknown()),
  new: Type.Optional(Type.Unknown()),
  kind: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('changed')]),
});
export type DiffEntry = Static<typeof DiffEntry>;

/** CPU jobs run on the piscina pool: pure input -> result, no DB. */
export const PoolMethods = {
  /** No-op used to bring every thread up before the server reports ready. */
  ping: { req: Type.Object({}), res: Type.Object({ threadId: Type.Integer() }) },
  diff: {
    req: Type.Object({ a: Bytes, b: Bytes, v1: Type.Integer(), v2: Type.Integer() }),
    res: Type.Union([
      /** `diffs`: the JSON text of DiffEntry[] (numbers kept exactly as stored). */
      Type.Object({ ok: Type.Literal(true), diffs: Type.String() }),
      /** `version N is not a JSON object: <reason>` */
      Type.Object({ ok: Type.Literal(false), error: Type.String() }),
    ]),
  },
} satisfies MethodTable;
export type PoolMethods = typeof PoolMethods;
