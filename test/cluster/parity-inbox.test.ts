import t from 'tap';
import type { ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import type { MessageRow as Message } from '../../schemas/rpc/writer.js';
import { filePostgres } from '../helpers/postgres.js';
import { checkParity, type Call } from '../helpers/parity.js';

/** Cluster mode: the agent inbox's writer methods and reader answer and store alike on both backends. */

const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`writer parity (inbox): ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const agent = { actor: 'agent-1' };
  /** The failure statuses of a transcript's replies (its reads aside), in order. */
  const errors = (transcript: unknown[]) =>
    transcript.flatMap((r) => (r !== null && typeof r === 'object' && (r as ReplyEnvelope).ok === false ? [(r as { err: { status: string } }).err.status] : []));
  const res = <T>(r: ReplyEnvelope): T => {
    if (!r.ok) throw new Error(`unexpected failure: ${r.err.status} ${r.err.message}`);
    return r.res as T;
  };
  const register = async (call: Call, name: string) =>
    res<{ id: string }>(await call('instances.register', { name, workspace: `/w/${name}`, intent: 'work', stack: 'ts', capabilities: [] }, { audit: agent })).id;
  const send = (call: Call, from: string, recipients: string[], body: string, extra: Record<string, unknown> = {}) =>
    call('messages.send', { from, from_name: 'sender', to: recipients, recipients, subject: 's', body, importance: 'normal', ack_required: false, ...extra }, { audit: agent });
  const msgId = (r: ReplyEnvelope) => res<{ message: Message }>(r).message.id;
  const page = { since: 0, unread: false, thread: null, limit: 100 };

  t.test('inbox: send, read, ack, threads, deregistration, prune', async (t) => {
    const run = await checkParity(t, pg, 'inbox', async (call, batch, read) => {
      const a = await register(call, 'alice');
      const b = await register(call, 'bob');
      const c = await register(call, 'carol');
      const name = new Map([[a, 'alice'], [b, 'bob'], [c, 'carol']]);
      const q = msgId(await send(call, a, [b, c, b], 'question', { importance: 'high', ack_required: true }));
      const ans = msgId(await send(call, b, [a, c], 'answer', { reply_to: q }));
      await send(call, c, [a, b], 'me too', { thread_id: q });
      await send(call, 'human', [a], 'from the operator');
      // Two senders in one batch (one transaction): ids in order, one counter.
      await batch([
        { method: 'messages.send', req: { from: a, from_name: 'alice', to: ['*'], recipients: [b, c], subject: '', body: 'all', importance: 'normal', ack_required: false } },
        { method: 'messages.send', req: { from: b, from_name: 'bob', to: ['ghost'], recipients: ['ghost'], subject: '', body: 'x', importance: 'normal', ack_required: false } },
        { method: 'messages.send', req: { from: c, from_name: 'carol', to: [a], recipients: [a], subject: '', body: 'last', importance: 'normal', ack_required: false, reply_to: ans } },
      ]);
      // Failures: unknown reply_to (also beyond int8), unknown thread, a reply to another thread.
      await send(call, a, [b], 'x', { reply_to: 999 });
      await send(call, a, [b], 'x', { reply_to: 2 ** 70 });
      await send(call, a, [b], 'x', { thread_id: ans });
      await send(call, a, [b], 'x', { reply_to: ans, thread_id: 4 });
      await read((r) => r.messages.inbox(b, page));
      await read((r) => r.messages.inbox(a, { ...page, since: 1, limit: 2 }));
      await read((r) => r.messages.inbox(a, { ...page, thread: q }));
      await call('messages.mark_read', { recipient: b, ids: [q, 999, 2 ** 70] });
      await call('messages.mark_read', { recipient: a, up_to: 4 });
      await call('messages.mark_read', { recipient: a, up_to: 2 ** 70 });
      await read((r) => r.messages.inbox(a, { ...page, unread: true }));
      await read((r) => r.messages.unread(b));
      await call('messages.ack', { recipient: c, id: q }, { audit: agent });
      await call('messages.ack', { recipient: c, id: q });
      await call('messages.ack', { recipient: a, id: q });
      await call('messages.ack', { recipient: b, id: 2 ** 70 });
      // Recipients by name: their ids (and so their order) differ between the two runs.
      await read(async (r) => {
        const m = (await r.messages.withRecipients(q))!;
        return { ...m, recipients: m.recipients.map((x) => ({ ...x, recipient: name.get(x.recipient) })).sort((x, y) => (x.recipient! < y.recipient! ? -1 : 1)) };
      });
      await read((r) => r.messages.withRecipients(999));
      await read((r) => r.messages.thread(q, 0, 100));
      await read((r) => r.messages.inThread(q, c));
      await read((r) => r.messages.inThread(4, b));
      await call('instances.mark_stale', { cutoff: '9999-01-01 00:00:00' });
      await call('instances.deregister', { id: b }, { audit: agent });
      await read((r) => r.messages.inbox(b, page));
      await read((r) => r.messages.unread(c));
      await call('messages.prune', { before: '2000-01-01 00:00:00', chunk: 3 });
      await call('messages.prune', { before: '9999-01-01 00:00:00', chunk: 3 });
      await read((r) => r.messages.inbox(c, page));
      await send(call, a, [c], 'after the prune');
    });
    t.same(errors(run.transcript), ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'NOT_FOUND', 'NOT_FOUND'], 'the failures exercised');
    t.equal(run.tables.messages!.length, 4, 'three of seven messages pruned');
    t.equal(run.tables.events!.filter((e) => (e as { topic: string }).topic === 'message.sent').length, 7, 'one message.sent per stored message');
  });
}
