import t from 'tap';
import WebSocket from 'ws';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { subscribe } from '../helpers/ws.js';

type Headers = Record<string, string>;
const MESSAGE_KEYS = ['ack_required', 'body', 'created_at', 'from', 'from_name', 'id', 'importance', 'recipients', 'reply_to', 'subject', 'thread_id', 'to'];

function client(base: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Headers = {}) => {
    const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : (Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) as unknown as BodyInit) });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text), text, headers: r.headers };
  };
  const register = async (name: string, workspace = '') => (await call('POST', '/api/instances/register', { name, workspace })).body as { id: string; name: string; token: string };
  const as = (id: string, extra: Headers = {}): Headers => ({ 'x-koor-instance': id, ...extra });
  return { call, register, as };
}

/** A push stream (`/api/inbox/subscribe`) collecting inbox items. */
function inboxStream(base: string, query: string, headers: Headers) {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/inbox/subscribe${query}`, { headers });
  const items: Array<{ id: number; body: string; read_at: string }> = [];
  ws.on('message', (m) => items.push(JSON.parse(m.toString())));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${text}`), { status: res.statusCode, text })));
    });
    ws.once('error', reject);
  });
  return { ws, items, closed, opened };
}

t.test('inbox: send by id, name, project and *, read without consuming, read/ack per recipient', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann', '/home/ann/shop');
  const ben = await register('ben', '/home/ben/shop');
  const cat = await register('cat', '/srv/other');
  const bus = await subscribe(s.url, '?pattern=*');

  // by id
  const m1 = await call('POST', '/api/messages', { to: [ben.id], subject: 'contract', body: 'the /users contract changed' }, as(ann.id));
  t.equal(m1.status, 200, m1.text);
  t.same(Object.keys(m1.body).sort(), MESSAGE_KEYS);
  t.match(m1.body, { from: ann.id, from_name: 'ann', to: [ben.id], recipients: [ben.id], thread_id: m1.body.id, reply_to: null, subject: 'contract', importance: 'normal', ack_required: false });
  t.match(m1.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  // by name, by project (the workspace's folder name; the sender is not its own recipient), and *
  const m2 = (await call('POST', '/api/messages', { to: 'ben', body: 'by name' }, as(ann.id))).body;
  t.same(m2.recipients, [ben.id], 'a name: every live instance of it');
  const m3 = (await call('POST', '/api/messages', { to: ['project:shop'], body: 'to the shop', importance: 'high' }, as(ann.id))).body;
  t.same(m3.recipients, [ben.id], 'project:<p> matches the workspace folder, the sender left out');
  const m4 = (await call('POST', '/api/messages', { to: ['*'], body: 'to all' }, as(ann.id))).body;
  t.same(m4.recipients.sort(), [ben.id, cat.id].sort(), '*: every live agent but the sender');
  const m5 = (await call('POST', '/api/messages', { to: ['project:/srv/other'], body: 'x' }, as(ann.id))).body;
  t.same(m5.recipients, [cat.id], 'project: a whole workspace path too');

  // unknown recipients: 400 naming them, nothing stored
  const before = (await call('GET', '/api/inbox', undefined, as(ben.id))).body.length;
  const bad = await call('POST', '/api/messages', { to: [ben.id, 'nobody', 'project:nothing'], body: 'x' }, as(ann.id));
  t.same([bad.status, bad.body], [400, { error: 'unknown recipients: nobody, project:nothing', code: 400 }]);
  t.equal((await call('GET', '/api/inbox', undefined, as(ben.id))).body.length, before, 'nothing stored');

  // bad input: each a JSON error naming what was wrong
  for (const [body, status, error] of [
    [{ body: 'x' }, 400, 'to is required'],
    [{ to: [ben.id] }, 400, 'body is required'],
    [{ to: [], body: 'x' }, 400, 'to is required'],
    [{ to: [ben.id], body: '' }, 400, 'body is required'],
    [{ to: [ben.id], body: 'x', importance: 'urgent' }, 400, undefined],
    [{ to: [ben.id], body: 'x', reply_to: 999999 }, 400, 'unknown message in reply_to: 999999'],
    [{ to: [ben.id], body: 'x', thread_id: 999999 }, 400, 'unknown thread: 999999'],
    [{ to: [ben.id], body: 'é'.repeat(40_000) }, 413, 'message body too large: 80000 bytes (max 65536)'],
    [{ to: Array.from({ length: 101 }, (_, i) => `a${i}`), body: 'x' }, 400, 'too many to entries: 101 (max 100)'],
  ] as const) {
    const r = await call('POST', '/api/messages', body, as(ann.id));
    t.equal(r.status, status, JSON.stringify(body).slice(0, 60));
    if (error) t.same(r.body, { error, code: status });
    else t.match(r.body.error, /importance/);
  }

  // GET never changes state; the items are the caller's own
  const inbox = (await call('GET', '/api/inbox', undefined, as(ben.id))).body as Array<Record<string, unknown>>;
  t.same(inbox.map((i) => i.id), [m1.body.id, m2.id, m3.id, m4.id], 'oldest first');
  t.same(Object.keys(inbox[0]!).sort(), [...MESSAGE_KEYS, 'acked_at', 'read_at'].sort());
  t.same(inbox.map((i) => [i.read_at, i.acked_at]), Array(4).fill(['', '']));
  t.same((await call('GET', '/api/inbox?unread=1', undefined, as(ben.id))).body.length, 4, 'still unread after a GET');
  const scraped = await (await fetch(`${s.url}/metrics`)).text();
  t.match(scraped, new RegExp(`koor_inbox_unread\\{agent="${ben.id}"\\} 4\\n`), 'unread per agent on /metrics');
  t.same((await call('GET', `/api/inbox?since=${m2.id}&limit=1`, undefined, as(ben.id))).body.map((i: { id: number }) => i.id), [m3.id]);
  t.same((await call('GET', '/api/inbox', undefined, as(cat.id))).body.map((i: { id: number }) => i.id), [m4.id, m5.id], 'cat sees only its own');
  t.same((await call('GET', '/api/inbox')).body, { error: 'reading the inbox requires an agent identity', code: 400 });
  t.same((await call('GET', '/api/inbox?limit=0', undefined, as(ben.id))).status, 400);

  // read: by ids and up to an id; per recipient (cat's copy of m4 stays unread)
  t.same((await call('POST', '/api/inbox/read', { ids: [m1.body.id, m1.body.id, 424242] }, as(ben.id))).body, { marked: 1, unread: 3 });
  t.same((await call('POST', '/api/inbox/read', { up_to: m3.id }, as(ben.id))).body, { marked: 2, unread: 1 });
  t.same((await call('POST', '/api/inbox/read', { up_to: m3.id }, as(ben.id))).body, { marked: 0, unread: 1 }, 'again: nothing more');
  t.same((await call('POST', '/api/inbox/read', {}, as(ben.id))).body, { error: 'exactly one of ids, up_to is required', code: 400 });
  t.same((await call('GET', '/api/inbox?unread=1', undefined, as(cat.id))).body.length, 2, "cat's copies untouched");
  const firstRead = (await call('GET', '/api/inbox', undefined, as(ben.id))).body[0].read_at;
  t.match(firstRead, /Z$/);

  // ack: implies read, keeps first times; only a recipient may
  const ack = await call('POST', `/api/inbox/${m4.id}/ack`, undefined, as(cat.id));
  t.match(ack.body, { id: m4.id, read_at: /Z$/, acked_at: /Z$/ });
  t.same((await call('POST', `/api/inbox/${m4.id}/ack`, undefined, as(cat.id))).body, ack.body, 'again: the same times');
  t.same((await call('POST', `/api/inbox/${m1.body.id}/ack`, undefined, as(cat.id))).body, { error: `message not found: ${m1.body.id}`, code: 404 });
  t.same((await call('POST', '/api/inbox/abc/ack', undefined, as(cat.id))).body, { error: 'message not found: abc', code: 404 });

  // GET /api/messages/{id}: sender or recipient (or the operator) sees each recipient's state
  const view = (await call('GET', `/api/messages/${m4.id}`, undefined, as(ann.id))).body;
  t.same(view.receipts.map((r: { name: string; acked_at: string }) => [r.name, r.acked_at !== '']).sort(), [['ben', false], ['cat', true]]);
  t.equal((await call('GET', `/api/messages/${m1.body.id}`, undefined, as(cat.id))).status, 404, 'not a participant: not found');
  t.equal((await call('GET', `/api/messages/${m1.body.id}`)).status, 200, 'the operator sees all');

  // the public bus carries ids and names, never the subject or body
  await waitUntil('message.sent events', () => bus.events.filter((e) => e.topic === 'message.sent').length >= 5);
  const sent = bus.events.filter((e) => e.topic === 'message.sent');
  t.match(sent[0]!.data, { id: m1.body.id, from: ann.id, from_name: 'ann', recipients: [ben.id], recipient_names: ['ben'] });
  t.notOk(JSON.stringify(bus.events).includes('contract changed'), 'no body on the bus');
  t.notOk(JSON.stringify(bus.events).includes('"contract"'), 'no subject on the bus');
  bus.ws.close();

  // the operator writes as "human"; deregistration takes an inbox with it
  const h = (await call('POST', '/api/messages', { to: ['cat'], body: 'from the operator' })).body;
  t.match(h, { from: 'human', from_name: 'human' });
  t.equal((await call('DELETE', `/api/instances/${cat.id}`)).status, 200);
  t.same((await call('GET', `/api/messages/${m4.id}`)).body.receipts.map((r: { name: string }) => r.name), ['ben'], "cat's inbox rows went with it");
  t.same((await call('POST', '/api/messages', { to: [cat.id], body: 'x' }, as(ann.id))).body, { error: `unknown recipients: ${cat.id}`, code: 400 });
});

