import t from 'tap';
import WebSocket from 'ws';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { publish, subscribe, watch } from '../helpers/ws.js';

/**
 * A reader whose socket stops reading while many large items arrive, then reads again.
 * Whatever the stream does meanwhile (the inbox holds on, event subscriptions and watches may
 * close with 4008), what the reader got is every id in order with no gap, and a resume from the
 * last id it got misses nothing.
 */

type Headers = Record<string, string>;

/** Just under the largest message body (64 KiB): the size the probe used. */
const LARGE = 60 * 1024;
/** Messages sent while the reader is paused: ~10 MiB, more than loopback's socket buffers (and a cluster test's relay) and a stream's own hold. */
const BURST = 160;

async function call(base: string, method: string, path: string, body: unknown, headers: Headers = {}): Promise<any> {
  const r = await fetch(`${base}${path}`, { method, headers, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) as unknown as BodyInit });
  const text = await r.text();
  if (r.status !== 200 && r.status !== 201) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** An inbox push stream (`/api/inbox/subscribe`) collecting item ids. */
function inboxStream(base: string, query: string, headers: Headers) {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/inbox/subscribe${query}`, { headers });
  const ids: number[] = [];
  ws.on('message', (m) => ids.push((JSON.parse(m.toString()) as { id: number }).id));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, ids, closed, opened };
}

/** A gauge of every node of the test server, summed (Prometheus text of each node's /metrics). */
async function gauge(nodeUrls: readonly string[], name: string): Promise<number> {
  let n = 0;
  for (const u of nodeUrls) n += Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${u}/metrics`)).text())?.[1] ?? NaN);
  return n;
}

/** `ids` is a run of `all` from its start: in order, no gap, no duplicate. */
function isPrefix(ids: readonly number[], all: readonly number[]): boolean {
  return ids.length <= all.length && ids.every((id, i) => id === all[i]);
}

t.test('inbox push: a paused reader gets every message in id order when it reads again, then the next; a resume from the last id misses nothing', async (t) => {
  const s = await startTestServer(t);
  const ann = await call(s.url, 'POST', '/api/instances/register', { name: 'ann' });
  const ben = await call(s.url, 'POST', '/api/instances/register', { name: 'ben' });
  const asAnn = { 'x-koor-instance': ann.id };
  const asBen = { 'x-koor-instance': ben.id };
  const send = async (i: number, size = LARGE) => (await call(s.url, 'POST', '/api/messages', { to: [ben.id], body: `${i} `.padEnd(size, 'x') }, asAnn)).id as number;

  // Two readers live from now, both paused before anything arrives: one reads it all, the other
  // goes away halfway and resumes from the last id it got.
  const whole = inboxStream(s.url, '', asBen);
  const half = inboxStream(s.url, '', asBen);
  await Promise.all([whole.opened, half.opened]);
  whole.ws.pause();
  half.ws.pause();
  const sent: number[] = [];
  // One at a time (each wakes the streams on its own), then in concurrent bursts.
  for (let i = 0; i < 40; i++) sent.push(await send(i));
  for (let i = 40; i < BURST; i += 10) sent.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => send(i + j)))));
  sent.sort((a, b) => a - b);

  whole.ws.resume();
  half.ws.resume();
  await waitUntil('the halfway reader to get half', () => half.ids.length >= sent.length / 2, 20_000);
  half.ws.terminate();
  await half.closed;
  t.ok(isPrefix(half.ids, sent), `the reader that went away got ${half.ids.length} in order with no gap`);

  const later = await send(-1, 10);
  const all = [...sent, later];
  await waitUntil('the message sent after the reader drained', () => whole.ids.includes(later), 20_000);
  t.same(whole.ids, all, `every id in order, no gap (${whole.ids.length} of ${all.length}), then the later one`);

  const resumed = inboxStream(s.url, `?since=${half.ids.at(-1)}`, asBen);
  await resumed.opened;
  await waitUntil('the resumed reader to reach the later message', () => resumed.ids.includes(later), 20_000);
  t.same([...half.ids, ...resumed.ids], all, 'the resume from the last id received missed nothing and repeated nothing');
  whole.ws.close();
  resumed.ws.close();
});

