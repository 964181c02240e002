import t from 'tap';
import { CLOSE_REASONS, CLOSES, closeAllReason } from '../../src/bus/closes.js';
import { json, startTestServer } from '../helpers/server.js';
import { parsePrometheus, valueOf, type Family } from '../helpers/prometheus.js';
import { publish, subscribe } from '../helpers/ws.js';

/** Subscriber closes are counted by the node whose socket it was: one node, its own registry. */
const OWN_SOCKETS = { oneNode: "a subscriber's socket and its node's close counts" };

async function scrape(url: string): Promise<Map<string, Family>> {
  const r = await fetch(`${url}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parsePrometheus(await r.text());
}

const closedBy = (m: Map<string, Family>) => Object.fromEntries(CLOSE_REASONS.map((reason) => [reason, valueOf(m, 'koor_ws_closed_total', { reason })]));
const none = Object.fromEntries(CLOSE_REASONS.map((r) => [r, 0]));

t.test('the close table: each reason one code; closeAll reads its reason from the code', async (t) => {
  t.same(
    Object.fromEntries(CLOSE_REASONS.map((r) => [r, CLOSES[r].code])),
    { slow_consumer: 4008, node_behind: 4008, replay_failed: 1011, open_failed: 1011, restart: 1012, shutdown: 1001, other: null },
    'the codes clients rely on (4008: a slow consumer, or a node behind)',
  );
  t.same([4008, 1012, 1001, 1000].map(closeAllReason), ['node_behind', 'restart', 'shutdown', 'other']);
});

t.test('koor_ws_closed_total{reason="slow_consumer"} counts a stalled subscriber closed with 4008', async (t) => {
  const s = await startTestServer(t, { wsBufferEvents: 16, wsBufferBytes: 64 * 1024 }, OWN_SOCKETS);
  const m0 = await scrape(s.url);
  t.equal(m0.get('koor_ws_closed_total')?.type, 'counter');
  t.same(closedBy(m0), none, 'every reason exported, at 0, before any close');

  const stalled = await subscribe(s.url, '?pattern=*');
  stalled.ws.pause(); // stops reading: the kernel's buffers, then the server's, fill up
  const payload = 'x'.repeat(8 * 1024);
  let n = 0;
  let slow = 0;
  // Bounded: at most 4000 events (~32 MiB, far more than loopback buffers hold) and 60 s.
  const deadline = Date.now() + 60_000;
  while (n < 4000 && Date.now() < deadline && slow === 0) {
    await Promise.all(Array.from({ length: 50 }, () => publish(s.url, 'big', payload)));
    n += 50;
    slow = valueOf(await scrape(s.url), 'koor_ws_closed_total', { reason: 'slow_consumer' });
  }
  t.equal(slow, 1, `counted once, after ${n} events`);

  stalled.ws.resume();
  const close = await stalled.closed;
  t.equal(close.code, 4008, 'the client saw the slow-consumer code');
  t.match(close.reason, /^slow consumer: last delivered id \d+$/);

  const m1 = await scrape(s.url);
  t.same(closedBy(m1), { ...none, slow_consumer: 1 }, 'no other reason moved');
  t.equal(valueOf(m1, 'koor_ws_closed_slow_total'), 1, 'the older slow-close counter agrees');
  t.equal((await json(await fetch(`${s.url}/api/metrics`))).events.closed_slow, 1);
  t.equal(valueOf(m1, 'koor_ws_subscribers'), 0, 'the closed subscriber is gone');
});

t.test('shutdown closes every subscriber with 1001, counted as shutdown', async (t) => {
  const s = await startTestServer(t, {}, OWN_SOCKETS);
  const subs = await Promise.all([subscribe(s.url, '?pattern=a.*'), subscribe(s.url, '?pattern=b.*')]);
  await s.close();
  const codes = await Promise.all(subs.map((x) => x.closed.then((c) => c.code)));
  t.same(codes, [1001, 1001]);
  // /metrics is gone with the server: the hub's own count is what it would have exported.
  t.same(s.hub.stats.closes, { ...none, shutdown: 2 });
});
