import t from 'tap';
import fs from 'node:fs';
import { startTestServer, json, spawnServer, tempDir } from '../helpers/server.js';
import { startReceiver, hmac } from '../helpers/receiver.js';
import { waitUntil } from '../helpers/wait.js';

/** Webhook delivery that outlives retention, a kill -9 and busy cores. */

type Server = { url: string };
const post = (s: Server, p: string, body: unknown) => fetch(`${s.url}${p}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const get = async (s: Server, p: string) => json(await fetch(`${s.url}${p}`));
const publish = (s: Server, topic: string, data: unknown) => post(s, '/api/events/publish', { topic, data });
const hook = async (s: Server, id: string) => ((await get(s, '/api/webhooks')) as any[]).find((w) => w.id === id);

t.test('undelivered events outlive event retention', async (t) => {
  const s = await startTestServer(t, { eventRetention: 2 });
  const rx = await startReceiver(t, () => 'hold');
  await post(s, '/api/webhooks', { id: 'h', url: rx.url });
  for (let i = 1; i <= 8; i++) await publish(s, 'e', i);
  await (s as any).retention.runPass();
  t.equal((await get(s, '/api/events/history?last=100')).length, 8, 'pruning keeps events a webhook has yet to receive');
  rx.setBehaviour(() => 200);
  await rx.close(); // the held request fails; the retry finds a receiver answering 200 again
  const rx2 = await startReceiver(t);
  await fetch(`${s.url}/api/webhooks/h`, { method: 'DELETE' });
  await post(s, '/api/webhooks', { id: 'h2', url: rx2.url });
  for (let i = 9; i <= 10; i++) await publish(s, 'e', i);
  await waitUntil('h2 got its 2', () => rx2.ok().length === 2);
  await waitUntil('h2 settled', async () => (await hook(s, 'h2')).pending === 0);
  await (s as any).retention.runPass();
  t.equal((await get(s, '/api/events/history?last=100')).length, 2, 'once delivered (or dropped with the webhook), events are pruned as usual');
});

t.test('kill -9 with undelivered deliveries: all are delivered after restart, in order', async (t) => {
  const dir = tempDir(t);
  const rx = await startReceiver(t, () => 'hold');
  const args = ['--data-dir', dir, '--webhook-retry-base', '50ms'];
  const first = await spawnServer(args);
  t.teardown(() => first.child.kill('SIGKILL'));
  await post(first, '/api/webhooks', { id: 'h', url: rx.url, secret: 'z' });
  const acked: number[] = [];
  for (let i = 1; i <= 25; i++) {
    const r = await publish(first, 'deploy.step', { i });
    if (r.status === 200) acked.push((await json(r)).id);
  }
  t.equal(acked.length, 25);
  await waitUntil('the first delivery in flight', () => rx.got.length >= 1);
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  rx.setBehaviour(() => 200);
  const second = await spawnServer(args);
  t.teardown(() => second.child.kill('SIGKILL'));
  await waitUntil('every acknowledged event delivered', () => new Set(rx.ok().map((d) => d.json.event_id)).size === 25, 20_000);
  const firstSeen: number[] = [];
  for (const d of rx.ok()) if (!firstSeen.includes(d.json.event_id)) firstSeen.push(d.json.event_id);
  t.same(firstSeen, acked, 'every acknowledged event, in order (at least once: event_id de-duplicates)');
  for (const d of rx.ok()) t.equal(d.headers['x-koor-signature'], hmac('z', d.body));
  // The receiver has them all before the last run is settled (committed): wait for the settle.
  await waitUntil('the last run settled', async () => (await hook(second, 'h')).pending === 0);
});

t.test('deliveries run on a thread of lower priority than the request path', { skip: process.platform !== 'linux' && 'per-thread nice values are a Linux feature' }, async (t) => {
  const rx = await startReceiver(t);
  const s = await spawnServer(['--data-dir', tempDir(t)]);
  t.teardown(() => s.child.kill('SIGKILL'));
  await post(s, '/api/webhooks', { id: 'h', url: rx.url });
  await publish(s, 'a', 1);
  await waitUntil('delivered', () => rx.ok().length === 1);
  // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value.
  const nice = (tid: string) => Number(fs.readFileSync(`/proc/${s.child.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
  const tids = fs.readdirSync(`/proc/${s.child.pid}/task`);
  const main = nice(String(s.child.pid));
  const lowered = tids.filter((tid) => nice(tid) === Math.min(19, main + 19));
  t.equal(lowered.length, 1, 'one thread (the delivery thread) runs at the lowest priority (nice 19)');
  t.ok(tids.filter((tid) => nice(tid) === main).length >= 3, 'the main thread, the writer and the rest at the server priority');
});
