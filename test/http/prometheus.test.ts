import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';
import { startReceiver } from '../helpers/receiver.js';
import { subscribe } from '../helpers/ws.js';
import { waitUntil } from '../helpers/wait.js';
import { histogramOf, parsePrometheus, valueOf as sample, type Family } from '../helpers/prometheus.js';

/** Every figure here is the node's own (one registry per node, as Prometheus scrapes each node). */
const OWN_FIGURES = { oneNode: "a node's own metrics registry" };

/** GET /metrics: Prometheus text from the one registry, read by a strict parser. */

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Map<string, Family>> {
  const r = await fetch(`${url}/metrics`, { headers });
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  if (!r.headers.get('content-type')?.startsWith('text/plain; version=0.0.4')) throw new Error(`content type ${r.headers.get('content-type')}`);
  return parsePrometheus(await r.text());
}

const put = (url: string, key: string, body: string, headers: Record<string, string> = {}) => fetch(`${url}/api/state/${key}`, { method: 'PUT', body, headers });

t.test('requests by route pattern and status, with a latency histogram per route', async (t) => {
  const s = await startTestServer(t, {}, OWN_FIGURES);
  for (const k of ['a', 'b', 'c']) t.equal((await put(s.url, k, 'v')).status, 200);
  t.equal((await fetch(`${s.url}/api/state/a`)).status, 200);
  t.equal((await fetch(`${s.url}/api/state/missing`)).status, 404);
  t.equal((await fetch(`${s.url}/no/such/route`)).status, 404);
  const m = await scrape(s.url);
  t.equal(m.get('koor_http_requests_total')?.type, 'counter');
  t.equal(sample(m, 'koor_http_requests_total', { method: 'PUT', route: '/api/state/*', status: '200' }), 3, 'three keys, one route label');
  t.equal(sample(m, 'koor_http_requests_total', { method: 'GET', route: '/api/state/*', status: '200' }), 1);
  t.equal(sample(m, 'koor_http_requests_total', { method: 'GET', route: '/api/state/*', status: '404' }), 1);
  t.equal(sample(m, 'koor_http_requests_total', { method: 'GET', route: '(unmatched)', status: '404' }), 1);
  t.notOk(m.get('koor_http_requests_total')!.series.some((x) => /\/(a|b|c|missing)$/.test(x.labels.route ?? '')), 'never a label per key');
  const putHist = histogramOf(m, 'koor_http_request_duration_seconds', { method: 'PUT', route: '/api/state/*' });
  t.equal(putHist.count, 3, 'every PUT observed once');
  t.ok(putHist.buckets.length > 5, 'latency buckets');
  t.ok(putHist.sum > 0, 'latency summed');
  t.equal(histogramOf(m, 'koor_http_request_duration_seconds', { method: 'GET', route: '/api/state/*' }).count, 2, 'a 404 is timed too');
});

t.test('writer batches and commit latency come from the writer thread; queue depth, restarts, RPC figures', async (t) => {
  const s = await startTestServer(t, {}, OWN_FIGURES);
  // 40 concurrent writes share transactions (group commit).
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => put(s.url, `k${i}`, String(i))));
  t.ok(replies.every((r) => r.status === 200));
  let m = await scrape(s.url);
  const batch = histogramOf(m, 'koor_writer_batch_size');
  const commits = histogramOf(m, 'koor_writer_commit_seconds');
  t.ok(batch.sum >= 40, `at least the 40 writes were committed in batches (${batch.sum})`);
  t.ok(batch.count < batch.sum, 'several writes shared a transaction');
  t.equal(commits.count, batch.count, 'one commit timed per batch');
  t.ok(sample(m, 'koor_writer_calls_total') >= 40);
  t.equal(sample(m, 'koor_writer_queue_depth'), 0, 'nothing in flight once all replies arrived');
  t.equal(sample(m, 'koor_writer_restarts_total'), 0);
  // The writer thread's heap, taken by the writer itself: a live isolate's, under its total.
  const heapUsed = sample(m, 'koor_writer_heap_bytes', { kind: 'used' });
  t.ok(heapUsed > 1e6 && heapUsed <= sample(m, 'koor_writer_heap_bytes', { kind: 'total' }), `the writer's heap is reported (${heapUsed} bytes used)`);
  t.equal(sample(m, 'koor_rpc_deadline_exceeded_total', { target: 'writer' }), 0);
  t.equal(sample(m, 'koor_rpc_rejected_total', { target: 'pool' }), 0);

  // A writer death is counted, and the counts kept by the dead thread are not lost.
  const before = batch.count;
  await s.writer.kill();
  await waitUntil('writer back', async () => (await put(s.url, 'after', '1')).status === 200);
  m = await scrape(s.url);
  t.equal(sample(m, 'koor_writer_restarts_total'), 1);
  t.ok(histogramOf(m, 'koor_writer_batch_size').count > before, 'batch counts run on across the restart');
});

