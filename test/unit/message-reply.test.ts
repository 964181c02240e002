import t from 'tap';
import { Compile } from '../../schemas/typebox.js';
import { MESSAGE, RECIPIENT } from '../../schemas/db/tables/messages.js';
import { InboxItem, Message } from '../../schemas/http/messages.js';
import { inboxItemJson } from '../../src/domains/messages/service.js';

/** A message's replies as the records write them: the texts the hand-built messageJson and inboxItemJson wrote. */

const DB = { id: 3, from_id: 'ag-1', from_name: 'Ünïcode "n"', to_json: '["bob","project:p","*"]', recipients: '["ag-2","ag-3"]', subject: 'sub\n\u2028', body: 'body 🚀 \\ "q"', thread_id: 1, reply_to: 0, importance: 'high', ack_required: 1, created_at: '2026-11-29 18:00:00' };
const SENT = [
  '{"id":3,"from":"ag-1","from_name":"Ünïcode \\"n\\"","to":["bob","project:p","*"],"recipients":["ag-2","ag-3"],"thread_id":1,"reply_to":null,"subject":"sub\\n\u2028","body":"body 🚀 \\\\ \\"q\\"","importance":"high","ack_required":true,"created_at":"2026-11-29T18:00:00Z"}',
  '{"id":3,"from":"ag-1","from_name":"Ünïcode \\"n\\"","to":["bob","project:p","*"],"recipients":["ag-2","ag-3"],"thread_id":1,"reply_to":2,"subject":"sub\\n\u2028","body":"body 🚀 \\\\ \\"q\\"","importance":"normal","ack_required":false,"created_at":"2026-11-29T18:00:00Z"}',
];
const ITEMS = [
  '{"id":3,"from":"ag-1","from_name":"Ünïcode \\"n\\"","to":["bob","project:p","*"],"recipients":["ag-2","ag-3"],"thread_id":1,"reply_to":null,"subject":"sub\\n\u2028","body":"body 🚀 \\\\ \\"q\\"","importance":"high","ack_required":true,"created_at":"2026-11-29T18:00:00Z","read_at":"","acked_at":""}',
  '{"id":3,"from":"ag-1","from_name":"Ünïcode \\"n\\"","to":["bob","project:p","*"],"recipients":["ag-2","ag-3"],"thread_id":1,"reply_to":null,"subject":"sub\\n\u2028","body":"body 🚀 \\\\ \\"q\\"","importance":"high","ack_required":true,"created_at":"2026-11-29T18:00:00Z","read_at":"2026-11-29T18:00:01Z","acked_at":"2026-11-29T18:00:02Z"}',
];

t.test('a message: the text it always had (members in the same order, reply_to 0 as null, ack_required a boolean)', async (t) => {
  t.equal(MESSAGE.json(MESSAGE.decode(DB)), SENT[0]);
  t.equal(MESSAGE.json(MESSAGE.decode({ ...DB, reply_to: 2, importance: 'normal', ack_required: 0 })), SENT[1]);
  const check = Compile(Message);
  for (const text of SENT) t.ok(check.Check(JSON.parse(text)), 'what the API documents');
  t.same(MESSAGE.wire(MESSAGE.decode(DB)), JSON.parse(SENT[0]!), 'the reply as a value agrees');
});

t.test("an inbox item: the message, then the reader's own read and ack times", async (t) => {
  const row = { ...DB, recipient: 'ag-2', message_id: 3, read_at: '', acked_at: '' };
  t.equal(inboxItemJson(row), ITEMS[0], 'unread: "" for both');
  t.equal(inboxItemJson({ ...row, read_at: '2026-11-29 18:00:01', acked_at: '2026-11-29 18:00:02' }), ITEMS[1]);
  const check = Compile(InboxItem);
  for (const text of ITEMS) t.ok(check.Check(JSON.parse(text)));
  t.notOk('recipient' in JSON.parse(ITEMS[0]!) || 'message_id' in JSON.parse(ITEMS[0]!), "the recipient row's keys stay the server's");
});

t.test('the columns keep the order the tables were created with, which is not the reply order', async (t) => {
  t.equal(MESSAGE.columns, 'id, from_id, from_name, to_json, recipients, subject, body, thread_id, reply_to, importance, ack_required, created_at');
  t.equal(RECIPIENT.columns, 'recipient, message_id, read_at, acked_at');
});
