import type { IdemTag, RequestEnvelope } from '../../schemas/rpc/envelope.js';
import { fault } from './fault.js';
import { sql, type Tx } from './sql.js';
import { storageNow } from '../../schemas/db/time.js';

const GET = sql('SELECT method, request_hash, reply FROM idempotency_keys WHERE caller = ? AND key = ?');
const PUT = sql('INSERT INTO idempotency_keys (caller, key, method, request_hash, reply, created_at) VALUES (?, ?, ?, ?, ?, ?)');

/** No earlier write under this key: run the method. */
export const FIRST = Symbol('first');

/**
 * Writes sent with an Idempotency-Key, for every writer method alike: inside the
 * write's transaction the key is looked up first; a retry of the same request gets the stored
 * result, the same key for another method or request is refused, and a first write stores its
 * result with it — so a committed write always has its key and a rolled-back one never does.
 * Retention (24 h) prunes the keys (ops.prune).
 */
export async function priorResult(tx: Tx, env: RequestEnvelope & { idem: IdemTag }): Promise<unknown> {
  const r = await tx.get<{ method: string; request_hash: string; reply: string }>(GET, env.idem.caller, env.idem.key);
  if (!r) return FIRST;
  if (r.method !== env.method || r.request_hash !== env.idem.hash) throw fault('IDEMPOTENCY_KEY_REUSED', env.idem.key);
  const reply = JSON.parse(r.reply) as unknown;
  return EARLIER_REPLIES[r.method]?.(reply) ?? reply;
}

/**
 * Stored results whose shape an upgrade changed, brought to today's: a retry sent across the
 * upgrade (keys live 24 h) gets a result its method's caller can read. `messages.send` stored
 * the message under its reply's names (`from`, `to`) before it returned the row's (`from_id`, `to_json`).
 */
const EARLIER_REPLIES: Readonly<Record<string, (reply: unknown) => unknown>> = {
  'messages.send': (reply) => {
    const r = reply as { message: Record<string, unknown> };
    if (!('from' in r.message)) return reply;
    const { from, to, ...rest } = r.message;
    return { ...r, message: { ...rest, from_id: from, to_json: to } };
  },
};

/**
 * Members of a method's result that are secrets: stored with the key as '' — a data
 * file or a backup holds no usable token — so a replay tells the front to issue a new one.
 */
const SECRET_MEMBERS: Readonly<Record<string, string>> = { 'instances.register': 'token' };

/** The key's row for a first write's result; `wait` false sends it with the batch (the fast path). */
export function recordResult(tx: Tx, env: RequestEnvelope & { idem: IdemTag }, res: unknown, wait: boolean): Promise<unknown> | void {
  const secret = SECRET_MEMBERS[env.method];
  const kept = secret === undefined ? res : { ...(res as Record<string, unknown>), [secret]: '' };
  const args = [env.idem.caller, env.idem.key, env.method, env.idem.hash, JSON.stringify(kept), storageNow()];
  if (wait) return tx.run(PUT, ...args);
  tx.send(PUT, ...args);
}
