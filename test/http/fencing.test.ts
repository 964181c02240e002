import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { watch } from '../helpers/ws.js';

type Headers = Record<string, string>;

/** Fencing tokens on leases and task claims, X-Koor-Fence on state writes, agent-bound keys of a stale agent. */
t.test('a zombie holder is fenced off once its lease and claim were reclaimed', async (t) => {
  const s = await startTestServer(t, { livenessTimeoutMs: 1000, livenessIntervalMs: 3_600_000 });
  const call = async (method: string, path: string, body?: unknown, headers: Headers = {}) => {
    const r = await fetch(`${s.url}${path}`, { method, headers, body: body === undefined ? undefined : (Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) as unknown as BodyInit) });
    return { status: r.status, body: await json(r) };
  };
  const register = async (name: string) => (await call('POST', '/api/instances/register', { name })).body as { id: string };
  const as = (id: string, more: Headers = {}): Headers => ({ 'x-koor-instance': id, ...more });
  const zombie = await register('zombie');
  const next = await register('next');

  // The zombie takes the lease and the task, writes under the lease with its fence, and keeps an agent-bound key.
  const lease = (await call('POST', '/api/leases', { resources: ['build/**'] }, as(zombie.id))).body;
  t.ok(Number.isInteger(lease.fence) && lease.fence > 0, `a lease carries a fence (${lease.fence})`);
  await call('POST', '/api/tasks', { project: 'ci', title: 'ship' });
  const task = (await call('POST', '/api/tasks/claim', { project: 'ci' }, as(zombie.id))).body;
  t.ok(task.fence > lease.fence, 'a claim carries a fence, larger than any given before');
  t.equal((await call('PUT', '/api/state/build/out', '"v1"', as(zombie.id, { 'x-koor-fence': String(lease.fence) }))).status, 200, 'a write with the current fence');
  const who = await watch(s.url, '/api/state/watch?prefix=who/');
  t.teardown(() => who.ws.close());
  t.equal((await call('PUT', '/api/state/who/building', '"zombie"', as(zombie.id, { 'x-koor-ephemeral': 'true' }))).status, 200);
  t.equal((await call('POST', `/api/leases/${lease.id}/renew`, { fence: lease.fence }, as(zombie.id))).status, 200, 'renew with its own fence');

  // It stops answering and goes stale: its lease and claim go, and its agent-bound key with them.
  await waitUntil('the zombie to go stale', async () => {
    await call('POST', `/api/instances/${next.id}/heartbeat`);
    return (await call('POST', '/api/liveness/check')).body.newly_stale.some((i: { id: string }) => i.id === zombie.id);
  });
  t.equal((await call('GET', '/api/state/who/building')).status, 404, 'the ephemeral key went with its stale agent');
  await who.waitFor(2);
  t.same(who.changes.map((c) => [c.type, c.key]), [['put', 'who/building'], ['expire', 'who/building']], 'a watcher is told: expire');

  // Someone else has it now, with larger fences.
  const lease2 = (await call('POST', '/api/leases', { resources: ['build/**'] }, as(next.id))).body;
  t.ok(lease2.fence > lease.fence, 'the next holder\'s fence is larger');
  const task2 = (await call('POST', '/api/tasks/claim', { project: 'ci' }, as(next.id))).body;
  t.equal(task2.id, task.id);
  t.ok(task2.fence > task.fence);

  // The zombie wakes up and carries on with its old tokens: refused, 409.
  const renew = await call('POST', `/api/leases/${lease.id}/renew`, { fence: lease.fence }, as(zombie.id));
  t.same([renew.status, renew.body.error], [409, `fence ${lease.fence} is outdated for lease ${lease.id}: the current fence is 0`]);
  const release = await call('DELETE', `/api/leases/${lease.id}?fence=${lease.fence}`, undefined, as(zombie.id));
  t.equal(release.status, 409);
  const done = await call('POST', `/api/tasks/${task.id}/complete`, { fence: task.fence }, as(zombie.id));
  t.same([done.status, done.body.error], [409, `fence ${task.fence} is outdated for task ${task.id}: the current fence is ${task2.fence}`]);
  for (const how of ['fail', 'release'] as const) {
    const r = await call('POST', `/api/tasks/${task.id}/${how}`, { fence: task.fence, reason: 'zombie' }, as(zombie.id));
    t.same([r.status, r.body.error], [409, `fence ${task.fence} is outdated for task ${task.id}: the current fence is ${task2.fence}`], `${how} with the old fence`);
  }
  const byHeader = await call('POST', `/api/tasks/${task.id}/fail`, { reason: 'zombie' }, as(zombie.id, { 'x-koor-fence': String(task.fence) }));
  t.equal(byHeader.status, 409, 'X-Koor-Fence on fail, too');
  t.equal((await call('GET', `/api/tasks/${task.id}`)).body.status, 'claimed', 'the task is still the new holder\'s');
  const write = await call('PUT', '/api/state/build/out', '"stale"', as(zombie.id, { 'x-koor-fence': String(lease.fence) }));
  t.same([write.status, write.body.error], [409, `fence ${lease.fence} is outdated for key build/out: the current fence is ${lease2.fence}`]);
  const zdel = await call('DELETE', '/api/state/build/out', undefined, as(zombie.id, { 'x-koor-fence': String(lease.fence) }));
  t.same([zdel.status, zdel.body.error], [409, `fence ${lease.fence} is outdated for key build/out: the current fence is ${lease2.fence}`], 'a delete is fenced too');
  const zroll = await call('POST', `/api/state/build/out?rollback=1&fence=${lease.fence}`, undefined, as(zombie.id));
  t.equal(zroll.status, 409, 'and a rollback');
  t.equal(await (await fetch(`${s.url}/api/state/build/out`)).text(), '"v1"', 'the stale write did not land');

  // The new holder's tokens work; after it lets go, the key still remembers the larger fence.
  t.equal((await call('PUT', '/api/state/build/out', '"v2"', as(next.id, { 'x-koor-fence': String(lease2.fence) }))).status, 200);
  t.equal((await call('POST', `/api/tasks/${task.id}/complete`, { fence: task2.fence }, as(next.id))).status, 200);
  t.equal((await call('DELETE', `/api/leases/${lease2.id}`, undefined, as(next.id, { 'x-koor-fence': String(lease2.fence) }))).status, 200);
  t.equal((await call('PUT', '/api/state/build/out', '"late"', as(zombie.id, { 'x-koor-fence': String(lease.fence) }))).status, 409, 'an older fence stays refused on the key');
  t.equal((await call('PUT', '/api/state/build/out', '"x"', { 'x-koor-fence': 'abc' })).status, 400, 'a malformed fence is a 400');
});
