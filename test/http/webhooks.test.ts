import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';
import { startReceiver, hmac } from '../helpers/receiver.js';
import { waitUntil } from '../helpers/wait.js';

/** Webhooks and their durable delivery from the event log. */

type Server = { url: string };
const post = (s: Server, p: string, body: unknown) => fetch(`${s.url}${p}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const get = async (s: Server, p: string) => json(await fetch(`${s.url}${p}`));
const publish = (s: Server, topic: string, data: unknown) => post(s, '/api/events/publish', { topic, data });
const hook = async (s: Server, id: string) => ((await get(s, '/api/webhooks')) as any[]).find((w) => w.id === id);

t.test('create, list, delete, test: shapes and errors', async (t) => {
  const s = await startTestServer(t);
  const rx = await startReceiver(t);

  const bad = async (body: unknown, status: number, error: string) => {
    const r = await post(s, '/api/webhooks', body);
    t.same([r.status, await json(r)], [status, { error, code: status }], error);
  };
  await bad({ url: rx.url }, 400, 'id and url are required');
  await bad({ id: 'x' }, 400, 'id and url are required');
  await bad({ id: 'x', url: rx.url, patterns: ['api.['] }, 400, 'invalid pattern: api.[');
  await bad({ id: 'x', url: rx.url, patterns: 'api.*' }, 400, 'patterns: expected array or null');

  const r = await post(s, '/api/webhooks', { id: 'ci', url: rx.url, secret: 's3cret' });
  t.equal(r.status, 200);
  const created = await json(r);
  t.match(created, { id: 'ci', url: rx.url, patterns: ['*'], active: true, last_fired: '0001-01-01T00:00:00Z', fail_count: 0, has_secret: true, pending: 0 });
  t.notOk('secret' in created, 'the secret is never echoed');
  // Exactly these members: none of the delivery state kept for the server (cursor, attempts, next_at, dropped).
  const KEYS = ['active', 'created_at', 'delivered', 'fail_count', 'failed', 'has_secret', 'id', 'last_error', 'last_fired', 'patterns', 'pending', 'url'];
  t.same(Object.keys(created).sort(), KEYS);
  t.match(created.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  await bad({ id: 'ci', url: rx.url }, 409, 'failed to create webhook');

  await post(s, '/api/webhooks', { id: 'second', url: rx.url, patterns: [] });
  const list = await get(s, '/api/webhooks');
  t.same(list.map((w: any) => w.id), ['second', 'ci'], 'newest first');
  t.same(list[0].patterns, ['*'], 'empty patterns mean every event');
  t.equal(list[0].has_secret, false);
  t.notOk(JSON.stringify(list).includes('s3cret'), 'no secret in the list');
  for (const w of list) t.same(Object.keys(w).sort(), KEYS, `${w.id}: the members of a created webhook`);

  // Test delivery: the documented body, signed, counters untouched.
  const tr = await post(s, '/api/webhooks/ci/test', '');
  t.same([tr.status, await json(tr)], [200, { tested: 'ci', status: 'ok' }]);
  const d = rx.got.at(-1)!;
  t.same(d.json, { topic: 'webhook.test', data: { webhook_id: 'ci', test: true }, source: 'koor' });
  t.equal(d.headers['x-koor-event'], 'true');
  t.equal(d.headers['content-type'], 'application/json');
  t.equal(d.headers['x-koor-signature'], hmac('s3cret', d.body), 'HMAC-SHA256 hex of the exact body');
  t.notOk('x-koor-signature' in (await (async () => (await post(s, '/api/webhooks/second/test', ''), rx.got.at(-1)!.headers))()), 'no signature without a secret');
  t.match(await hook(s, 'ci'), { fail_count: 0, last_fired: '0001-01-01T00:00:00Z', delivered: 0 }, 'a test leaves the counters alone');

  rx.setBehaviour(() => 500);
  const failed = await post(s, '/api/webhooks/ci/test', '');
  t.same([failed.status, await json(failed)], [400, { error: 'webhook test failed: webhook returned status 500', code: 400 }]);
  await rx.close();
  const down = await json(await post(s, '/api/webhooks/ci/test', ''));
  t.match(down.error, /^webhook test failed: /, 'a transport error names its reason');
  t.equal((await hook(s, 'ci')).fail_count, 0, 'failed tests leave fail_count alone');
  t.same(await json(await post(s, '/api/webhooks/nope/test', '')), { error: 'webhook not found: nope', code: 404 });

  const del = await fetch(`${s.url}/api/webhooks/ci`, { method: 'DELETE' });
  t.same([del.status, await json(del)], [200, { deleted: 'ci' }]);
  const again = await fetch(`${s.url}/api/webhooks/ci`, { method: 'DELETE' });
  t.same([again.status, await json(again)], [404, { error: 'webhook not found: ci', code: 404 }]);
});

t.test('matching events are delivered in order, signed, server-published ones too', async (t) => {
  const s = await startTestServer(t);
  const rx = await startReceiver(t);
  const other = await startReceiver(t);
  await post(s, '/api/webhooks', { id: 'api', url: rx.url, patterns: ['api.*', 'llm.*'], secret: 'k' });
  await post(s, '/api/webhooks', { id: 'all', url: other.url });
  for (let i = 1; i <= 20; i++) t.equal((await publish(s, i % 5 === 0 ? 'build.done' : 'api.change', { i })).status, 200);
  // A server-published event (those too).
  await post(s, '/api/llm/usage', { provider: 'anthropic', model: 'claude', tokens_in: 10, tokens_out: 5, cost_usd: 0.01, project: 'p' });

  await waitUntil('17 deliveries to the api webhook', () => rx.ok().length === 17);
  await waitUntil('21 deliveries to the catch-all webhook', () => other.ok().length === 21);
  const ids = rx.ok().map((d) => d.json.event_id);
  t.same(ids, [...ids].sort((a, b) => a - b), 'in event order');
  t.equal(new Set(ids).size, 17, 'each once');
  const first = rx.ok()[0]!;
  t.same(Object.keys(first.json), ['topic', 'data', 'source', 'event_id', 'created_at']);
  t.match(first.json, { topic: 'api.change', data: { i: 1 }, source: '' });
  t.match(first.json.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  for (const d of rx.ok()) t.equal(d.headers['x-koor-signature'], hmac('k', d.body), `signature of event ${d.json.event_id}`);
  t.equal(rx.ok().at(-1)!.json.topic, 'llm.usage.recorded');
  t.notOk(rx.ok().some((d) => d.json.topic === 'build.done'), 'non-matching topics are not sent');
  const w = await waitUntil('the api webhook settled', async () => {
    const h = await hook(s, 'api');
    return h.delivered === 17 ? h : undefined;
  });
  t.match(w, { fail_count: 0, pending: 0, delivered: 17, active: true });
  t.not(w.last_fired, '0001-01-01T00:00:00Z', 'last_fired set by a success');
});

t.test('retries with backoff: a receiver failing 3 times gets the event on the 4th attempt', async (t) => {
  const s = await startTestServer(t, { webhookRetryBaseMs: 50, webhookMaxAttempts: 10 });
  const rx = await startReceiver(t, (n) => (n <= 3 ? 503 : 200));
  await post(s, '/api/webhooks', { id: 'flaky', url: rx.url });
  await publish(s, 'a', 1);
  await publish(s, 'b', 2);
  await waitUntil('both delivered', () => rx.ok().length === 2);
  t.same(rx.got.map((d) => [d.json.topic, d.status]), [['a', 503], ['a', 503], ['a', 503], ['a', 200], ['b', 200]], 'the first event retried until it succeeded, then the next (order kept)');
  // Backoff: the gaps between attempts grow (50, 100, 200 ms nominal); only their order is asserted.
  // The receiver has both before the run is settled (committed): wait for the settle.
  const w = await waitUntil('the run settled', async () => {
    const h = await hook(s, 'flaky');
    return h.delivered === 2 ? h : undefined;
  });
  t.match(w, { fail_count: 0, failed: 3, delivered: 2, pending: 0, active: true, last_error: '' });
});

t.test('10 consecutive failures disable the webhook and drop what it had queued', async (t) => {
  const s = await startTestServer(t, { webhookRetryBaseMs: 10, webhookRetryMaxMs: 20, webhookMaxAttempts: 3 });
  const rx = await startReceiver(t, () => 500);
  await post(s, '/api/webhooks', { id: 'dead', url: rx.url });
  for (let i = 0; i < 6; i++) await publish(s, 'x', i);
  const w = await waitUntil('disabled', async () => {
    const h = await hook(s, 'dead');
    return h.active === false ? h : undefined;
  });
  t.match(w, { fail_count: 10, pending: 0, last_error: 'webhook returned status 500' });
  t.equal(rx.got.length, 10, 'exactly 10 attempts: 3 + 3 + 3 (each event dropped after 3) + 1');
  t.same(rx.got.map((d) => d.json.event_id), [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]);
  await publish(s, 'x', 'after');
  t.equal((await hook(s, 'dead')).pending, 0, 'an inactive webhook queues nothing');
});

t.test('a slow endpoint holds up neither publishing nor the other webhooks', async (t) => {
  const s = await startTestServer(t);
  const slow = await startReceiver(t, () => 'hold');
  const fast = await startReceiver(t);
  await post(s, '/api/webhooks', { id: 'slow', url: slow.url });
  await post(s, '/api/webhooks', { id: 'fast', url: fast.url });
  for (let i = 0; i < 30; i++) t.equal((await publish(s, 'e', i)).status, 200, `publish ${i} answered`);
  await waitUntil('the fast webhook got all 30', () => fast.ok().length === 30);
  t.equal(slow.got.length, 1, 'the slow one is still on its first delivery (one at a time, in order)');
  t.equal((await hook(s, 'slow')).pending, 30, 'its deliveries wait in the event log, not in memory');
});

t.test('a webhook created while another one is stuck sending starts receiving at once', async (t) => {
  const s = await startTestServer(t);
  const slow = await startReceiver(t, () => 'hold');
  await post(s, '/api/webhooks', { id: 'slow', url: slow.url });
  await publish(s, 'e', 0);
  await waitUntil('the slow one is sending', () => slow.got.length === 1);
  const late = await startReceiver(t);
  await post(s, '/api/webhooks', { id: 'late', url: late.url });
  await publish(s, 'e', 1);
  await waitUntil('the new webhook got the event published after it', () => late.ok().length === 1);
  t.same(late.ok()[0]!.json.data, 1);
});
