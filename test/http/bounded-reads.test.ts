import http from 'node:http';
import t from 'tap';
import { json, startTestServer } from '../helpers/server.js';
import { publish, subscribe } from '../helpers/ws.js';

/** The replay tests read the hub of the node their subscriber is on. */
const OWN_HUB = { oneNode: "the subscriber's node's own hub" };

/**
 * No request makes the front process read an unbounded number of rows: key listing is paged,
 * history is bounded and filtered in SQL, and a subscription replay streams in steps that count
 * against the subscriber's budget.
 */

/** A WebSocket upgrade request whose refusal (a plain HTTP reply) is read in full. */
function upgradeRequest(base: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
}

t.test('GET /api/state is paged: limit, after, Link rel="next"; every key once, in order', async (t) => {
  const s = await startTestServer(t);
  const keys = Array.from({ length: 25 }, (_, i) => `k/${String(i).padStart(2, '0')}`);
  await Promise.all(keys.map((k) => fetch(`${s.url}/api/state/${k}`, { method: 'PUT', body: k }).then((r) => r.text())));

  const all = await fetch(`${s.url}/api/state`);
  t.equal(all.headers.get('link'), null, 'one page by default (default limit 5000): no Link');
  t.same((await json(all)).map((r: any) => r.key), keys);

  const seen: string[] = [];
  let next: string | null = '/api/state?limit=10';
  let pages = 0;
  while (next !== null && pages < 10) {
    const r: Response = await fetch(`${s.url}${next}`);
    t.equal(r.status, 200);
    const rows = (await json(r)) as Array<{ key: string }>;
    t.ok(rows.length <= 10, 'a page holds at most limit keys');
    seen.push(...rows.map((x) => x.key));
    const link = r.headers.get('link');
    next = link === null ? null : /^<([^>]+)>; rel="next"$/.exec(link)![1]!;
    pages++;
  }
  t.equal(pages, 3, '25 keys in pages of 10');
  t.same(seen, keys, 'following Link visits every key once, in key order');
  t.same((await json(await fetch(`${s.url}/api/state?after=k/23`))).map((r: any) => r.key), ['k/24'], 'after is exclusive');

  for (const [q, msg] of [
    ['limit=0', 'limit must be a positive integer'],
    ['limit=x', 'limit must be a positive integer'],
    ['limit=5001', 'limit must be at most 5000'],
  ] as const) {
    const r = await fetch(`${s.url}/api/state?${q}`);
    t.same([r.status, await json(r)], [400, { error: msg, code: 400 }], q);
  }
});

t.test('event history is bounded in bytes too: a cut reply says so and since= continues it', async (t) => {
  const s = await startTestServer(t);
  const big = JSON.stringify('e'.repeat(6 * 1024 * 1024)); // 6 MiB each; a reply stops past 16 MiB
  for (let i = 0; i < 3; i++) await s.events.publish('big', big, '');
  const newest = await fetch(`${s.url}/api/events/history`);
  t.equal(newest.headers.get('x-koor-truncated'), 'bytes', 'newest first: cut short, and says so');
  t.same((await json(newest)).map((e: any) => e.id), [3, 2]);
  const first = await fetch(`${s.url}/api/events/history?since=0`);
  t.equal(first.headers.get('x-koor-truncated'), 'bytes');
  t.same((await json(first)).map((e: any) => e.id), [1, 2]);
  const rest = await fetch(`${s.url}/api/events/history?since=2`);
  t.equal(rest.headers.get('x-koor-truncated'), null, 'the rest fits');
  t.same((await json(rest)).map((e: any) => e.id), [3]);
});

