import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';
import { publish } from '../helpers/ws.js';

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/api/events/publish`, { method: 'POST', body: Buffer.from(body) as unknown as BodyInit, headers });

t.test('publish: stored and returned as Event JSON; data verbatim', async (t) => {
  const s = await startTestServer(t);
  const r = await post(s.url, '{"topic":"api.change","data":{"a": 1.0, "big": 12345678901234567890, "s":"x y"},"extra":true}');
  t.equal(r.status, 200);
  t.match(r.headers.get('content-type'), /application\/json/);
  const text = await r.text();
  t.match(text, /^\{"id":1,"topic":"api.change","data":\{"a":1.0,"big":12345678901234567890,"s":"x y"\},"source":"","created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}\n$/);
  const e2 = await json(await post(s.url, '{"topic":"t"}'));
  t.same([e2.id, e2.data, e2.source], [2, null, '']);
  const e3text = await (await post(s.url, '{"topic":"t","source":"builder-1","data":[1,"two"]}')).text();
  const e3 = JSON.parse(e3text);
  t.same([e3.id, e3.data, e3.source], [3, [1, 'two'], 'builder-1']);
  const oldest = await (await fetch(`${s.url}/api/events/history?since=0&last=1`)).text();
  t.equal(oldest, `[${text.trim()}]\n`, 'history serves the same bytes as the publish reply');
});

t.test('publish errors', async (t) => {
  const s = await startTestServer(t);
  const cases: Array<[string, string]> = [
    ['{"data":1}', 'topic is required'],
    ['{"topic":""}', 'topic is required'],
    // Valid JSON of the wrong shape names the member and what was expected.
    ['{"topic":5}', 'topic: expected string'],
    ['{"topic":"x","source":7}', 'source: expected string'],
    ['{bad json', 'invalid JSON body'],
    ['null', 'topic is required'],
    ['', 'invalid JSON body'],
    ['[1,2]', 'body: expected object'],
    ['"str"', 'body: expected object'],
  ];
  for (const [body, msg] of cases) {
    const r = await post(s.url, body);
    t.same([r.status, await json(r)], [400, { error: msg, code: 400 }], body || '(empty)');
  }
  t.equal(await (await fetch(`${s.url}/api/events/history`)).text(), '[]\n', 'nothing stored');
  const trailing = await post(s.url, '{"topic":"t","data":[1]} and then some');
  t.same((await json(trailing)).data, [1], 'only the first JSON value is read');
});

t.test('history: newest first, last, genuine topic matches, source, from/to, since', async (t) => {
  const s = await startTestServer(t);
  for (let i = 1; i <= 12; i++) await publish(s.url, i % 4 === 0 ? `api.change.${i}` : `other.${i}`, { i });
  await post(s.url, '{"topic":"api.x","source":"agent-a"}').then((r) => r.text());
  const all = await json(await fetch(`${s.url}/api/events/history`));
  t.same(all.map((e: any) => e.id), [13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  t.same((await json(await fetch(`${s.url}/api/events/history?last=3`))).map((e: any) => e.id), [13, 12, 11]);
  for (const bad of ['-1', '0', 'abc', '2.5']) {
    const r = await fetch(`${s.url}/api/events/history?last=${bad}`);
    t.same([r.status, await json(r)], [400, { error: 'last must be a positive integer', code: 400 }], `last=${bad} → 400, not replaced`);
  }
  const huge = await fetch(`${s.url}/api/events/history?last=10001`);
  t.same([huge.status, (await json(huge)).error], [400, 'last must be at most 10000'], 'last is bounded');
  // Up to `last` genuine matches even when they are far apart.
  const api = await json(await fetch(`${s.url}/api/events/history?topic=api.*&last=3`));
  t.same(api.map((e: any) => e.topic), ['api.x', 'api.change.12', 'api.change.8']);
  t.same((await json(await fetch(`${s.url}/api/events/history?topic=*.4`))).map((e: any) => e.topic), ['api.change.4'], '`*` crosses dots');
  t.same((await json(await fetch(`${s.url}/api/events/history?source=agent-a`))).map((e: any) => e.id), [13]);
  const created = all[0].created_at as string;
  const future = new Date(Date.parse(created) + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  t.same(await json(await fetch(`${s.url}/api/events/history?from=${future}`)), []);
  t.equal((await json(await fetch(`${s.url}/api/events/history?to=${future}&from=2000-01-01T00:00:00Z`))).length, 13);
  const yesterday = await fetch(`${s.url}/api/events/history?from=yesterday`);
  t.same([yesterday.status, await json(yesterday)], [400, { error: 'from must be an RFC 3339 time', code: 400 }], 'unparseable from → 400');
  for (const impossible of ['2026-02-30T00:00:00Z', '2026-04-31T12:00:00Z', '2026-01-01T24:00:00Z']) {
    const r = await fetch(`${s.url}/api/events/history?from=${impossible}`);
    t.equal(r.status, 400, `${impossible} is not a time (not rolled over)`);
    await r.arrayBuffer();
  }
  const badTo = await fetch(`${s.url}/api/events/history?to=2026-13-45`);
  t.same([badTo.status, (await json(badTo)).error], [400, 'to must be an RFC 3339 time']);
  const plus = await fetch(`${s.url}/api/events/history?from=2000-01-01T02:00:00+02:00`);
  t.same([plus.status, (await json(plus)).length], [200, 13], 'an unencoded + in a zone offset (decoded as a space) is read back');
  for (const p of ['%5Babc', 'api.%5B', 'x%5C']) {
    const r = await fetch(`${s.url}/api/events/history?topic=${p}`);
    t.same([r.status, await json(r)], [400, { error: `invalid pattern: ${decodeURIComponent(p)}`, code: 400 }], `malformed topic ${p} → 400`);
  }
  const since = await json(await fetch(`${s.url}/api/events/history?since=10`));
  t.same(since.map((e: any) => e.id), [11, 12, 13], 'since: oldest first');
  t.same((await json(await fetch(`${s.url}/api/events/history?since=0&last=2`))).map((e: any) => e.id), [1, 2]);
  // The SQL prefilter and the exact matcher agree: classes, '?', escapes, '/' never crossed.
  await publish(s.url, 'dir/a.b', {});
  await publish(s.url, 'v2.build', {});
  await publish(s.url, 'a*b', {});
  const topics = async (p: string) => (await json(await fetch(`${s.url}/api/events/history?topic=${encodeURIComponent(p)}`))).map((e: any) => e.topic);
  t.same(await topics('*.b'), [], '`*` does not cross `/`');
  t.same(await topics('dir/*'), ['dir/a.b']);
  t.same(await topics('v[0-9].*'), ['v2.build']);
  t.same(await topics('v[^0-9].*'), []);
  t.same(await topics('a\\*b'), ['a*b'], 'escaped `*` is literal');
  t.same(await topics('?2.build'), ['v2.build']);
  await publish(s.url, 'ab', {});
  await publish(s.url, 'a]', {});
  t.same(await topics('a[\\]x]'), ['a]'], 'a class with an escape: exact even where SQL widened it');
  t.same(await topics('*'), (await json(await fetch(`${s.url}/api/events/history`))).map((e: any) => e.topic));
  const bad = await fetch(`${s.url}/api/events/history?since=x`);
  t.equal(bad.status, 400);
  await bad.arrayBuffer();
});

t.test('concurrent publishes get distinct increasing ids', async (t) => {
  const s = await startTestServer(t);
  const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => publish(s.url, 'load', { i }).then((e) => e.id)));
  t.same([...ids].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
  const h = await json(await fetch(`${s.url}/api/events/history?last=200`));
  t.same(h.map((e: any) => e.id), Array.from({ length: 200 }, (_, i) => 200 - i));
});

t.test('retention: background pruning keeps the newest N; ids are never reused', async (t) => {
  const s = await startTestServer(t, { eventRetention: 5, pruneIntervalMs: 50 });
  for (let i = 0; i < 20; i++) await publish(s.url, 'p', { i });
  for (let i = 0; i < 100; i++) {
    const n = (await json(await fetch(`${s.url}/api/events/history?last=100`))).length;
    if (n === 5) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const h = await json(await fetch(`${s.url}/api/events/history?last=100`));
  t.same(h.map((e: any) => e.id), [20, 19, 18, 17, 16]);
  t.equal((await publish(s.url, 'p')).id, 21);
  const m = await json(await fetch(`${s.url}/api/metrics`));
  t.equal(m.last_event_id, 21);
});

t.test('pruning in chunks removes everything beyond retention', async (t) => {
  const s = await startTestServer(t, { eventRetention: 10, pruneIntervalMs: 3_600_000 });
  // 100 at a time: this is about pruning, not about 2,500 sockets at once (which a loaded machine's balancer reset).
  for (let i = 0; i < 2500; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => publish(s.url, 'bulk', i + j)));
  t.equal(await s.events.prune(), 2490);
  t.equal((await s.events.bounds()).oldest, 2491);
  t.equal(await s.events.prune(), 0);
});