t.test('inbox: a thread across three agents, seen only by its participants', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const [ann, ben, cat, dan] = [await register('ann'), await register('ben'), await register('cat'), await register('dan')];
  const q = (await call('POST', '/api/messages', { to: [ben.id, cat.id], subject: 'schema?', body: 'who owns the schema?', ack_required: true }, as(ann.id))).body;
  const a1 = (await call('POST', '/api/messages', { to: [ann.id], body: 'cat does', reply_to: q.id }, as(ben.id))).body;
  const a2 = (await call('POST', '/api/messages', { to: [ann.id, ben.id], body: 'I do', thread_id: q.id }, as(cat.id))).body;
  t.same([a1.thread_id, a2.thread_id, a1.reply_to], [q.id, q.id, q.id]);
  const other = (await call('POST', '/api/messages', { to: [ann.id], body: 'unrelated' }, as(dan.id))).body;
  t.equal(other.thread_id, other.id, 'a message without thread starts its own');
  t.same((await call('POST', '/api/messages', { to: [ann.id], body: 'x', reply_to: q.id, thread_id: other.id }, as(ben.id))).body, { error: `message ${q.id} is not in thread ${other.id}`, code: 400 });

  for (const who of [ann, ben, cat]) {
    const th = await call('GET', `/api/threads/${q.id}`, undefined, as(who.id));
    t.same(th.body.map((m: { id: number }) => m.id), [q.id, a1.id, a2.id], `${who.name} sees the thread`);
  }
  t.same((await call('GET', `/api/threads/${q.id}`, undefined, as(dan.id))).body, { error: `thread not found: ${q.id}`, code: 404 });
  t.equal((await call('GET', `/api/threads/${q.id}`)).body.length, 3, 'the operator sees all');
  t.same((await call('GET', `/api/threads/${q.id}?since=${a1.id}`)).body.map((m: { id: number }) => m.id), [a2.id]);
  t.same((await call('GET', '/api/threads/999999')).body, { error: 'thread not found: 999999', code: 404 });
  t.same((await call('GET', `/api/inbox?thread=${q.id}`, undefined, as(ann.id))).body.map((m: { id: number }) => m.id), [a1.id, a2.id]);
  t.match((await call('GET', `/api/inbox`, undefined, as(ben.id))).body[0], { ack_required: true, subject: 'schema?' });
});