t.test('event subscription: a paused subscriber gets a run of ids with no gap, then 4008; a resume from the last id received misses nothing', async (t) => {
  const s = await startTestServer(t);
  const paused = await subscribe(s.url, '?pattern=big.*');
  paused.ws.pause();
  const payload = 'e'.repeat(LARGE);
  const sent: number[] = [];
  // Until the server lets the paused subscriber go (bounded: 1200 events, ~70 MiB).
  while (sent.length < 1200 && (await gauge(s.nodeUrls, 'koor_ws_subscribers')) > 0) {
    for (let i = 0; i < 5; i++) sent.push((await publish(s.url, 'big.one', i)).id, (await publish(s.url, 'big.large', payload)).id);
    sent.push(...(await Promise.all(Array.from({ length: 50 }, () => publish(s.url, 'big.burst', payload)))).map((r) => r.id));
  }
  sent.sort((a, b) => a - b);
  paused.ws.resume();
  const close = await paused.closed;
  const got = paused.events.map((e) => e.id);
  t.ok(got.length > 0 && isPrefix(got, sent), `it got ${got.length} of ${sent.length} events in order with no gap`);
  t.equal(close.code, 4008, 'closed as a slow consumer');
  t.equal(close.reason, `slow consumer: last delivered id ${got.at(-1)}`, 'naming the last id it got');

  const later = (await publish(s.url, 'big.later', 1)).id;
  const resumed = await subscribe(s.url, `?pattern=big.*&since=${got.at(-1)}`);
  t.teardown(() => resumed.ws.close());
  await waitUntil('the resume to reach the later event', () => resumed.events.some((e) => e.id === later), 20_000);
  t.same([...got, ...resumed.events.map((e) => e.id)], [...sent, later], 'the resume from the last id received missed nothing and repeated nothing');
});

t.test('state watch: a paused watcher gets a run of revisions with no gap, then 4008; a resume from the last revision received misses nothing', async (t) => {
  const s = await startTestServer(t);
  const paused = await watch(s.url, '/api/state/watch?prefix=big/&values=1');
  paused.ws.pause();
  const value = JSON.stringify('w'.repeat(LARGE));
  const put = async (k: number, body = value) => (await call(s.url, 'PUT', `/api/state/big/k${k % 50}`, body)).revision as number;
  const sent: number[] = [];
  // Until the server lets the paused watcher go (bounded: 1200 changes, ~70 MiB).
  while (sent.length < 1200 && (await gauge(s.nodeUrls, 'koor_state_watchers')) > 0) {
    for (let i = 0; i < 5; i++) sent.push(await put(i, '1'), await put(i));
    sent.push(...(await Promise.all(Array.from({ length: 50 }, (_, i) => put(i)))));
  }
  sent.sort((a, b) => a - b);
  paused.ws.resume();
  const close = await paused.closed;
  const got = paused.changes.map((c) => c.revision);
  t.ok(got.length > 0 && isPrefix(got, sent), `it got ${got.length} of ${sent.length} changes in order with no gap`);
  t.equal(close.code, 4008, 'closed as a slow consumer');
  t.equal(close.reason, `slow consumer: last delivered id ${got.at(-1)}`, 'naming the last revision it got');

  const later = await put(0, '2');
  const resumed = await watch(s.url, `/api/state/watch?prefix=big/&values=1&since_revision=${got.at(-1)}`);
  t.teardown(() => resumed.ws.close());
  await waitUntil('the resume to reach the later change', () => resumed.changes.some((c) => c.revision === later), 20_000);
  t.same([...got, ...resumed.changes.map((c) => c.revision)], [...sent, later], 'the resume from the last revision received missed nothing and repeated nothing');
});
