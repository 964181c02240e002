import t from 'tap';
import { startTestServer, json, TEST_BACKEND } from '../helpers/server.js';
import { TOKEN_CONFIRM_MS } from '../../src/shared/limits.js';
import { subscribe } from '../helpers/ws.js';
import { waitUntil } from '../helpers/wait.js';

const req = (url: string, method: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method, body: body === undefined ? undefined : (Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) as unknown as BodyInit), headers });

const SUMMARY_KEYS = ['capabilities', 'id', 'intent', 'last_seen', 'name', 'registered_at', 'stack', 'status', 'workspace'];

t.test('instance lifecycle over REST', async (t) => {
  const s = await startTestServer(t);
  const u = (p: string) => `${s.url}${p}`;
  const reg = await req(u('/api/instances/register'), 'POST', { name: 'claude-frontend', workspace: 'w2c', intent: 'build UI', stack: 'react' });
  t.equal(reg.status, 200);
  const a = await json(reg);
  t.same(Object.keys(a).sort(), [...SUMMARY_KEYS, 'token'].sort());
  t.match(a.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.match(a.token, /^[0-9a-f-]{36}$/);
  t.same([a.status, a.capabilities, a.name, a.workspace, a.intent, a.stack], ['pending', [], 'claude-frontend', 'w2c', 'build UI', 'react']);
  const b = await json(await req(u('/api/instances/register'), 'POST', { name: 'cursor-backend', workspace: 'w2c', stack: 'go' }));

  const bad = await req(u('/api/instances/register'), 'POST', { workspace: 'x' });
  t.same([bad.status, await json(bad)], [400, { error: 'name is required', code: 400 }]);
  const badType = await req(u('/api/instances/register'), 'POST', { name: 5 });
  t.same([badType.status, await json(badType)], [400, { error: 'name: expected string', code: 400 }]);
  const badCaps = await req(u('/api/instances/register'), 'POST', { name: 'x', capabilities: 'go' });
  t.same([badCaps.status, (await json(badCaps)).error], [400, 'capabilities: expected array or null']);
  const badCap = await req(u('/api/instances/register'), 'POST', { name: 'x', capabilities: ['go', 7] });
  t.same([badCap.status, (await json(badCap)).error], [400, 'capabilities[1]: expected string']);
  // Text that reaches other agents' models is bounded, in UTF-8 bytes, and refused naming the field.
  const tooLong: Array<[Record<string, unknown>, string]> = [
    [{ name: 'é'.repeat(101) }, 'name too long: 202 bytes (max 200)'],
    [{ name: 'x', workspace: `/${'w'.repeat(4096)}` }, 'workspace too long: 4097 bytes (max 4096)'],
    [{ name: 'x', intent: 'i'.repeat(1001) }, 'intent too long: 1001 bytes (max 1000)'],
    [{ name: 'x', stack: 's'.repeat(201) }, 'stack too long: 201 bytes (max 200)'],
    [{ name: 'x', capabilities: Array.from({ length: 65 }, (_, i) => `c${i}`) }, 'too many capabilities: 65 (max 64)'],
    [{ name: 'x', capabilities: ['go', 'c'.repeat(201)] }, 'capability too long: 201 bytes (max 200)'],
  ];
  for (const [body, error] of tooLong) {
    const r = await req(u('/api/instances/register'), 'POST', body);
    t.same([r.status, await json(r)], [400, { error, code: 400 }], error);
  }
  const atMost = await req(u('/api/instances/register'), 'POST', { name: 'é'.repeat(100), intent: 'i'.repeat(1000), capabilities: Array.from({ length: 64 }, () => 'c'.repeat(200)) });
  t.equal(atMost.status, 200, 'each at its limit is accepted');
  const c = await json(atMost);
  const capsTooLong = await req(u(`/api/instances/${c.id}/capabilities`), 'POST', { capabilities: ['c'.repeat(201)] });
  t.same([capsTooLong.status, (await json(capsTooLong)).error], [400, 'capability too long: 201 bytes (max 200)'], 'a change is bounded too');
  t.equal((await json(await fetch(u(`/api/instances/${c.id}`)))).capabilities.length, 64, 'and changes nothing');
  t.same(await json(await req(u(`/api/instances/${c.id}`), 'DELETE')), { deleted: c.id });

  const got = await json(await fetch(u(`/api/instances/${a.id}`)));
  t.same(Object.keys(got).sort(), SUMMARY_KEYS, 'no token after registration');
  const nf = await fetch(u('/api/instances/nope'));
  t.same([nf.status, await json(nf)], [404, { error: 'instance not found: nope', code: 404 }]);

  t.same(await json(await req(u(`/api/instances/${a.id}/activate`), 'POST')), { id: a.id, status: 'active' });
  t.same(await json(await req(u(`/api/instances/${b.id}/heartbeat`), 'POST')), { id: b.id, status: 'ok' });
  t.equal((await json(await fetch(u(`/api/instances/${b.id}`)))).status, 'pending', 'heartbeat keeps pending');
  t.same(await json(await req(u(`/api/instances/${a.id}/capabilities`), 'POST', { capabilities: ['ui', 'review'] })), { id: a.id, capabilities: ['ui', 'review'] });
  t.same(await json(await req(u(`/api/instances/${b.id}/capabilities`), 'POST', { capabilities: null })), { id: b.id, capabilities: [] });
  t.same(await json(await req(u(`/api/instances/${b.id}/capabilities`), 'POST', 'null')), { id: b.id, capabilities: [] }, 'a null body is absent capabilities');
  const noBody = await req(u(`/api/instances/${b.id}/capabilities`), 'POST');
  t.equal(noBody.status, 400, 'capabilities needs a body');
  await noBody.arrayBuffer();
  for (const p of ['activate', 'heartbeat']) {
    const r = await req(u(`/api/instances/ghost/${p}`), 'POST');
    t.same([r.status, await json(r)], [404, { error: 'instance not found: ghost', code: 404 }], p);
  }

  const list = await json(await fetch(u('/api/instances')));
  t.equal(list.length, 2);
  t.same((await json(await fetch(u('/api/instances?limit=1')))).map((i: any) => i.id), [list[0].id], 'limit: the agents seen last, in the list\'s order');
  t.same((await json(await fetch(u('/api/instances?limit=5')))).map((i: any) => i.id), list.map((i: any) => i.id), 'a limit above the count: all');
  t.same((await json(await fetch(u('/api/instances?limit=')))).map((i: any) => i.id), list.map((i: any) => i.id), 'an empty limit: all');
  for (const [q, error] of [['limit=0', 'limit must be a positive integer'], ['limit=x', 'limit must be a positive integer'], ['limit=10001', 'limit must be at most 10000']]) {
    const r = await fetch(u(`/api/instances?${q}`));
    t.same([r.status, (await json(r)).error], [400, error], q);
  }
  t.same((await json(await fetch(u('/api/instances?stack=react')))).map((i: any) => i.id), [a.id]);
  t.same((await json(await fetch(u('/api/instances?capability=review')))).map((i: any) => i.id), [a.id]);
  t.same((await json(await fetch(u('/api/instances?capability=rev')))).map((i: any) => i.id), [], 'capability is an exact member');
  t.same((await json(await fetch(u('/api/instances?workspace=w2c&name=cursor-backend')))).map((i: any) => i.id), [b.id]);
  t.same(await json(await fetch(u('/api/instances/stale'))), []);

  t.same(await json(await req(u(`/api/instances/${b.id}`), 'DELETE')), { deleted: b.id });
  const again = await req(u(`/api/instances/${b.id}`), 'DELETE');
  t.equal(again.status, 404);
  await again.arrayBuffer();
  t.equal((await json(await fetch(u('/api/metrics')))).instances, 1);
});

t.test('liveness: active instance goes stale and agent.stale is published; heartbeat revives it', async (t) => {
  const s = await startTestServer(t, { livenessTimeoutMs: 1000, livenessIntervalMs: 3_600_000 });
  const u = (p: string) => `${s.url}${p}`;
  const a = await json(await req(u('/api/instances/register'), 'POST', { name: 'agent-a', workspace: 'ws', stack: 'go' }));
  const p = await json(await req(u('/api/instances/register'), 'POST', { name: 'pending-one' }));
  await req(u(`/api/instances/${a.id}/activate`), 'POST').then((r) => r.text());
  const sub = await subscribe(s.url, '?pattern=agent.*');
  const none = await json(await req(u('/api/liveness/check'), 'POST'));
  t.same(none, { checked: true, newly_stale: [], count: 0 }, 'fresh instances stay active');
  // last_seen has 1 s precision and the timeout is 1 s: run passes until the active one is stale.
  const check = await waitUntil('the active instance to go stale', async () => {
    const c = await json(await req(u('/api/liveness/check'), 'POST'));
    return c.count > 0 ? c : false;
  });
  t.equal(check.count, 1);
  t.same(check.newly_stale.map((i: any) => [i.id, i.status]), [[a.id, 'stale']], 'pending never goes stale');
  await sub.waitFor(1);
  const ev = sub.events[0]!;
  t.equal(ev.topic, 'agent.stale');
  t.equal(ev.source, 'liveness-monitor');
  t.same(ev.data, { instance_id: a.id, name: 'agent-a', workspace: 'ws', stack: 'go', last_seen: check.newly_stale[0].last_seen });
  t.same((await json(await fetch(u('/api/instances/stale')))).map((i: any) => i.id), [a.id]);
  t.equal((await json(await req(u('/api/liveness/check'), 'POST'))).count, 0, 'already stale: not again');
  await req(u(`/api/instances/${a.id}/heartbeat`), 'POST').then((r) => r.text());
  t.equal((await json(await fetch(u(`/api/instances/${a.id}`)))).status, 'active', 'heartbeat brings it back');
  t.equal((await json(await fetch(u(`/api/instances/${p.id}`)))).status, 'pending');
  sub.ws.close();
});

t.test('background liveness monitor runs on its interval', async (t) => {
  const s = await startTestServer(t, { livenessTimeoutMs: 500, livenessIntervalMs: 200 });
  const a = await json(await req(`${s.url}/api/instances/register`, 'POST', { name: 'bg' }));
  await req(`${s.url}/api/instances/${a.id}/activate`, 'POST').then((r) => r.text());
  await waitUntil('the monitor to mark it stale', async () => (await json(await fetch(`${s.url}/api/instances/${a.id}`))).status === 'stale');
  t.pass('stale without an explicit liveness check');
  const h = await json(await fetch(`${s.url}/api/events/history?topic=agent.stale`));
  t.equal(h.length, 1);
});

t.test('agent identity: X-Koor-Instance or the instance token', async (t) => {
  const s = await startTestServer(t, { authToken: 'server-secret' });
  const H = { authorization: 'Bearer server-secret' };
  const u = (p: string) => `${s.url}${p}`;
  const a = await json(await req(u('/api/instances/register'), 'POST', { name: 'builder' }, H));

  // Header identity with the server token: attributed as the event source and updated_by.
  const e1 = await json(await req(u('/api/events/publish'), 'POST', { topic: 'x' }, { ...H, 'x-koor-instance': a.id }));
  t.equal(e1.source, 'builder');
  const e2 = await json(await req(u('/api/events/publish'), 'POST', { topic: 'x', source: 'explicit' }, { ...H, 'x-koor-instance': a.id }));
  t.equal(e2.source, 'explicit', 'an explicit source wins');
  await req(u('/api/state/k'), 'PUT', 'v', { ...H, 'x-koor-instance': a.id }).then((r) => r.text());
  const h = await json(await fetch(u('/api/state/k?history=1'), { headers: H }));
  t.equal(h.versions[0].updated_by, 'builder');

  // The instance's own token authenticates and identifies.
  const TH = { authorization: `Bearer ${a.token}` };
  const e3 = await json(await req(u('/api/events/publish'), 'POST', { topic: 'x' }, TH));
  t.equal(e3.source, 'builder');
  t.equal((await fetch(u('/api/state'), { headers: TH })).status, 200);

  // Forged ids are not attributed and never grant access.
  const forged = await json(await req(u('/api/events/publish'), 'POST', { topic: 'x' }, { ...H, 'x-koor-instance': 'not-an-instance' }));
  t.equal(forged.source, '');
  const noAuth = await req(u('/api/events/publish'), 'POST', { topic: 'x' }, { 'x-koor-instance': a.id });
  t.equal(noAuth.status, 401, 'an instance id is not a credential');
  await noAuth.arrayBuffer();

  // Deregistered: its token stops working at once on this server. In the cluster pass the next
  // request may reach another node before the deregistration's notification does: every node
  // confirms a remembered token against the database once it is TOKEN_CONFIRM_MS old, so it is
  // refused there within that bound whether the notification arrives or not.
  await req(u(`/api/instances/${a.id}`), 'DELETE', undefined, H).then((r) => r.text());
  const deregistered = Date.now();
  const dead = await waitUntil('the token refused', async () => {
    const r = await fetch(u('/api/state'), { headers: TH });
    return r.status === 401 ? r : (await r.arrayBuffer(), false);
  }, TEST_BACKEND === 'cluster' ? TOKEN_CONFIRM_MS + 100 : 0);
  t.same([dead.status, await json(dead)], [401, { error: 'invalid or missing bearer token', code: 401 }], `refused after ${Date.now() - deregistered} ms`);
});

t.test('identified requests refresh last_seen (throttled)', async (t) => {
  const s = await startTestServer(t);
  const a = await json(await req(`${s.url}/api/instances/register`, 'POST', { name: 'toucher' }));
  // last_seen has 1 s precision: let the clock pass the registration's second first.
  await waitUntil('the next second', () => Date.now() >= Date.parse(a.last_seen) + 1000);
  await fetch(`${s.url}/api/state`, { headers: { 'x-koor-instance': a.id } }).then((r) => r.text());
  const seen = await waitUntil('last_seen to move', async () => {
    const v = (await json(await fetch(`${s.url}/api/instances/${a.id}`))).last_seen as string;
    return v > a.last_seen ? v : false;
  });
  t.ok(seen > a.last_seen, `last_seen moved from ${a.last_seen} to ${seen}`);
});

t.test('instances survive a restart and their tokens keep working', async (t) => {
  const { tempDir } = await import('../helpers/server.js');
  const dataDir = tempDir(t);
  const s1 = await startTestServer(t, { dataDir, authToken: 'T' });
  const a = await json(await req(`${s1.url}/api/instances/register`, 'POST', { name: 'persist' }, { authorization: 'Bearer T' }));
  await s1.close();
  const s2 = await startTestServer(t, { dataDir, authToken: 'T' });
  const r = await fetch(`${s2.url}/api/instances/${a.id}`, { headers: { authorization: `Bearer ${a.token}` } });
  t.equal(r.status, 200);
  t.equal((await json(r)).name, 'persist');
});