t.test('keys: at most 1 KiB, no NUL; bad ones are 400 and store nothing', async (t) => {
  const s = await startTestServer(t);
  const longest = 'k'.repeat(1024);
  t.equal((await fetch(`${s.url}/api/state/${longest}`, { method: 'PUT', body: 'v' })).status, 200, '1024 bytes is allowed');
  const tooLong = await fetch(`${s.url}/api/state/${longest}x`, { method: 'PUT', body: 'v' });
  t.same([tooLong.status, await json(tooLong)], [400, { error: 'key too long: 1025 bytes (max 1024)', code: 400 }]);
  const multibyte = await fetch(`${s.url}/api/state/${encodeURIComponent('é'.repeat(513))}`, { method: 'PUT', body: 'v' });
  t.same([multibyte.status, (await json(multibyte)).error], [400, 'key too long: 1026 bytes (max 1024)'], 'counted in UTF-8 bytes');
  const nul = await fetch(`${s.url}/api/state/a%00b`, { method: 'PUT', body: 'v' });
  t.same([nul.status, await json(nul)], [400, { error: 'key must not contain NUL bytes', code: 400 }]);
  const nulGet = await fetch(`${s.url}/api/state/a%00b`);
  t.equal(nulGet.status, 400, 'on reads too');
  const spec = await fetch(`${s.url}/api/specs/p/n%00`, { method: 'PUT', body: '{}' });
  t.same([spec.status, (await json(spec)).error], [400, 'name must not contain NUL bytes'], 'spec names follow the same rule');
  t.same((await json(await fetch(`${s.url}/api/state`))).map((r: any) => r.key), [longest], 'nothing else was stored');
});

t.test('subscribe: a malformed pattern is refused at the upgrade, naming it', async (t) => {
  const s = await startTestServer(t);
  await t.rejects(subscribe(s.url, '?pattern=%5Babc'), { status: 400 });
  const r = await upgradeRequest(s.url, '/api/events/subscribe?pattern=%5Babc');
  t.same([r.status, JSON.parse(r.body)], [400, { error: 'invalid pattern: [abc', code: 400 }]);
  const since = await upgradeRequest(s.url, '/api/events/subscribe?since=-1');
  t.same([since.status, JSON.parse(since.body)], [400, { error: 'since must be a non-negative integer', code: 400 }]);
});

t.test('replay (since=) of a large log streams in steps, live events join with no gap and no duplicate', async (t) => {
  const s = await startTestServer(t, { eventRetention: 100_000, wsBufferEvents: 16 }, OWN_HUB);
  const N = 3000;
  // Published in the writer directly (same commits as HTTP publishes, faster to set up).
  for (let i = 0; i < N; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, j) => s.events.publish(j % 3 === 0 ? 'job.a' : 'job.b', String(i + j), '')));
  }
  const all = await subscribe(s.url, '?since=0');
  const some = await subscribe(s.url, '?since=0&pattern=job.a');
  // Live events published while the replay is under way.
  const live = Array.from({ length: 200 }, (_, i) => publish(s.url, i % 3 === 0 ? 'job.a' : 'job.b', N + i));
  await Promise.all(live);
  const total = N + 200;
  await all.waitFor(total, 30_000);
  t.same(all.events.map((e) => e.id), Array.from({ length: total }, (_, i) => i + 1), 'every event once, in id order, replay then live');
  const aIds = all.events.filter((e) => e.topic === 'job.a').map((e) => e.id);
  await some.waitFor(aIds.length, 30_000);
  t.same(some.events.map((e) => e.id), aIds, 'a pattern filters the replay the same way as live delivery');
  t.equal(s.hub.stats.closed_slow, 0, 'a subscriber that reads is never closed, though the replay is far larger than its 16-event budget');
  all.ws.close();
  some.ws.close();
});

t.test('a stalled replay holds at most one step in memory; events pruned under it end it with 4008 and a resume point', async (t) => {
  const s = await startTestServer(t, { eventRetention: 2000, wsBufferEvents: 16, wsBufferBytes: 64 * 1024 }, OWN_HUB);
  // 2000 events of 16 KiB (32 MiB): far more than loopback socket buffers hold.
  const payload = JSON.stringify('z'.repeat(16 * 1024));
  for (let i = 0; i < 2000; i += 250) await Promise.all(Array.from({ length: 250 }, () => s.events.publish('bulk', payload, '')));
  const stalled = await subscribe(s.url, '?since=0');
  stalled.ws.pause();
  // Give the server turns to fill the socket; it must stop at one step (512 events).
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 200));
  const oneStep = 256 * 1024 + payload.length + 100; // WS_REPLAY_STEP_BYTES, plus the event that crosses it
  t.ok(s.hub.queuedBytes() <= oneStep, `server holds ${s.hub.queuedBytes()} bytes for the stalled replay (≤ one step, ${oneStep})`);
  t.ok(s.hub.stats.replayed < 2000, `only ${s.hub.stats.replayed} of 2000 events were read from the log for it`);

  // The log moves on past the stalled reader's position.
  for (let i = 0; i < 2000; i += 250) await Promise.all(Array.from({ length: 250 }, () => s.events.publish('bulk', payload, '')));
  await s.events.prune();
  stalled.ws.resume();
  const close = await stalled.closed;
  t.equal(close.code, 4008, 'closed like any slow consumer');
  const m = /^slow consumer: last delivered id (\d+)$/.exec(close.reason);
  t.ok(m, close.reason);
  const last = Number(m![1]);
  t.same(stalled.events.map((e) => e.id), Array.from({ length: last }, (_, i) => i + 1), 'it got exactly up to the id named');
  const resumed = await subscribe(s.url, `?since=${last}`);
  t.equal(resumed.headers['x-koor-oldest-event'], '2001', 'resuming says what was pruned');
  await resumed.waitFor(2000, 30_000);
  t.equal(resumed.events[0]!.id, 2001);
  resumed.ws.close();
});

