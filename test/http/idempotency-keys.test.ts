import t from 'tap';
import { startTestServer } from '../helpers/server.js';

/**
 * An `Idempotency-Key` on every creating or state-changing write a client may retry.
 * For each route: the first request writes (200, no Idempotent-Replayed); the same request again
 * under the key gets the first reply with `Idempotent-Replayed: true` and writes nothing more (the
 * count of what it makes stays one); another request under the key is a 409 naming the key and
 * writes nothing. A registration's or a token's retry gets a new secret, since the first one's
 * plain text is never stored (the first stops working, the new one works). Both backends (the
 * cluster pass spreads the requests over its nodes).
 */

type Headers = Record<string, string>;
interface Res {
  status: number;
  body: any;
  replayed: boolean;
}

async function call(base: string, method: string, path: string, body?: unknown, headers: Headers = {}): Promise<Res> {
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : (Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) as unknown as BodyInit) });
  const text = await r.text();
  return { status: r.status, body: text === '' ? null : JSON.parse(text), replayed: r.headers.get('idempotent-replayed') === 'true' };
}

/** Volatile members of a reply (times a replay computes afresh from the row as it is now). */
const stable = (body: any, drop: readonly string[] = []): any => {
  if (body === null || typeof body !== 'object') return body;
  const copy = { ...body };
  for (const k of drop) delete copy[k];
  return copy;
};

