import { spawn } from 'node:child_process';
import t from 'tap';
import { nodeCommand, startTestServer, json, summedMetric } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { publish, subscribe } from '../helpers/ws.js';
import { repoPath } from '../helpers/paths.js';

/** A stalled reader's backpressure reaches the node only on a direct socket (a relay buffers); its hub is the node's own. */
const OWN_SOCKETS = { oneNode: "a subscriber's socket and the hub of its node" };

const WSCAT = repoPath('node_modules', 'wscat', 'bin', 'wscat');

t.test('subscribers get matching events only, in id order', async (t) => {
  const s = await startTestServer(t);
  const api = await subscribe(s.url, '?pattern=api.*');
  const all = await subscribe(s.url, '');
  const exact = await subscribe(s.url, '?pattern=build.done');
  const topics = ['api.change', 'build.done', 'api.change.contract', 'apix', 'build.done.x', 'api.'];
  for (const topic of topics) await publish(s.url, topic, { topic });
  await all.waitFor(topics.length);
  await api.waitFor(3);
  await exact.waitFor(1);
  t.same(api.events.map((e) => e.topic), ['api.change', 'api.change.contract', 'api.']);
  t.same(exact.events.map((e) => e.topic), ['build.done']);
  t.same(all.events.map((e) => e.id), [1, 2, 3, 4, 5, 6]);
  t.same(Object.keys(all.events[0]!), ['id', 'topic', 'data', 'source', 'created_at']);
  // A burst of concurrent publishes still arrives strictly in id order.
  await Promise.all(Array.from({ length: 300 }, (_, i) => publish(s.url, 'api.burst', i)));
  await all.waitFor(306);
  const ids = all.events.map((e) => e.id);
  t.same(ids, Array.from({ length: 306 }, (_, i) => i + 1), 'every event once, in order');
  // Each node counts its own subscribers and deliveries: summed over the nodes.
  t.equal(await summedMetric(s.nodeUrls, (m) => m.events.subscribers), 3);
  t.ok((await summedMetric(s.nodeUrls, (m) => m.events.delivered)) >= 306 + 303 + 1);
  for (const c of [api, all, exact]) c.ws.close();
});

t.test('the dashboard listener serves subscriptions too', async (t) => {
  const { parseBind } = await import('../../src/config.js');
  const s = await startTestServer(t, { dashboardBind: parseBind('127.0.0.1:0', 'dashboard') });
  const sub = await subscribe(s.dashboardUrl!, '?pattern=d.*');
  await publish(s.url, 'd.1', 1);
  await sub.waitFor(1);
  t.equal(sub.events[0]!.topic, 'd.1');
  sub.ws.close();
});

t.test('upgrade: auth, bad parameters, plain GET', async (t) => {
  const s = await startTestServer(t, { authToken: 'tok' });
  await t.rejects(subscribe(s.url, '?pattern=*'), { status: 401 });
  await t.rejects(subscribe(s.url, '', { authorization: 'Bearer nope' }), { status: 401 });
  const ok = await subscribe(s.url, '?pattern=*', { authorization: 'Bearer tok' });
  await publish(s.url, 'x', 1, { authorization: 'Bearer tok' });
  await ok.waitFor(1);
  ok.ws.close();
  await t.rejects(subscribe(s.url, '?since=abc', { authorization: 'Bearer tok' }), { status: 400 });
  await t.rejects(subscribe(s.url, '?overflow=explode', { authorization: 'Bearer tok' }), { status: 400 });
  const plain = await fetch(`${s.url}/api/events/subscribe`, { headers: { authorization: 'Bearer tok' } });
  t.same([plain.status, await json(plain)], [400, { error: 'websocket upgrade required', code: 400 }]);
});

