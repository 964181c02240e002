import path from 'node:path';
import t from 'tap';
import type { ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import type { MessageRow as Message } from '../../schemas/rpc/writer.js';
import { sqliteReaders, type Readers } from '../../src/domains/readers.js';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { openReader } from '../../src/backend/read-db.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { openWriterDb } from '../../workers/writer/sqlite/db.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import { tempDir } from '../helpers/server.js';
import { monoNow } from '../../src/shared/mono-clock.js';

/** The agent inbox's storage through the one writer on SQLite and the front's reader; the PostgreSQL twin is test/cluster/parity-inbox.test.ts. */

declare namespace Tap {
  type Test = { teardown(fn: () => unknown): void };
}

function open(t: Tap.Test) {
  const file = path.join(tempDir(t), 'data.db');
  const db = openWriterDb(file, WRITER_LIMITS);
  t.teardown(() => db.close());
  const d = createDispatcher(sqliteDriver(db));
  const readDb = openReader(file);
  t.teardown(() => readDb.close());
  const read: Readers = sqliteReaders(readDb);
  let n = 1;
  const call = async (method: string, req: unknown, actor?: string): Promise<ReplyEnvelope> =>
    (await d.run([{ id: n++, method, deadline: monoNow() + 5000, req, ...(actor ? { audit: { actor } } : {}) }])).replies[0]!;
  const ok = async <T = any>(method: string, req: unknown, actor?: string): Promise<T> => {
    const r = await call(method, req, actor);
    if (!r.ok) throw new Error(`${method}: ${r.err.status} ${r.err.message}`);
    return r.res as T;
  };
  const register = async (name: string) => (await ok<{ id: string }>('instances.register', { name, workspace: `/w/${name}`, intent: '', stack: '', capabilities: [] })).id;
  const send = (from: string, recipients: string[], body: string, extra: Record<string, unknown> = {}) =>
    call('messages.send', { from, from_name: from === 'human' ? 'human' : `n-${from.slice(0, 4)}`, to: recipients, recipients, subject: '', body, importance: 'normal', ack_required: false, ...extra }, 'actor');
  const sent = async (...a: Parameters<typeof send>): Promise<Message> => {
    const r = await send(...a);
    if (!r.ok) throw new Error(`send: ${r.err.message}`);
    return (r.res as { message: Message }).message;
  };
  const count = (sql: string, ...p: unknown[]) => db.prepare(sql).pluck().get(...p) as number;
  return { db, call, ok, register, send, sent, read, count };
}

const page = { since: 0, unread: false, thread: null, limit: 100 };

t.test('send stores the message and one inbox row per recipient, starts a thread and announces ids only', async (t) => {
  const { register, send, read, count } = open(t);
  const [a, b, c] = [await register('alice'), await register('bob'), await register('carol')];
  const r = await send(a, [b, c, b], 'the /users contract changed', { subject: 'contract', importance: 'high', ack_required: true });
  t.ok(r.ok);
  const { message, events } = r.res as { message: Message; events: Array<{ topic: string; data: string }> };
  t.match(message, { from_id: a, to_json: [b, c, b], recipients: [b, c], thread_id: message.id, reply_to: 0, subject: 'contract', body: 'the /users contract changed', importance: 'high', ack_required: true });
  t.match(message.created_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  t.equal(count('SELECT count(*) FROM message_recipients WHERE message_id = ?', message.id), 2, 'a duplicate recipient gets one row');
  t.equal(events.length, 1);
  t.equal(events[0]!.topic, 'message.sent');
  const data = JSON.parse(events[0]!.data);
  t.same(data.recipient_names, ['bob', 'carol'], 'the event names the recipients');
  t.notOk(events[0]!.data.includes('contract'), 'but carries neither the subject nor the body');
  const inbox = (await read.messages.inbox(b, page)) as Array<Record<string, unknown>>;
  t.same(inbox.map((i) => [i.id, i.read_at, i.acked_at]), [[message.id, '', '']], "in bob's inbox, unread");
  t.same(await read.messages.inbox(a, page), [], 'not in the sender’s');
  t.equal(count("SELECT count(*) FROM audit_log WHERE action = 'message.send' AND resource = ?", String(message.id)), 1, 'audited');
});

t.test('an unknown or deregistered recipient: nothing stored, the missing ones named', async (t) => {
  const { register, send, ok, count } = open(t);
  const [a, b, gone] = [await register('alice'), await register('bob'), await register('gone')];
  await ok('instances.deregister', { id: gone });
  const r = await send(a, [b, gone, 'nobody'], 'hi');
  t.same(r.ok ? null : r.err, { status: 'INVALID_ARGUMENT', message: `unknown recipients: ${gone}, nobody` });
  t.equal(count('SELECT count(*) FROM messages'), 0);
  t.equal(count('SELECT count(*) FROM message_recipients'), 0);
  t.equal(count("SELECT count(*) FROM events WHERE topic = 'message.sent'"), 0);
});

t.test('threads: reply_to joins the replied thread; a named thread must exist and agree', async (t) => {
  const { register, send, sent, read } = open(t);
  const [a, b, c] = [await register('alice'), await register('bob'), await register('carol')];
  const q = await sent(a, [b], 'question');
  const other = await sent(c, [a], 'unrelated');
  const ans = await sent(b, [a, c], 'answer', { reply_to: q.id });
  t.same([ans.thread_id, ans.reply_to], [q.id, q.id]);
  const more = await sent(c, [a, b], 'me too', { thread_id: q.id });
  t.equal(more.thread_id, q.id);
  const deep = await sent(a, [b], 'reply to the reply', { reply_to: ans.id, thread_id: q.id });
  t.equal(deep.thread_id, q.id);
  const err = async (extra: Record<string, unknown>) => {
    const r = await send(a, [b], 'x', extra);
    return r.ok ? null : r.err;
  };
  t.same(await err({ reply_to: 999 }), { status: 'INVALID_ARGUMENT', message: 'unknown message in reply_to: 999' });
  t.same(await err({ thread_id: 999 }), { status: 'INVALID_ARGUMENT', message: 'unknown thread: 999' });
  t.same(await err({ thread_id: ans.id }), { status: 'INVALID_ARGUMENT', message: `unknown thread: ${ans.id}` }, 'a reply’s id is no thread');
  t.same(await err({ reply_to: ans.id, thread_id: other.id }), { status: 'INVALID_ARGUMENT', message: `message ${ans.id} is not in thread ${other.id}` });
  t.same(await err({ reply_to: 2 ** 70 }), { status: 'INVALID_ARGUMENT', message: `unknown message in reply_to: ${2 ** 70}` }, 'an id beyond int8 finds nothing');
  t.same(((await read.messages.thread(q.id, 0, 100)) as Message[]).map((m) => m.id), [q.id, ans.id, more.id, deep.id], 'the thread, oldest first');
  t.same(((await read.messages.thread(q.id, ans.id, 1)) as Message[]).map((m) => m.id), [more.id], 'paged');
  t.same(((await read.messages.inbox(a, { ...page, thread: q.id })) as Message[]).map((m) => m.id), [ans.id, more.id], "alice's items of the thread");
  t.equal(await read.messages.inThread(q.id, c), true, 'carol takes part (a recipient)');
  t.equal(await read.messages.inThread(other.id, b), false, 'bob does not in carol’s other thread');
  t.equal(await read.messages.inThread(other.id, c), true, 'its sender does');
});

t.test('reading never changes state; mark_read by ids or up to an id; ack reads and acknowledges, per recipient', async (t) => {
  const { register, sent, ok, call, read, count } = open(t);
  const [a, b, c] = [await register('alice'), await register('bob'), await register('carol')];
  const ids: number[] = [];
  for (let i = 0; i < 4; i++) ids.push((await sent(a, [b, c], `m${i}`)).id);
  await read.messages.inbox(b, page);
  await read.messages.inbox(b, { ...page, unread: true });
  t.equal(await read.messages.unread(b), 4, 'reads left everything unread');
  t.same(((await read.messages.inbox(b, { ...page, since: ids[1]!, limit: 1 })) as Message[]).map((m) => m.id), [ids[2]], 'after since, paged');
  t.same(await ok('messages.mark_read', { recipient: b, ids: [ids[0], ids[2], 999, 2 ** 70] }), { marked: 2, unread: 2 });
  t.same(((await read.messages.inbox(b, { ...page, unread: true })) as Message[]).map((m) => m.id), [ids[1], ids[3]], 'the unread page');
  const firstRead = count('SELECT read_at FROM message_recipients WHERE recipient = ? AND message_id = ?', b, ids[0]);
  t.same(await ok('messages.mark_read', { recipient: b, up_to: ids[2] }), { marked: 1, unread: 1 }, 'already read ones are not marked again');
  t.equal(count('SELECT read_at FROM message_recipients WHERE recipient = ? AND message_id = ?', b, ids[0]), firstRead, 'the first read time stays');
  t.equal(await read.messages.unread(c), 4, "carol's state is her own");
  const acked = await ok('messages.ack', { recipient: c, id: ids[3] }, 'actor');
  t.match(acked, { message_id: ids[3], recipient: c, read_at: /^\d{4}-/, acked_at: /^\d{4}-/ }, 'ack implies read');
  t.same(await ok('messages.ack', { recipient: c, id: ids[3] }), acked, 'again: the first times stay');
  t.equal(await read.messages.unread(c), 3);
  t.same((await call('messages.ack', { recipient: a, id: ids[3] })).err, { status: 'NOT_FOUND', message: `message not found: ${ids[3]}` }, 'the sender is no recipient');
  t.same((await call('messages.ack', { recipient: b, id: 999 })).err, { status: 'NOT_FOUND', message: 'message not found: 999' });
  t.equal(count("SELECT count(*) FROM audit_log WHERE action = 'message.ack' AND resource = ?", String(ids[3])), 1, 'an audited ack');
  const full = (await read.messages.withRecipients(ids[3]))!;
  t.equal(full.message.body, 'm3');
  t.same(full.recipients.map((r) => [r.recipient, r.read_at !== '', r.acked_at !== '']), [[b, false, false], [c, true, true]].sort(), 'every recipient’s state');
  t.equal(await read.messages.withRecipients(999), undefined);
});

t.test('deregistration drops the inbox only; retention prunes bounded chunks, inbox rows with them', async (t) => {
  const { register, sent, ok, read, count } = open(t);
  const [a, b, c] = [await register('alice'), await register('bob'), await register('carol')];
  for (let i = 0; i < 5; i++) await sent(a, [b, c], `m${i}`);
  await ok('instances.mark_stale', { cutoff: '9999-01-01 00:00:00' });
  t.equal(await read.messages.unread(b), 5, 'a stale agent keeps its inbox');
  await ok('instances.deregister', { id: b });
  t.equal(count('SELECT count(*) FROM message_recipients WHERE recipient = ?', b), 0, "bob's inbox is gone");
  t.equal(await read.messages.unread(c), 5, "carol's stays");
  t.equal(count('SELECT count(*) FROM messages'), 5, 'and the messages');
  t.same(await ok('messages.prune', { before: '2000-01-01 00:00:00', chunk: 2 }), { deleted: 0, more: false }, 'nothing that old');
  t.same(await ok('messages.prune', { before: '9999-01-01 00:00:00', chunk: 2 }), { deleted: 2, more: true });
  t.same(((await read.messages.inbox(c, page)) as Message[]).map((m) => m.body), ['m2', 'm3', 'm4'], 'the oldest went first');
  t.same(await ok('messages.prune', { before: '9999-01-01 00:00:00', chunk: 3 }), { deleted: 3, more: true });
  t.same(await ok('messages.prune', { before: '9999-01-01 00:00:00', chunk: 3 }), { deleted: 0, more: false });
  t.equal(count('SELECT count(*) FROM message_recipients'), 0, 'inbox rows went with their messages');
  const next = await sent(a, [c], 'after');
  t.equal(next.id, 6, 'ids keep growing after a prune (never reused)');
});