t.test('inbox: Idempotency-Key on send and on publish stores once', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const [ann, ben] = [await register('ann'), await register('ben')];
  const bus = await subscribe(s.url, '?pattern=*');
  const key = { 'idempotency-key': 'retry-1' };
  const first = await call('POST', '/api/messages', { to: ['ben'], body: 'once' }, as(ann.id, key));
  const again = await call('POST', '/api/messages', { to: ['ben'], body: 'once' }, as(ann.id, key));
  t.equal(again.status, 200);
  t.same(again.body, first.body, 'the first reply again');
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(first.headers.get('idempotent-replayed'), null);
  t.equal((await call('GET', '/api/inbox', undefined, as(ben.id))).body.length, 1, 'stored once');
  const reused = await call('POST', '/api/messages', { to: ['ben'], body: 'another' }, as(ann.id, key));
  t.same([reused.status, reused.body], [409, { error: 'Idempotency-Key "retry-1" was already used for a different request', code: 409 }]);
  const benKey = await call('POST', '/api/messages', { to: ['ann'], body: 'once' }, as(ben.id, key));
  t.not(benKey.body.id, first.body.id, 'keys are per caller');
  t.same((await call('POST', '/api/messages', { to: ['ben'], body: 'x' }, as(ann.id, { 'idempotency-key': 'x'.repeat(256) }))).body, { error: 'Idempotency-Key must be 1 to 255 visible ASCII characters', code: 400 });

  const p1 = await call('POST', '/api/events/publish', { topic: 'build.done', data: { n: 1 } }, { 'idempotency-key': 'pub-1' });
  const p2 = await call('POST', '/api/events/publish', { topic: 'build.done', data: { n: 1 } }, { 'idempotency-key': 'pub-1' });
  t.same(p2.body, p1.body);
  t.equal(p2.headers.get('idempotent-replayed'), 'true');
  t.equal((await call('POST', '/api/events/publish', { topic: 'build.done', data: { n: 2 } }, { 'idempotency-key': 'pub-1' })).status, 409);
  await waitUntil('events', () => bus.events.some((e) => e.topic === 'build.done'));
  const history = (await call('GET', '/api/events/history?topic=build.done')).body;
  t.equal(history.length, 1, 'one event stored');
  t.equal((await call('GET', '/api/events/history?topic=message.sent')).body.length, 2, 'one message.sent per message stored');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(bus.events.filter((e) => e.topic === 'build.done').length, 1, 'fanned out once');
  bus.ws.close();
});