t.test('a command-line client (wscat) run as a subprocess receives matching events', async (t) => {
  const s = await startTestServer(t);
  const child = spawn(...nodeCommand(WSCAT, ['-c', `${s.url.replace('http', 'ws')}/api/events/subscribe?pattern=deploy.*`]), { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // wait until the subscription is registered
  const subscribers = () => summedMetric(s.nodeUrls, (m) => m.events.subscribers);
  for (let i = 0; i < 200 && (await subscribers()) < 1; i++) await new Promise((r) => setTimeout(r, 25));
  t.equal(await subscribers(), 1, 'wscat connected');
  await publish(s.url, 'deploy.start', { v: 1 });
  await publish(s.url, 'test.start', { v: 2 });
  await publish(s.url, 'deploy.done', { v: 3 });
  for (let i = 0; i < 200 && out.split('\n').filter(Boolean).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
  const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l.replace(/^< /, '')));
  t.same(lines.map((e) => e.topic), ['deploy.start', 'deploy.done']);
  t.same(lines.map((e) => e.data), [{ v: 1 }, { v: 3 }]);
});

t.test('resume: disconnect mid-stream, reconnect with since → every event exactly once, in order', async (t) => {
  const s = await startTestServer(t);
  const TOTAL = 400;
  const subs = [await subscribe(s.url, '?pattern=job.*')];
  const got = () => subs.flatMap((x) => x.events.map((e) => e.id));
  // Publishers keep going while the subscriber drops and resumes.
  const publishing = (async () => {
    for (let i = 0; i < TOTAL; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => publish(s.url, `job.${i + j}`, i + j)));
  })();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 400 && got().length < (round + 1) * 80; i++) await new Promise((r) => setTimeout(r, 5));
    const cur = subs.at(-1)!;
    cur.ws.terminate(); // abrupt: no close handshake
    await cur.closed;
    subs.push(await subscribe(s.url, `?pattern=job.*&since=${got().at(-1) ?? 0}`));
  }
  await publishing;
  for (let i = 0; i < 400 && got().length < TOTAL; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(got().length, TOTAL, 'no gap, no duplicate');
  t.same(got(), Array.from({ length: TOTAL }, (_, i) => i + 1), 'in order');
  subs.at(-1)!.ws.close();
});

t.test('since older than retention → X-Koor-Oldest-Event and replay of what is left', async (t) => {
  const s = await startTestServer(t, { eventRetention: 3, pruneIntervalMs: 3_600_000 });
  for (let i = 0; i < 10; i++) await publish(s.url, 'r', i);
  await s.events.prune();
  const sub = await subscribe(s.url, '?since=2');
  t.equal(sub.headers['x-koor-oldest-event'], '8');
  await sub.waitFor(3);
  t.same(sub.events.map((e) => e.id), [8, 9, 10]);
  sub.ws.close();
  const fresh = await subscribe(s.url, '?since=7');
  t.equal(fresh.headers['x-koor-oldest-event'], undefined, 'nothing missing: no header');
  await fresh.waitFor(3);
  fresh.ws.close();
});

t.test('slow subscriber: closed with 4008 naming the last delivered id; others unaffected', async (t) => {
  const s = await startTestServer(t, { wsBufferEvents: 16, wsBufferBytes: 64 * 1024 }, OWN_SOCKETS);
  const healthy = await subscribe(s.url, '?pattern=*');
  const stalled = await subscribe(s.url, '?pattern=*');
  stalled.ws.pause(); // stops reading: the kernel buffers, then the server's, fill up
  const payload = 'x'.repeat(8 * 1024);
  let n = 0;
  // Bounded: at most 4000 events (~32 MiB) — far more than loopback buffers hold.
  while (n < 4000 && s.hub.stats.closed_slow === 0) {
    await Promise.all(Array.from({ length: 50 }, () => publish(s.url, 'big', payload)));
    n += 50;
  }
  t.equal(s.hub.stats.closed_slow, 1, `stalled subscriber closed after ${n} events`);
  // A page of events just handed to the healthy subscriber may sit in its queue until the next
  // flush (on PostgreSQL the feed hands over up to a page at once): what must hold is that the
  // server comes back to at most the budget, i.e. keeps nothing for the closed one.
  await waitUntil('the server to hold no more than the budget for the remaining subscriber', () => s.hub.queuedBytes() <= 64 * 1024 + 16 * 1024, 5_000);
  await healthy.waitFor(n, 20_000);
  t.same(healthy.events.map((e) => e.id), Array.from({ length: n }, (_, i) => i + 1), 'the healthy subscriber got every event in order');
  stalled.ws.resume();
  const close = await stalled.closed;
  t.equal(close.code, 4008);
  const m = /^slow consumer: last delivered id (\d+)$/.exec(close.reason);
  t.ok(m, `reason: ${close.reason}`);
  const lastDelivered = Number(m![1]);
  t.same(stalled.events.map((e) => e.id), Array.from({ length: lastDelivered }, (_, i) => i + 1), 'it received exactly up to the id named in the reason');
  // ...so it can resume from there and miss nothing.
  const resumed = await subscribe(s.url, `?since=${lastDelivered}`);
  await resumed.waitFor(n - lastDelivered, 20_000);
  t.equal(resumed.events[0]!.id, lastDelivered + 1);
  const metrics = await json(await fetch(`${s.url}/api/metrics`));
  t.equal(metrics.events.closed_slow, 1);
  healthy.ws.close();
  resumed.ws.close();
});