t.test('event history with a filter examines one window of ids; X-Koor-Next continues it to exactly the full answer', async (t) => {
  // A window of 10 ids per read (--event-history-scan) over 57 events, one in 7 on `rare.*`.
  const s = await startTestServer(t, { eventHistoryScan: 10 });
  for (let i = 1; i <= 57; i++) await s.events.publish(i % 7 === 0 ? `rare.${i}` : `common.${i}`, String(i), i % 2 === 0 ? 'even' : 'odd');
  const rare = [56, 49, 42, 35, 28, 21, 14, 7];

  // Follows X-Koor-Next from `first` until a reply carries none; every reply's ids and headers.
  const follow = async (first: string) => {
    const pages: Array<{ ids: number[]; truncated: string | null; next: string | null }> = [];
    let q: string | null = first;
    while (q !== null && pages.length < 20) {
      const r: Response = await fetch(`${s.url}/api/events/history?${q}`);
      t.equal(r.status, 200, q);
      const next = r.headers.get('x-koor-next');
      pages.push({ ids: (await json(r)).map((e: any) => e.id), truncated: r.headers.get('x-koor-truncated'), next });
      // The cursor replaces its parameter; the rest of the query stays as it was.
      q = next === null ? null : [...first.split('&').filter((p) => !p.startsWith(next.split('=')[0] + '=')), next].join('&');
    }
    return pages;
  };

  const newest = await follow('topic=rare.*&last=3');
  t.same(newest[0], { ids: [56, 49], truncated: 'scan', next: 'before=48' }, 'the newest window (48..57) holds 2 of 3: what it found, and where to go on');
  t.same(newest.flatMap((p) => p.ids), rare, 'newest first, every match once, none missed across windows');
  t.equal(newest.at(-1)!.next, null, 'the last reply reaches the oldest event and names no cursor');
  t.ok(newest.every((p) => p.ids.length <= 3), 'no reply holds more than last');
  t.ok(newest.slice(0, -1).every((p) => p.truncated === 'scan' || p.ids.length === 3), 'a reply with a cursor is short only because its window ran out');

  const oldest = await follow('topic=rare.*&last=3&since=0');
  t.same(oldest[0], { ids: [7], truncated: 'scan', next: 'since=10' });
  t.same(oldest.flatMap((p) => p.ids), [...rare].reverse(), 'oldest first after since=, every match once');

  const odd = await follow('topic=rare.*&source=odd&last=50');
  t.same(odd.flatMap((p) => p.ids), [49, 35, 21, 7], 'source and topic together, across windows');

  const plain = await fetch(`${s.url}/api/events/history?last=20`);
  t.same([(await json(plain)).length, plain.headers.get('x-koor-next')], [20, null], 'without a filter, last= alone sets the window: the newest 20, complete');
  const all = await fetch(`${s.url}/api/events/history?topic=*.5*&last=50&before=53`);
  t.same([(await json(all)).map((e: any) => e.id), all.headers.get('x-koor-next')], [[52, 51, 50, 5], 'before=3'], 'before= starts below that id; the window is at least last= wide');

  const bad = await fetch(`${s.url}/api/events/history?before=x`);
  t.same([bad.status, await json(bad)], [400, { error: 'before must be a positive integer', code: 400 }]);
});