t.test('inbox push: live items, resume with since after a forced disconnect, no gap or duplicate', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const [ann, ben, cat] = [await register('ann'), await register('ben'), await register('cat')];

  const noId = inboxStream(s.url, '', {});
  await t.rejects(noId.opened, { status: 400 }, 'identity required');

  const early = (await call('POST', '/api/messages', { to: [ben.id], body: 'before connecting' }, as(ann.id))).body;
  const live = inboxStream(s.url, '', { authorization: `Bearer ${ben.token}` });
  await live.opened;
  const catStream = inboxStream(s.url, '?since=0', as(cat.id));
  await catStream.opened;
  const sent: number[] = [];
  for (let i = 0; i < 20; i++) sent.push((await call('POST', '/api/messages', { to: [ben.id], body: `m${i}` }, as(ann.id))).body.id);
  await waitUntil('20 pushed', () => live.items.length >= 20);
  t.same(live.items.map((i) => i.id), sent, 'live from connect: in order, not the earlier one');
  t.notOk(live.items.some((i) => i.id === early.id));
  t.match(live.items[0], { body: 'm0', read_at: '' });
  t.equal(catStream.items.length, 0, "no one else's mail");

  // forced disconnect mid-stream, sends continue, resume after the last id received
  live.ws.terminate();
  await live.closed;
  const last = live.items.at(-1)!.id;
  const more: number[] = [];
  const sending = (async () => {
    for (let i = 0; i < 30; i++) more.push((await call('POST', '/api/messages', { to: ['ben', 'cat'], body: `n${i}` }, as(ann.id))).body.id);
  })();
  await new Promise((r) => setTimeout(r, 20));
  const resumed = inboxStream(s.url, `?since=${last}`, as(ben.id));
  await resumed.opened;
  await sending;
  await waitUntil('30 after resume', () => resumed.items.length >= 30);
  t.same(resumed.items.map((i) => i.id), more, 'no gap, no duplicate');
  await waitUntil('cat got its 30', () => catStream.items.length >= 30);
  t.same(catStream.items.map((i) => i.id), more);

  // unread=1 with since=0: what is unread, then live (the `koor-cli wait` stream)
  await call('POST', '/api/inbox/read', { up_to: more[28] }, as(ben.id));
  const unread = inboxStream(s.url, '?since=0&unread=1', as(ben.id));
  await unread.opened;
  await waitUntil('unread first', () => unread.items.length >= 1);
  t.same(unread.items.map((i) => i.id), [more[29]]);

  // a consumer that does not read: the server stops writing at its buffer, loses nothing
  const slow = inboxStream(s.url, `?since=${more[29]}`, as(ben.id));
  await slow.opened;
  (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  const big = 'x'.repeat(32 * 1024);
  const burst: number[] = [];
  for (let i = 0; i < 100; i++) burst.push((await call('POST', '/api/messages', { to: [ben.id], body: `${i} ${big}` }, as(ann.id))).body.id);
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  await waitUntil('the burst', () => slow.items.length >= 100, 20_000);
  t.same(slow.items.map((i) => i.id), burst, 'every item, in order, after the socket drained');
  for (const x of [resumed, catStream, unread, slow]) x.ws.close();
});

