/**
 * The state routes' hottest replies as JSON text, written member by member:
 * JSON.stringify checks every character of every string for escapes, ~5 ns a character on the
 * peers' VM, and each of these replies carries one or two 64-character hashes.
 */
import type { TxnCurrent, TxnResult } from '../../../schemas/rpc/writer-txn.js';
import type { StatePutReply } from '../../../schemas/http/state.js';
import { isJson } from './txn.js';

/**
 * A value's hash as the reply writes it: spliced, not escaped. Every hash is the writer's SHA-256
 * hex (state rows, the cache, the idempotency table's replies all carry the writer's), and
 * escaping its 64 characters (JSON.stringify, or a check by RegExp or by loop) cost ~0.3–0.4 µs
 * each on the peers' VM; a lost compare's reply has two.
 */
const hashJson = (h: string): string => `"${h}"`;
/** A number member's JSON, as JSON.stringify writes it. */
const numJson = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/**
 * A get's value as the reply shows it: the stored JSON when its content type is JSON and it
 * parses (re-serialised, as it always was), else its text.
 */
function valueJson(value: Uint8Array, contentType: string | undefined): string {
  // Bytes read in place; a replayed reply's (JSON in the idempotency table: a Buffer's toJSON) rebuilt.
  const bytes = ArrayBuffer.isView(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : Buffer.from((value as unknown as { data: number[] }).data);
  const text = bytes.toString('utf8');
  if (isJson(contentType ?? '')) {
    try {
      return JSON.stringify(JSON.parse(text));
    } catch {
      // stored as JSON but not JSON: its text
    }
  }
  return JSON.stringify(text);
}

/** One op's result in the reply (TxnResultReply's members, in its order): an expiry in RFC 3339. */
function resultJson(r: TxnResult): string {
  let s = `{"op":${JSON.stringify(r.op)}`;
  if (r.key !== undefined) s += `,"key":${JSON.stringify(r.key)}`;
  if (r.version !== undefined) s += `,"version":${numJson(r.version)}`;
  if (r.hash !== undefined) s += `,"hash":${hashJson(r.hash)}`;
  if (r.revision !== undefined) s += `,"revision":${numJson(r.revision)}`;
  if (r.found !== undefined) s += `,"found":${r.found}`;
  if (r.value !== undefined) s += `,"value":${valueJson(r.value, r.content_type)}`;
  if (r.content_type !== undefined) s += `,"content_type":${JSON.stringify(r.content_type)}`;
  if (r.expires_at !== undefined) s += `,"expires_at":"${new Date(r.expires_at).toISOString()}"`;
  if (r.id !== undefined) s += `,"id":${numJson(r.id)}`;
  if (r.topic !== undefined) s += `,"topic":${JSON.stringify(r.topic)}`;
  return `${s}}`;
}

/**
 * `POST /api/txn`'s reply (schemas/http/state.ts TxnReply) as JSON text, written member by
 * member: JSON.stringify of the reply object took ~2.5 µs of a lost compare's ~45 on the peers'
 * VM, most of it checking the two hashes' characters for escapes; 16 clients on one counter send
 * sixteen of these per commit.
 */
export function txnReplyJson(res: { succeeded: boolean; revision: number; results: readonly TxnResult[]; current?: readonly TxnCurrent[] | undefined }): string {
  let s = `{"succeeded":${res.succeeded},"revision":${numJson(res.revision)},"results":[`;
  for (let i = 0; i < res.results.length; i++) s += (i === 0 ? '' : ',') + resultJson(res.results[i]!);
  s += ']';
  if (res.current) {
    s += ',"current":[';
    for (let i = 0; i < res.current.length; i++) {
      const c = res.current[i]!;
      s += `${i === 0 ? '' : ','}{"key":${JSON.stringify(c.key)},"version":${numJson(c.version)}${c.hash === undefined ? '' : `,"hash":${hashJson(c.hash)}`}}`;
    }
    s += ']';
  }
  return `${s}}`;
}

/**
 * `PUT /api/state/{key}`'s reply (StatePutReply) as JSON text, in its member order: the text
 * JSON.stringify wrote for it. Its times are RFC 3339 (digits, `-`, `:`, `T`, `.`, `Z`): spliced.
 */
export function putReplyJson(r: StatePutReply): string {
  const s = `{"key":${JSON.stringify(r.key)},"version":${numJson(r.version)},"hash":${hashJson(r.hash)},"content_type":${JSON.stringify(r.content_type)},"updated_at":"${r.updated_at}","revision":${numJson(r.revision)}`;
  return r.expires_at === undefined ? `${s}}` : `${s},"expires_at":"${r.expires_at}"}`;
}
