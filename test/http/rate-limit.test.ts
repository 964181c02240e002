import t from 'tap';
import { startTestServer } from '../helpers/server.js';

/**
 * A runaway agent cannot starve the others: each token gets --rate-limit requests a
 * second (bursts of --rate-burst); past it 429 with Retry-After, counted; other tokens and the
 * operator are not affected. Limits are per node, so this runs on one node in the cluster pass.
 */
t.test('per-token rate limit: 429 with Retry-After past the burst, other agents and the operator unaffected', async (t) => {
  const s = await startTestServer(t, { authToken: 'op', rateLimit: 2, rateBurst: 5 }, { oneNode: 'the limits are kept per node' });
  const reg = async (name: string) => (await (await fetch(`${s.url}/api/instances/register`, { method: 'POST', headers: { authorization: 'Bearer op' }, body: JSON.stringify({ name }) })).json()) as { token: string };
  const [runaway, calm] = [await reg('runaway'), await reg('calm')];
  const get = (token: string) => fetch(`${s.url}/api/state`, { headers: { authorization: `Bearer ${token}` } });
  const statuses: number[] = [];
  let limited: Response | null = null;
  for (let i = 0; i < 8; i++) {
    const r = await get(runaway.token);
    statuses.push(r.status);
    if (r.status === 429 && !limited) limited = r;
    else await r.arrayBuffer();
  }
  t.same(statuses.slice(0, 5), [200, 200, 200, 200, 200], 'the burst');
  t.ok(statuses.slice(5).every((x) => x === 429), `then refused: ${statuses.join(',')}`);
  t.equal(limited!.headers.get('retry-after'), '1');
  t.same(await limited!.json(), { error: 'rate limit exceeded: 2 requests per second per token', code: 429 });
  t.equal((await get(calm.token)).status, 200, 'another agent is not affected');
  for (let i = 0; i < 20; i++) t.equal((await get('op')).status, 200, `the operator, call ${i + 1}`);
  await new Promise((r) => setTimeout(r, 600));
  t.equal((await get(runaway.token)).status, 200, 'the bucket refills at the rate');
  t.match(await (await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer op' } })).text(), /koor_rate_limited_total [3-9]/);
});