t.test('overflow=drop: a slow subscriber skips events but stays connected', async (t) => {
  const s = await startTestServer(t, { wsBufferEvents: 16, wsBufferBytes: 64 * 1024 }, OWN_SOCKETS);
  const healthy = await subscribe(s.url, '?pattern=*');
  const dropper = await subscribe(s.url, '?pattern=*&overflow=drop');
  dropper.ws.pause();
  const payload = 'y'.repeat(8 * 1024);
  let n = 0;
  while (n < 4000 && s.hub.stats.dropped < 100) {
    await Promise.all(Array.from({ length: 50 }, () => publish(s.url, 'big', payload)));
    n += 50;
  }
  t.ok(s.hub.stats.dropped >= 100, `dropped ${s.hub.stats.dropped} of ${n}`);
  t.equal(s.hub.stats.closed_slow, 0);
  await waitUntil('the server-side buffer to be within its budget', () => s.hub.queuedBytes() <= 64 * 1024 + 16 * 1024, 5_000);
  await healthy.waitFor(n, 20_000);
  t.equal(healthy.events.length, n);
  dropper.ws.resume();
  await publish(s.url, 'after', 1);
  await healthy.waitFor(n + 1);
  for (let i = 0; i < 400 && dropper.events.at(-1)?.topic !== 'after'; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(dropper.events.at(-1)?.topic, 'after', 'still connected and receiving');
  const ids = dropper.events.map((e) => e.id);
  t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'what it did get is in order');
  t.ok(ids.length < n + 1, 'with gaps');
  const metrics = await json(await fetch(`${s.url}/api/metrics`));
  t.equal(metrics.events.dropped, s.hub.stats.dropped);
  healthy.ws.close();
  dropper.ws.close();
});

t.test('since beyond the newest id does not mute live events', async (t) => {
  const s = await startTestServer(t);
  await publish(s.url, 'a', 1);
  const sub = await subscribe(s.url, '?since=1000');
  await publish(s.url, 'b', 2);
  await sub.waitFor(1);
  t.same(sub.events.map((e) => e.id), [2]);
  sub.ws.close();
});

t.test('an event committed past its caller\'s deadline and never announced still reaches live subscribers, in order', async (t) => {
  const s = await startTestServer(t);
  const sub = await subscribe(s.url, '?pattern=*');
  await publish(s.url, 'first', 1);
  // Same batch: the publish runs at once, then a slow step delays the COMMIT past the
  // publisher's deadline. The caller is told it committed (a begun write is waited
  // for, never a 503 after its commit); a raw writer call announces nothing, the feed finds it.
  // The deadline leaves a loaded machine time to begin the publish (at 50 ms a busy cluster pass
  // began it too late: refused unwritten, as it must be); the slow step runs well past it.
  const lost = s.writer.call('events.publish', { topic: 'lost-reply', data: '2', source: '' }, { deadlineMs: 250 }).catch((e: { status?: string }) => e);
  const blocker = s.writer.call('sys.sleep', { ms: 750 });
  t.equal(((await lost) as { id?: number }).id, 2, 'the caller learns it committed');
  await blocker;
  await publish(s.url, 'third', 3);
  await sub.waitFor(3);
  t.same(sub.events.map((e) => [e.id, e.topic]), [[1, 'first'], [2, 'lost-reply'], [3, 'third']]);
  sub.ws.close();
});

t.test('an event committed with no reply to announce it and no write after it still reaches live subscribers', async (t) => {
  const s = await startTestServer(t);
  const sub = await subscribe(s.url, '?pattern=*');
  await publish(s.url, 'first', 1);
  // A raw writer call announces nothing: as a reply lost after COMMIT whose retry was answered
  // from its Idempotency-Key. Nothing is written after it: only the node's own look finds it.
  const quiet = (await s.writer.call('events.publish', { topic: 'unannounced', data: '2', source: '' })) as { id: number };
  await sub.waitFor(2, 10_000);
  t.same(sub.events.map((e) => [e.id, e.topic]), [[1, 'first'], [quiet.id, 'unannounced']]);
  sub.ws.close();
});
