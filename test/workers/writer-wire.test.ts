import path from 'node:path';
import t from 'tap';
import type { ReplyEnvelope, RequestEnvelope } from '../../schemas/rpc/envelope.js';
import { decodeReply, decodeRequest, encodeReplies, encodeRequest } from '../../schemas/rpc/writer-wire.js';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { openWriterDb } from '../../workers/writer/sqlite/db.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import { tempDir } from '../helpers/server.js';

/**
 * The writer port's wire form (schemas/rpc/writer-wire.ts): every envelope and reply the front
 * and the writer exchange survives the trip as it was — through a real structured clone, as
 * postMessage copies it — and a PUT's carries no property name.
 */
const far = Date.now() + 5000;
const value = Buffer.from('v1');
const trip = <T>(x: T): T => structuredClone(x);

/** Property names anywhere in a value (a Buffer's bytes are not objects to the clone). */
function names(x: unknown): string[] {
  if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return [];
  if (Array.isArray(x)) return x.flatMap(names);
  return Object.entries(x).flatMap(([k, v]) => [k, ...names(v)]);
}

t.test('requests round-trip in every shape: packed or not, with and without audit and idempotency key', async (t) => {
  const envs: RequestEnvelope[] = [
    { id: 1, method: 'state.put', deadline: far, req: { key: 'k', value, content_type: 'text/plain', updated_by: '' } },
    { id: 2, method: 'state.put', deadline: far, req: { key: 'k', value, content_type: 'x', updated_by: 'a', if_match: '"h"', if_none_match: '*', ttl_ms: 5, owner: 'i', fence: 0 }, audit: { actor: 'a' } },
    { id: 3, method: 'state.put', deadline: far, req: { key: 'k', value, content_type: 'x', updated_by: '' }, idem: { caller: 'c', key: 'K', hash: 'h' } },
    { id: 4, method: 'state.delete', deadline: far, req: { key: 'k' }, audit: { actor: 'a', action: 'x', resource: 'r', detail: '{}' }, idem: { caller: 'c', key: 'K', hash: 'h' } },
    { id: 5, method: 'sys.ping', deadline: far, req: {} },
    { id: 6, method: 'state.put', deadline: far, req: { key: 'k', value, content_type: 'x', updated_by: '' }, audit: { actor: '' }, idem: { caller: 'c', key: 'K', hash: 'h' } },
  ];
  for (const env of envs) {
    const back = decodeRequest(trip(encodeRequest(env))) as RequestEnvelope;
    t.same(back, env, `#${env.id} ${env.method}`);
    t.strictSame(Object.keys(back).sort(), Object.keys(env).sort(), `#${env.id}: no property added`);
    t.strictSame(Object.keys(back.req as object).sort(), Object.keys(env.req as object).sort(), `#${env.id}: absent request fields stay absent`);
  }
  t.ok(Buffer.from((decodeRequest(trip(encodeRequest(envs[0]!))) as { req: { value: Uint8Array } }).req.value).equals(value), 'the bytes arrive');
  t.same(names(encodeRequest(envs[0]!)), [], 'a PUT without audit: no property name on the wire');
  t.same(names(encodeRequest(envs[1]!)), [], 'nor with an audit tag naming only its actor');
  t.same(names(encodeRequest(envs[3]!)), ['key', 'actor', 'action', 'resource', 'detail', 'caller', 'key', 'hash'], 'an unpacked method keeps its request as it is');
});

t.test('anything but a wire request decodes to what the writer refuses, keeping its id', async (t) => {
  t.same(decodeRequest({ id: 7, method: 'state.put', deadline: far, req: {} }), { id: 7, malformed: true }, 'an envelope object is not the wire form');
  t.same(decodeRequest([8, 42, far, {}]), { id: 8, malformed: true }, 'a method that is not a string');
  t.same(decodeRequest(null), { id: undefined, malformed: true });
  t.same(decodeRequest('x'), { id: undefined, malformed: true });
  t.same(decodeRequest([9, 'state.put', far, 'not an array']), { id: 9, method: 'state.put', deadline: far, req: 'not an array' }, 'a packed method given no array: left for the request check');
});

