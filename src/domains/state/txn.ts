import type { TxnCompare, TxnOp } from '../../../schemas/rpc/writer-txn.js';
import type { TxnBody, TxnOpBody as BodyOp } from '../../../schemas/http/state.js';
import { describeTarget, inScope } from '../../access.js';
import { fail } from '../../errors.js';
import type { Principal } from '../../identity.js';
import { checkName } from '../../names.js';
import { TXN_MAX_OPS } from '../../shared/limits.js';
import { parseDuration } from '../../config.js';

/**
 * A state key's TTL: `X-Koor-TTL` or `?ttl=`, a Go-style duration ("30s", "500ms",
 * "5m") or seconds; absent or empty = none. Between 1 ms and 596 h.
 */
export function stateTtl(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined || text.trim() === '') return undefined;
  let ms: number;
  try {
    ms = parseDuration(text.trim(), 'ttl');
  } catch (e) {
    throw fail('TTL_INVALID', (e as Error).message);
  }
  if (!(ms >= 1)) throw fail('TTL_INVALID', `invalid ttl "${text}": at least 1ms`);
  return ms;
}

/** One op of a `POST /api/txn` body (schemas/http/state.ts checked its shape). */

/** Whether a content type is JSON's (`application/json`, `…+json`, with parameters). */
export const isJson = (ct: string): boolean => /(^|[/+])json(\s*;|$)/i.test(ct);

/** Where an op is in the body, for its error: `success[2]`. */
const at = (branch: string, i: number): string => `${branch}[${i}]`;

/** An op's key, checked: a valid name within a scoped caller's scopes. */
function opKey(caller: Principal, b: BodyOp, branch: string, i: number): string {
  if (typeof b.key !== 'string' || b.key === '') throw fail('TXN_OP_INVALID', at(branch, i), 'key is required');
  const k = checkName(b.key, 'key');
  scoped(caller, 'state', k);
  return k;
}

/** A put op's ttl (as X-Koor-TTL reads it), refused with the op's place in the body. */
function opTtl(ttl: string | number, branch: string, i: number): number | undefined {
  try {
    return stateTtl(String(ttl));
  } catch (e) {
    throw fail('TXN_OP_INVALID', at(branch, i), (e as Error).message);
  }
}

/**
 * One op of the body (`branch[i]`), checked and made ready for the writer: a put's value becomes
 * bytes (JSON text unless a non-JSON content_type stores a string as is); a scoped token must
 * reach every key and topic. Built without spreads or closures: 16 clients on one counter send
 * a transaction each per commit, and the losers' ops are made too.
 */
function toOp(caller: Principal, b: BodyOp, branch: string, i: number, headerFence: number | undefined): TxnOp {
  const fence = b.fence ?? headerFence;
  switch (b.op) {
    case 'put': {
      if (b.value === undefined) throw fail('TXN_OP_INVALID', at(branch, i), 'a put needs a value');
      const key = opKey(caller, b, branch, i);
      const ct = b.content_type || 'application/json';
      let value: Uint8Array;
      if (isJson(ct)) value = Buffer.from(JSON.stringify(b.value));
      else if (typeof b.value === 'string') value = Buffer.from(b.value);
      else throw fail('TXN_OP_INVALID', at(branch, i), `a ${ct} value must be a string`);
      if (value.length === 0) throw fail('TXN_OP_INVALID', at(branch, i), 'empty value');
      const op: Extract<TxnOp, { op: 'put' }> = { op: 'put', key, value, content_type: ct };
      const ttl = b.ttl === undefined ? undefined : opTtl(b.ttl, branch, i);
      if (ttl !== undefined) op.ttl_ms = ttl;
      if (fence !== undefined) op.fence = fence;
      return op;
    }
    case 'delete': {
      const op: Extract<TxnOp, { op: 'delete' }> = { op: 'delete', key: opKey(caller, b, branch, i) };
      if (fence !== undefined) op.fence = fence;
      return op;
    }
    case 'get':
      return { op: 'get', key: opKey(caller, b, branch, i) };
    case 'publish': {
      if (typeof b.topic !== 'string' || b.topic === '') throw fail('TXN_OP_INVALID', at(branch, i), 'topic is required');
      scoped(caller, 'topic', b.topic);
      return { op: 'publish', topic: b.topic, data: JSON.stringify(b.data ?? null) };
    }
    default:
      throw fail('TXN_OP_INVALID', at(branch, i), `unknown op: ${String(b.op)}`);
  }
}

/** A scoped token must reach every key and topic a transaction touches. */
function scoped(caller: Principal, kind: 'state' | 'topic', name: string): void {
  const { role, scopes } = caller;
  if (scopes !== null && !inScope(scopes, { kind, name })) throw fail('SCOPE_FORBIDDEN', role, 'run transactions', describeTarget({ kind, name }));
}

/** A transaction body: its compares and the ops run when they hold (`success`) or not (`failure`). */

/**
 * A transaction body checked and made ready for the writer: at most TXN_MAX_OPS
 * compares and ops, every key a valid name, every key and topic within a scoped caller's scopes;
 * `fence` is the request's default fence of a put or delete.
 */
export function txnOps(caller: Principal, b: TxnBody, fence: number | undefined): { compare: TxnCompare[]; success: TxnOp[]; failure: TxnOp[] } {
  const compare = b.compare ?? [];
  const count = compare.length + (b.success?.length ?? 0) + (b.failure?.length ?? 0);
  if (count > TXN_MAX_OPS) throw fail('TXN_TOO_MANY_OPS', count, TXN_MAX_OPS);
  compare.forEach((c, i) => {
    if (c.key === '') throw fail('TXN_OP_INVALID', `compare[${i}]`, 'key is required');
    checkName(c.key, 'key');
    scoped(caller, 'state', c.key);
    if (c.version === undefined && c.hash === undefined && c.exists === undefined) throw fail('TXN_OP_INVALID', `compare[${i}]`, 'needs version, hash or exists');
  });
  const success = (b.success ?? []).map((o, i) => toOp(caller, o, 'success', i, fence));
  const failure = (b.failure ?? []).map((o, i) => toOp(caller, o, 'failure', i, fence));
  return { compare, success, failure };
}