t.test('inbox push: a since past the newest item (ids handed out again after a live restore) misses nothing new', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const [ann, ben] = [await register('ann'), await register('ben')];
  const seen = (await call('POST', '/api/messages', { to: [ben.id], body: 'seen' }, as(ann.id))).body.id as number;
  // The client saw ids up to seen + 50 before the database it came from was replaced by an older one.
  const resumed = inboxStream(s.url, `?since=${seen + 50}`, as(ben.id));
  await resumed.opened;
  const next = (await call('POST', '/api/messages', { to: [ben.id], body: 'new' }, as(ann.id))).body.id as number;
  t.ok(next <= seen + 50, `the new item's id (${next}) is one the client has seen`);
  await waitUntil('the new item pushed', () => resumed.items.length >= 1);
  t.same(resumed.items.map((i) => i.body), ['new'], 'pushed, and nothing before it');
  resumed.ws.close();
});

t.test('inbox push: a message committed with no reply to announce it, the last of its burst, is still pushed', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const [ann, ben] = [await register('ann'), await register('ben')];
  const live = inboxStream(s.url, '', as(ben.id));
  await live.opened;
  const first = (await call('POST', '/api/messages', { to: [ben.id], body: 'first' }, as(ann.id))).body.id as number;
  // The reply path's fan-out detached: the send that follows is as one whose reply was lost after
  // COMMIT and whose retry was answered from its Idempotency-Key (a replay announces nothing). No
  // write follows it.
  s.writer.onCommitted(() => {});
  const req = { from: ann.id, from_name: 'ann', to: [ben.id], recipients: [ben.id], subject: '', body: 'last', importance: 'normal', ack_required: false };
  const last = ((await s.writer.call('messages.send', req as never)) as { message: { id: number } }).message.id;
  await waitUntil('the unannounced message pushed', () => live.items.length >= 2, 10_000);
  t.same(live.items.map((i) => [i.id, i.body]), [[first, 'first'], [last, 'last']]);
  live.ws.close();
});

t.test('inbox: past --message-keep the oldest messages go with their inbox rows, however young', async (t) => {
  const s = await startTestServer(t, { messageKeep: 3, pruneIntervalMs: 3_600_000 }, { oneNode: 'the retention pass is run on one node' });
  const { call, register, as } = client(s.url);
  const [ann, ben] = [await register('ann'), await register('ben')];
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) ids.push((await call('POST', '/api/messages', { to: [ben.id], body: `m${i}` }, as(ann.id))).body.id as number);
  await s.retention.runPass();
  t.same((await call('GET', '/api/inbox', undefined, as(ben.id))).body.map((m: { id: number }) => m.id).sort((a: number, b: number) => a - b), ids.slice(-3), 'the newest three kept');
  t.equal((await call('GET', `/api/messages/${ids[0]}`)).status, 404, 'the oldest gone');
  t.equal(s.retention.stats.messages_pruned, 2, 'counted');
});

t.test('inbox: messages older than --message-retention are pruned with their inbox rows', async (t) => {
  const s = await startTestServer(t, { messageRetentionMs: 1000 });
  const { call, register, as } = client(s.url);
  const [ann, ben] = [await register('ann'), await register('ben')];
  const old = (await call('POST', '/api/messages', { to: [ben.id], body: 'old' }, as(ann.id))).body;
  // Times are kept to the second: two seconds on, `old` is past a one-second retention.
  await new Promise((r) => setTimeout(r, 2100));
  const fresh = (await call('POST', '/api/messages', { to: [ben.id], body: 'fresh' }, as(ann.id))).body;
  await s.retention.runPass();
  t.same((await call('GET', '/api/inbox', undefined, as(ben.id))).body.map((m: { id: number }) => m.id), [fresh.id], 'the old one is gone from the inbox');
  t.equal((await call('GET', `/api/messages/${old.id}`)).status, 404);
  t.equal(s.retention.stats.messages_pruned, 1);
  const metrics = await (await fetch(`${s.nodeUrls[0]}/metrics`)).text();
  t.match(metrics, /koor_retention_pruned_total\{table="messages"\} 1/);
});