t.test('cache, pool, subscribers, events and webhooks report into the same registry as /api/metrics', async (t) => {
  const s = await startTestServer(t, {}, OWN_FIGURES);
  const hook = await startReceiver(t);
  t.equal((await fetch(`${s.url}/api/webhooks`, { method: 'POST', body: JSON.stringify({ id: 'h', url: hook.url, events: ['build.*'] }) })).status, 200);
  await put(s.url, 'hot', 'v');
  for (let i = 0; i < 3; i++) await fetch(`${s.url}/api/state/hot`);
  await fetch(`${s.url}/api/validate/p/rules`, { method: 'PUT', body: JSON.stringify([{ rule_id: 'r', pattern: 'TODO', message: 'no' }]) });
  t.equal((await fetch(`${s.url}/api/validate/p`, { method: 'POST', body: JSON.stringify({ filename: 'a.go', content: 'TODO' }) })).status, 200);
  const sub = await subscribe(s.url, '?pattern=build.*');
  t.teardown(() => sub.ws.close());
  await waitUntil('subscriber counted', async () => sample(await scrape(s.url), 'koor_ws_subscribers') === 1);
  for (let i = 0; i < 2; i++) await fetch(`${s.url}/api/events/publish`, { method: 'POST', body: JSON.stringify({ topic: 'build.done', data: { i } }) });
  await sub.waitFor(2);
  await waitUntil('webhook deliveries settled', async () => sample(await scrape(s.url), 'koor_webhook_deliveries_total', { outcome: 'delivered' }) === 2);

  const m = await scrape(s.url);
  // Cluster mode keeps no state value across requests: nothing is cached there.
  if (!s.config.database) t.ok(sample(m, 'koor_state_cache_hits_total') >= 2, 'cached reads counted');
  t.ok(sample(m, 'koor_pool_jobs_total') >= 1, 'the validation ran in the pool');
  t.equal(sample(m, 'koor_pool_queue_depth'), 0);
  t.equal(sample(m, 'koor_events_delivered_total'), 2);
  t.equal(sample(m, 'koor_events_dropped_total'), 0);
  t.equal(sample(m, 'koor_webhook_pending_events'), 0);
  t.equal(sample(m, 'koor_webhook_deliveries_total', { outcome: 'failed' }), 0);
  t.equal(sample(m, 'koor_state_keys'), 1);
  t.ok(sample(m, 'koor_last_event_id') >= 2);
  t.ok(m.has('process_cpu_user_seconds_total') && m.has('nodejs_eventloop_lag_seconds') && m.has('nodejs_heap_size_used_bytes'), 'process metrics');

  const api = await json(await fetch(`${s.url}/api/metrics`));
  t.equal(api.events.delivered, sample(m, 'koor_events_delivered_total'), '/api/metrics reads the same figures');
  t.equal(api.events.subscribers, 1);
  t.equal(api.state_keys, 1);
  t.equal(api.last_event_id, sample(m, 'koor_last_event_id'));
  t.equal(api.webhooks.delivered, 2);
  t.ok(api.writer.calls >= sample(m, 'koor_writer_calls_total'));
  t.equal(api.token_tax.rest_calls, sample(m, 'koor_rest_calls_total'));

  // A dead endpoint: the failure is counted and the event waits for the webhook.
  hook.setBehaviour(() => 500);
  await fetch(`${s.url}/api/events/publish`, { method: 'POST', body: JSON.stringify({ topic: 'build.fail' }) });
  await waitUntil('failure counted', async () => sample(await scrape(s.url), 'koor_webhook_deliveries_total', { outcome: 'failed' }) >= 1);
  t.equal(sample(await scrape(s.url), 'koor_webhook_pending_events'), 1, 'the undelivered event is pending');
});

t.test('/metrics: auth as /api/*, not a token-tax call, served by the dashboard listener too', async (t) => {
  const s = await startTestServer(t, { authToken: 'sekrit', dashboardBind: { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' } }, OWN_FIGURES);
  const auth = { authorization: 'Bearer sekrit' };
  const r = await fetch(`${s.url}/metrics`);
  t.equal(r.status, 401);
  t.equal((await r.json()).code, 401);
  await put(s.url, 'x', '1', auth);
  const m = await scrape(s.url, auth);
  await scrape(s.url, auth);
  t.equal(sample(m, 'koor_rest_calls_total'), 1, 'scrapes are not counted as REST calls');
  t.equal((await json(await fetch(`${s.url}/api/metrics`, { headers: auth }))).token_tax.rest_calls, 1);
  const d = await scrape(s.dashboardUrl!, auth);
  t.equal(sample(d, 'koor_state_keys'), 1, 'the dashboard listener serves the same registry');
});