t.test('replies round-trip, each result packed by its own envelope’s method', async (t) => {
  const meta = { key: 'k', version: 2, hash: 'a'.repeat(64), content_type: 'x', updated_at: '2026-11-27 06:00:00', revision: 9 };
  const batch = [
    decodeRequest(encodeRequest({ id: 1, method: 'state.put', deadline: far, req: { key: 'k', value, content_type: 'x', updated_by: '' } })),
    decodeRequest({ junk: true }), // a malformed envelope: answered with id 0
    decodeRequest(encodeRequest({ id: 3, method: 'state.delete', deadline: far, req: { key: 'k' } })),
    decodeRequest(encodeRequest({ id: 4, method: 'state.put', deadline: far, req: { key: 'k', value, content_type: 'x', updated_by: '' } })),
    decodeRequest(encodeRequest({ id: 5, method: 'state.put', deadline: far, req: { key: 'k', value, content_type: 'x', updated_by: '' } })),
    decodeRequest(encodeRequest({ id: 6, method: 'state.put', deadline: far, req: { key: 'k', value, content_type: 'x', updated_by: '' } })),
  ];
  const replies: ReplyEnvelope[] = [
    { id: 1, ok: true, res: meta },
    { id: 0, ok: false, err: { status: 'INVALID_ARGUMENT', message: 'malformed RPC envelope' } },
    { id: 3, ok: true, res: { key: 'k', revision: 10 } },
    { id: 4, ok: false, err: { status: 'FAILED_PRECONDITION', message: 'precondition failed: current version 2', detail: { version: 2 } } },
    { id: 5, ok: true, res: { ...meta, expires_at: 1_800_000_000_000 }, replayed: true },
    { id: 6, ok: true, res: { ...meta, version: 3 } },
  ];
  const methods = ['state.put', undefined, 'state.delete', 'state.put', 'state.put', 'state.put'];
  const wire = trip(encodeReplies(replies, batch));
  t.same(
    wire.map((w, i) => decodeReply(w, methods[i])),
    replies,
    'every reply as it left',
  );
  t.same(names(wire[0]), [], 'a PUT’s result: no property name on the wire');
  t.same(names(wire[5]), [], 'nor after a failure and a replay in the same batch');
  t.notOk('expires_at' in (decodeReply(wire[0]!, 'state.put') as { res: object }).res, 'an absent expiry stays absent');
  t.same(decodeReply(wire[2]!, 'state.put'), replies[2], 'an unpacked result decodes as itself, whatever the caller expected');
});

t.test('the packed methods’ real results cross whole: nothing the writer answers is left behind', async (t) => {
  const db = openWriterDb(path.join(tempDir(t), 'data.db'), WRITER_LIMITS);
  t.teardown(() => db.close());
  const d = createDispatcher(sqliteDriver(db));
  const put = (id: number, more: Record<string, unknown> = {}): RequestEnvelope => ({ id, method: 'state.put', deadline: far, req: { key: `k${id}`, value, content_type: 'text/plain', updated_by: 'a', ...more }, audit: { actor: 'a' } });
  const envs: RequestEnvelope[] = [
    put(1),
    put(2, { ttl_ms: 60_000 }),
    put(3, { owner: 'inst-1', if_none_match: '*' }),
    put(4, { fence: 7 }),
    { id: 5, method: 'events.publish', deadline: far, req: { topic: 't', data: '{"n":1}', source: 's' } },
    { ...put(6), idem: { caller: 'c', key: 'K', hash: 'h' } },
  ];
  // Through the wire both ways, as the front and the writer thread exchange them.
  const batch = envs.map((e) => decodeRequest(trip(encodeRequest(e))));
  t.same(batch, envs, 'the requests arrive whole');
  const { replies } = await d.run(batch);
  t.ok(replies.every((r) => r.ok), 'every write succeeded');
  const again = (await d.run([decodeRequest(trip(encodeRequest({ ...put(6), id: 7, idem: { caller: 'c', key: 'K', hash: 'h' } })))])).replies;
  t.equal((again[0] as { replayed?: boolean }).replayed, true, 'a replay');
  const all = [...replies, ...again];
  const wire = trip(encodeReplies(all, [...batch, { id: 7, method: 'state.put' }]));
  const methods = [...envs.map((e) => e.method), 'state.put'];
  t.strictSame(
    wire.map((w, i) => decodeReply(w, methods[i])),
    all.map((r) => structuredClone(r)),
    'every result as the writer made it, no property dropped or added',
  );
  t.ok((all[1] as { res: { expires_at?: number } }).res.expires_at! > Date.now(), 'an expiry among them');
  t.same(names(wire), [], 'and not one property name on the wire');
});