t.test('every retryable write takes an Idempotency-Key: one write, the first reply again, 409 for another request', async (t) => {
  const s = await startTestServer(t);
  const c = (method: string, path: string, body?: unknown, headers: Headers = {}) => call(s.url, method, path, body, headers);
  const ann = (await c('POST', '/api/instances/register', { name: 'ann' })).body as { id: string };
  const as = (id: string, key: string): Headers => ({ 'x-koor-instance': id, 'idempotency-key': key });
  const count = async (path: string, pick: (b: any) => number = (b) => b.length) => pick((await c('GET', path)).body);

  // A route, a first request and another one (a different body) under the same key, what to count.
  interface Case {
    name: string;
    send: (key: string, other: boolean) => Promise<Res>;
    made: () => Promise<number>;
    /** Reply members a replay may show differently (read from the row as it is now). */
    volatile?: string[];
  }
  await c('POST', '/api/tasks', { project: 'p-claim', title: 'to claim' });
  await c('POST', '/api/tasks', { project: 'p-claim', title: 'to claim 2' });
  const settleTask = async (title: string) => {
    await c('POST', '/api/tasks', { project: `p-${title}`, title });
    return (await c('POST', '/api/tasks/claim', { project: `p-${title}` }, { 'x-koor-instance': ann.id })).body.id as number;
  };
  const toComplete = await settleTask('complete');
  const toRelease = await settleTask('release');
  const lease = (await c('POST', '/api/leases', { resources: ['renew/**'], ttl: '10m' }, { 'x-koor-instance': ann.id })).body;
  await c('POST', '/api/rules/propose', { project: 'r', rule_id: 'to-accept', pattern: 'x' });
  const events = async (type: string) => (await c('GET', `/api/events/history?topic=${type}&last=100`)).body.length;
  const cases: Case[] = [
    { name: 'task create', send: (k, o) => c('POST', '/api/tasks', { project: 'p-create', title: o ? 'other' : 'one' }, { 'idempotency-key': k }), made: () => count('/api/tasks?project=p-create') },
    {
      name: 'task claim',
      send: (k, o) => c('POST', '/api/tasks/claim', { project: o ? 'p-none' : 'p-claim' }, as(ann.id, k)),
      made: () => count('/api/tasks?project=p-claim&status=claimed'),
    },
    {
      name: 'task complete',
      send: (k, o) => c('POST', `/api/tasks/${toComplete}/complete`, { reason: o ? 'other' : '' }, as(ann.id, k)),
      made: () => count('/api/tasks?project=p-complete&status=done'),
    },
    {
      name: 'task release',
      send: (k, o) => c('POST', `/api/tasks/${toRelease}/release`, { reason: o ? 'other' : 'r' }, as(ann.id, k)),
      made: async () => (await c('GET', `/api/tasks/${toRelease}`)).body.attempts === 1 && (await c('GET', `/api/tasks/${toRelease}`)).body.status === 'ready' ? 1 : 0,
    },
    { name: 'lease', send: (k, o) => c('POST', '/api/leases', { resources: [o ? 'other/**' : 'src/a/**'] }, as(ann.id, k)), made: () => count(`/api/leases?holder=${ann.id}&resource=src/a/**`) },
    {
      name: 'lease renew',
      send: (k, o) => c('POST', `/api/leases/${lease.id}/renew`, { ttl: o ? '5m' : '20m' }, as(ann.id, k)),
      made: async () => 1,
      volatile: [],
    },
    { name: 'rule proposal', send: (k, o) => c('POST', '/api/rules/propose', { project: 'r', rule_id: o ? 'other' : 'one', pattern: 'x' }, { 'idempotency-key': k }), made: () => count('/api/rules?status=proposed', (b) => b.filter((r: any) => r.project === 'r' && r.rule_id === 'one').length) },
    { name: 'rule decision', send: (k, o) => c('POST', `/api/rules/r/to-accept/${o ? 'reject' : 'accept'}`, undefined, { 'idempotency-key': k }), made: () => count('/api/rules?status=accepted', (b) => b.filter((r: any) => r.project === 'r' && r.rule_id === 'to-accept').length) },
    { name: 'budget', send: (k, o) => c('PUT', '/api/budgets/project:b', { usd: o ? 2 : 1 }, { 'idempotency-key': k }), made: () => count('/api/budgets'), volatile: ['spent_usd', 'spent_tokens', 'updated_at', 'period_start', 'period_end'] },
    {
      name: 'txn',
      send: (k, o) => c('POST', '/api/txn', { success: [{ op: 'put', key: o ? 'txn/other' : 'txn/one', value: 'v' }] }, { 'idempotency-key': k }),
      made: async () => (await c('GET', '/api/state/txn/one')).body === 'v' ? ((await fetch(`${s.url}/api/state/txn/one`)).headers.get('x-koor-version') === '1' ? 1 : 2) : 0,
    },
    { name: 'webhook', send: (k, o) => c('POST', '/api/webhooks', { id: o ? 'other' : 'hook', url: 'http://127.0.0.1:9/x' }, { 'idempotency-key': k }), made: () => count('/api/webhooks'), volatile: ['pending', 'last_fired', 'cursor', 'delivered', 'failed'] },
    { name: 'template', send: (k, o) => c('POST', '/api/templates', { id: o ? 'other' : 'tpl', name: 'n', data: { a: 1 } }, { 'idempotency-key': k }), made: () => count('/api/templates') },
    { name: 'event publish', send: (k, o) => c('POST', '/api/events/publish', { topic: o ? 'idem.other' : 'idem.one', data: {} }, { 'idempotency-key': k }), made: () => events('idem.one') },
  ];
  for (const cs of cases) {
    const key = `key-${cs.name.replace(/ /g, '-')}`;
    const first = await cs.send(key, false);
    t.equal(first.status, 200, `${cs.name}: the first request writes (${JSON.stringify(first.body)})`);
    t.notOk(first.replayed, `${cs.name}: the first reply is not a replay`);
    const before = await cs.made();
    t.equal(before, 1, `${cs.name}: written once`);
    const again = await cs.send(key, false);
    t.equal(again.status, 200, `${cs.name}: the retry succeeds`);
    t.ok(again.replayed, `${cs.name}: the retry says Idempotent-Replayed`);
    t.same(stable(again.body, cs.volatile), stable(first.body, cs.volatile), `${cs.name}: the retry gets the first reply`);
    t.equal(await cs.made(), 1, `${cs.name}: the retry wrote nothing`);
    const other = await cs.send(key, true);
    t.same([other.status, other.body], [409, { error: `Idempotency-Key "${key}" was already used for a different request`, code: 409 }], `${cs.name}: another request under the key is refused`);
    t.equal(await cs.made(), 1, `${cs.name}: the refused one wrote nothing`);
  }
});

