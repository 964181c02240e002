import type { TObject } from '../typebox.js';
import type { WireError } from '../errors.js';
import type { AuditTag, IdemTag, ReplyEnvelope, RequestEnvelope } from './envelope.js';
import { WriterMethods } from './writer.js';

/**
 * The writer port's wire form. `postMessage` copies a message by structured clone,
 * which writes — and the other thread reads back — the name of every property of every object
 * it meets: a PUT's envelope and reply carried fourteen, and copying them cost more than the
 * values they named. On the port a request travels as a tuple and a reply as a triple; on either
 * side of it they are the envelopes of `envelope.ts`, which the writer checks as before.
 *
 * - request: `[id, method, deadline, req, audit?, idem?]`: `audit` its actor's name alone when the
 *   tag has nothing else (a route's audit of a write: the common case), 0 when only `idem` is sent;
 * - reply: `[id, 1, res]`, `[id, 2, res]` for an idempotent write's replay, `[id, 0, err]`.
 *
 * The hot methods' request and result (`PACKED`) travel as their values, in the order their
 * schema lists the properties: no names at all.
 */
export type WireRequest = [id: number, method: string, deadline: number, req: unknown, audit?: AuditTag | string | 0, idem?: IdemTag];
export type WireReply = [id: number, kind: 0 | 1 | 2, payload: unknown];

/** What the front tells the writer thread besides requests: close once the queue is done. */
export type WriterControl = { control: 'close' };
/**
 * What the writer thread tells the front besides replies: it opened the database (`ready`) or
 * could not (`open-failed`, why), it closed, or the disk holding the database filled up or has
 * room again (`storage`).
 */
export type WriterNotice = { control: 'ready' } | { control: 'closed' } | { control: 'open-failed'; message: string } | { control: 'storage'; full: boolean; error?: string };

const FAILED = 0;
const OK = 1;
const REPLAYED = 2;

const propsOf = (schema: unknown): readonly string[] => Object.keys((schema as TObject).properties);

type Packer = { pack: (o: Record<string, unknown>) => unknown[]; unpack: (a: readonly unknown[]) => Record<string, unknown> };

/**
 * `pack` and `unpack` for one list of property names, compiled once: each reads or writes its
 * properties by constant names, so every access site stays monomorphic. The same loop over the
 * names (`o[k]`) made each access a megamorphic keyed load or store, with a map transition
 * searched per store: ~2 % of the server's CPU per PUT at 50 connections. The names
 * are the schemas' own, embedded as JSON string literals.
 *
 * - pack: the object's values in `keys` order, the absent ones at the end left out (optional
 *   properties come last); an array literal, never holey (a holey array is cloned as a sparse
 *   one, its indices named);
 * - unpack: the object again, without the properties that were absent (undefined).
 */
function packer(keys: readonly string[]): Packer {
  const names = keys.map((k) => JSON.stringify(k));
  const pack = new Function('o', `const a = [${names.map((n) => `o[${n}]`).join(', ')}];\nlet n = a.length;\nwhile (n > 0 && a[n - 1] === undefined) n--;\na.length = n;\nreturn a;`) as Packer['pack'];
  const unpack = new Function('a', `const o = {};\nlet v;\n${names.map((n, i) => `if ((v = a[${i}]) !== undefined) o[${n}] = v;`).join('\n')}\nreturn o;`) as Packer['unpack'];
  return { pack, unpack };
}

/** Methods whose request and result are sent as values in schema order (both are objects of a fixed set of properties). */
const PACKED: ReadonlyMap<string, { req: Packer; res: Packer }> = new Map(
  (['state.put', 'events.publish'] as const).map((m) => [m, { req: packer(propsOf(WriterMethods[m].req)), res: packer(propsOf(WriterMethods[m].res)) }]),
);

/** An audit tag that names only its actor travels as the name (a cloned object costs ~1 µs more). */
const auditOut = (a: AuditTag): AuditTag | string => (a.action === undefined && a.resource === undefined && a.detail === undefined ? a.actor : a);

export function encodeRequest(env: RequestEnvelope): WireRequest {
  const packed = PACKED.get(env.method);
  const req = packed && env.req !== null && typeof env.req === 'object' ? packed.req.pack(env.req as Record<string, unknown>) : env.req;
  if (env.idem) return [env.id, env.method, env.deadline, req, env.audit ? auditOut(env.audit) : 0, env.idem];
  if (env.audit) return [env.id, env.method, env.deadline, req, auditOut(env.audit)];
  return [env.id, env.method, env.deadline, req];
}

/**
 * The envelope a wire request stands for. Anything that is not a tuple of the wire's shape is
 * returned as an object the writer's envelope check refuses (MALFORMED_ENVELOPE), keeping the
 * id it carried, if any, so the refusal reaches its caller.
 */
export function decodeRequest(raw: unknown): unknown {
  if (!Array.isArray(raw)) return { id: (raw as { id?: unknown } | null)?.id, malformed: true };
  const [id, method, deadline, req, audit, idem] = raw as WireRequest;
  if (typeof method !== 'string') return { id, malformed: true };
  const packed = PACKED.get(method);
  const env: Record<string, unknown> = { id, method, deadline, req: packed && Array.isArray(req) ? packed.req.unpack(req) : req };
  if (typeof audit === 'string') env.audit = { actor: audit };
  else if (audit) env.audit = audit;
  if (idem !== undefined) env.idem = idem;
  return env;
}

/**
 * A batch's replies, each result packed when its envelope's method is. `batch`: the decoded
 * envelopes the replies answer, in the same order (a reply does not carry its method; the
 * dispatcher answers each envelope in turn, a malformed one perhaps not at all).
 */
export function encodeReplies(replies: readonly ReplyEnvelope[], batch: readonly unknown[]): WireReply[] {
  const out: WireReply[] = [];
  let j = 0;
  for (const reply of replies) {
    if (!reply.ok) {
      out.push([reply.id, FAILED, reply.err]);
      continue;
    }
    let method: string | undefined;
    for (let k = j; k < batch.length; k++) {
      const env = batch[k] as { id?: unknown; method?: unknown };
      if (env.id === reply.id) {
        method = typeof env.method === 'string' ? env.method : undefined;
        j = k + 1;
        break;
      }
    }
    const packed = method === undefined ? undefined : PACKED.get(method);
    const res = packed && reply.res !== null && typeof reply.res === 'object' ? packed.res.pack(reply.res as Record<string, unknown>) : reply.res;
    out.push([reply.id, reply.replayed ? REPLAYED : OK, res]);
  }
  return out;
}

/** `method`: the call's (the caller kept it); a packed result is unpacked, anything else passes. */
export function decodeReply(wire: WireReply, method: string | undefined): ReplyEnvelope {
  const [id, kind, payload] = wire;
  if (kind === FAILED) return { id, ok: false, err: payload as WireError };
  const packed = method === undefined ? undefined : PACKED.get(method);
  const res = packed && Array.isArray(payload) ? packed.res.unpack(payload) : payload;
  return kind === REPLAYED ? { id, ok: true, res, replayed: true } : { id, ok: true, res };
}