t.test('a retried registration or token creation: the same row, a new secret; the first stops working', async (t) => {
  const s = await startTestServer(t, { authToken: 'admin-secret' });
  const admin = { authorization: 'Bearer admin-secret' };
  const c = (method: string, path: string, body?: unknown, headers: Headers = {}) => call(s.url, method, path, body, { ...admin, ...headers });

  const reg1 = await c('POST', '/api/instances/register', { name: 'rita' }, { 'idempotency-key': 'reg-1' });
  const reg2 = await c('POST', '/api/instances/register', { name: 'rita' }, { 'idempotency-key': 'reg-1' });
  t.same([reg1.status, reg2.status, reg1.replayed, reg2.replayed], [200, 200, false, true]);
  t.equal(reg2.body.id, reg1.body.id, 'the same instance');
  t.not(reg2.body.token, reg1.body.token, 'a new token');
  t.equal(((await c('GET', '/api/instances')).body as any[]).filter((i) => i.name === 'rita').length, 1, 'one instance');
  const asAgent = (token: string) => call(s.url, 'POST', '/api/tasks/claim', { project: 'none' }, { authorization: `Bearer ${token}` });
  t.equal((await asAgent(reg1.body.token)).status, 401, 'the first token stops working');
  t.equal((await asAgent(reg2.body.token)).status, 404, 'the new one works (no task ready)');

  const tok1 = await c('POST', '/api/tokens', { name: 'ci', role: 'reader' }, { 'idempotency-key': 'tok-1' });
  const tok2 = await c('POST', '/api/tokens', { name: 'ci', role: 'reader' }, { 'idempotency-key': 'tok-1' });
  t.same([tok1.status, tok2.status, tok1.replayed, tok2.replayed], [200, 200, false, true]);
  t.equal(tok2.body.id, tok1.body.id, 'the same token row');
  t.not(tok2.body.token, tok1.body.token, 'a new secret');
  t.equal(((await c('GET', '/api/tokens')).body as any[]).filter((x) => x.name === 'ci').length, 1, 'one token');
  const read = (token: string) => call(s.url, 'GET', '/api/tasks', undefined, { authorization: `Bearer ${token}` });
  t.equal((await read(tok1.body.token)).status, 401, 'the first secret stops working');
  t.equal((await read(tok2.body.token)).status, 200, 'the new one works');
});

t.test('Idempotency-Key replies are bounded by count as well as by age: the oldest go first', async (t) => {
  const s = await startTestServer(t, { idempotencyKeep: 3, pruneIntervalMs: 3_600_000 }, { oneNode: 'the retention pass is run on one node' });
  const c = (method: string, path: string, body?: unknown, headers: Headers = {}) => call(s.url, method, path, body, headers);
  const create = (i: number) => c('POST', '/api/tasks', { project: 'p-kept', title: `t${i}` }, { 'idempotency-key': `k${i}` });
  const tasks = async () => ((await c('GET', '/api/tasks?project=p-kept')).body as unknown[]).length;
  for (let i = 0; i < 6; i++) t.same([(await create(i)).replayed, (await create(i)).replayed], [false, true], `k${i}: created once, then replayed`);
  t.equal(await tasks(), 6);
  await s.retention.runPass();
  t.equal((await create(5)).replayed, true, 'a key among the newest 3 still answers its first reply');
  t.equal(await tasks(), 6, 'and creates nothing');
  t.equal((await create(0)).replayed, false, 'the oldest key was trimmed away');
  t.equal(await tasks(), 7, 'so its retry creates again (what the limit says: README)');
  t.match(await (await fetch(`${s.nodeUrls[0]}/metrics`)).text(), /koor_retention_pruned_total\{table="idempotency_keys"\} 3/, 'the three oldest counted as pruned');
});
