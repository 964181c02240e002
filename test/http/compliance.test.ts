import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import type { ComplianceReader } from '../../src/domains/compliance/reader.js';
import { ComplianceService } from '../../src/domains/compliance/service.js';
import type { PoolClient } from '../../src/rpc/pool-client.js';
import type { WriterClient } from '../../src/rpc/writer-client.js';
import { startTestServer, json, tempDir } from '../helpers/server.js';
import { subscribe } from '../helpers/ws.js';
import { waitUntil } from '../helpers/wait.js';

const GOOD = { kind: 'contract', endpoints: { 'GET /a': { response: { id: { type: 'string' } } } } };
const BAD = { kind: 'contract', endpoints: { 'POST /z': {}, 'GET /b': { query: {} }, 'GET /ok': { request: { a: { type: 'string' } } }, 'DELETE /a': { response_status: 204 } } };
const NO_SCHEMA = 'endpoint has no request, response, or query schema defined';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

async function setup(url: string) {
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}${path}`, { method, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    return [r.status, await json(r)] as [number, any];
  };
  const register = async (name: string, workspace: string, activate: boolean) => {
    const [, inst] = await call('POST', '/api/instances/register', { name, workspace });
    if (activate) await call('POST', `/api/instances/${inst.id}/activate`);
    return inst.id as string;
  };
  return { call, register };
}

t.test('compliance runs on demand, history, filters, retention', async (t) => {
  const s = await startTestServer(t, { complianceKeep: 3 }, { oneNode: "reads a node's own pruning counter in /api/metrics" });
  const { call, register } = await setup(s.url);
  const put = (p: string, body: string) => call('PUT', `/api/specs/${p}`, body);

  t.same(await call('POST', '/api/compliance/run'), [200, { checked: true, runs: [], count: 0 }], 'no instances: nothing to check');
  t.same(await call('GET', '/api/compliance/history'), [200, []]);

  const a = await register('a', 'web', true);
  const b = await register('b', 'web', true);
  await register('pending', 'web', false); // not active: not checked
  await register('nowhere', '', true); // no workspace: not checked
  const other = await register('other', 'other', true); // a project without contracts
  await put('web/api', JSON.stringify(GOOD));
  await put('web/bad', JSON.stringify(BAD));
  await put('web/notes', 'free text'); // not a contract: skipped
  await put('web/kindless', '{"endpoints":{"a":{}}}');
  await put('other/readme', '# readme');

  const ws = await subscribe(s.url, '?pattern=compliance.*');
  t.teardown(() => ws.ws.close());
  const [st, res] = await call('POST', '/api/compliance/run');
  t.equal(st, 200);
  t.equal(res.checked, true);
  t.equal(res.count, 4);
  const badViolations = ['DELETE /a', 'GET /b', 'POST /z'].map((ep) => ({ path: `endpoints.${ep}`, message: NO_SCHEMA }));
  const runs = res.runs.map((r: any) => [r.instance_id, r.project, r.contract, r.pass, r.violations]);
  t.same(new Set(runs.map((r: unknown[]) => JSON.stringify(r))), new Set([
    JSON.stringify([a, 'web', 'api', true, []]),
    JSON.stringify([a, 'web', 'bad', false, badViolations]),
    JSON.stringify([b, 'web', 'api', true, []]),
    JSON.stringify([b, 'web', 'bad', false, badViolations]),
  ]), 'one run per (active instance, contract); violations by endpoint name');
  for (const r of res.runs) {
    t.match(r.run_at, RFC3339, 'run_at in RFC 3339 UTC');
    t.equal(typeof r.id, 'number');
  }
  t.notOk(res.runs.some((r: any) => r.instance_id === other), 'a project without contracts yields no run');

  // compliance.violation for each failing run, from the scheduler's source.
  await ws.waitFor(2);
  t.same(ws.events.map((e) => [e.topic, e.source]), [['compliance.violation', 'compliance-scheduler'], ['compliance.violation', 'compliance-scheduler']]);
  t.same(new Set(ws.events.map((e) => JSON.stringify(e.data))), new Set([a, b].map((id) => JSON.stringify({ instance_id: id, project: 'web', contract: 'bad', violations: badViolations }))));

  // History: newest first, the same rows as the run returned, run_at identical.
  const [, hist] = await call('GET', '/api/compliance/history');
  t.same(hist, [...res.runs].sort((x: any, y: any) => y.id - x.id));
  t.same((await call('GET', `/api/compliance/history?instance_id=${a}`))[1].map((r: any) => r.instance_id), [a, a]);
  t.same((await call('GET', '/api/compliance/history?instance_id=')), [200, hist], 'empty instance_id = all');
  t.same((await call('GET', '/api/compliance/history?instance_id=unknown'))[1], []);
  t.same((await call('GET', '/api/compliance/history?limit=1'))[1], hist.slice(0, 1));
  for (const bad of ['0', '-1', 'x', '1.5', '1e3']) {
    t.same(await call('GET', `/api/compliance/history?limit=${bad}`), [400, { error: 'limit must be a positive integer', code: 400 }], `limit=${bad}`);
  }
  t.same(await call('GET', '/api/compliance/history?limit=10001'), [400, { error: 'limit must be at most 10000', code: 400 }]);

  // Retention: the newest 3 per (instance, contract) survive further passes.
  const ids: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [, r] = await call('POST', '/api/compliance/run');
    for (const run of r.runs) if (run.instance_id === a && run.contract === 'bad') ids.push(run.id);
  }
  const [, mine] = await call('GET', `/api/compliance/history?instance_id=${a}&limit=100`);
  t.same(mine.filter((r: any) => r.contract === 'bad').map((r: any) => r.id), ids.slice(-3).reverse(), 'the newest 3 runs of (a, bad) kept');
  t.equal(mine.filter((r: any) => r.contract === 'api').length, 3);
  t.equal((await call('GET', '/api/compliance/history?limit=100'))[1].length, 12, '3 per pair, 4 pairs');
  const metrics = await call('GET', '/api/metrics');
  t.match(metrics[1].retention, { compliance_keep: 3, compliance_runs_pruned: 20 - 12 }, 'pruned rows show in the metrics');

  // A fixed contract passes from the next pass on.
  await put('web/bad', JSON.stringify(GOOD));
  const [, fixed] = await call('POST', '/api/compliance/run');
  t.same(fixed.runs.map((r: any) => r.pass), [true, true, true, true]);
});

t.test('retention 0 keeps every run', async (t) => {
  const s = await startTestServer(t, { complianceKeep: 0 });
  const { call, register } = await setup(s.url);
  await register('a', 'web', true);
  await call('PUT', '/api/specs/web/api', JSON.stringify(GOOD));
  for (let i = 0; i < 5; i++) await call('POST', '/api/compliance/run');
  t.equal((await call('GET', '/api/compliance/history'))[1].length, 5);
});

t.test("a departed agent's runs go once older than the audit log's retention; a registered agent's stay", async (t) => {
  const s = await startTestServer(t, { auditRetentionMs: 1000, pruneIntervalMs: 3_600_000 }, { oneNode: 'the retention pass is run on one node' });
  const { call, register } = await setup(s.url);
  const a = await register('a', 'web', true);
  const b = await register('b', 'web', true);
  await call('PUT', '/api/specs/web/api', JSON.stringify(GOOD));
  for (let i = 0; i < 2; i++) await call('POST', '/api/compliance/run');
  t.same(await call('DELETE', `/api/instances/${b}`), [200, { deleted: b }]);
  const runsOf = async (id: string) => (await call('GET', `/api/compliance/history?instance_id=${id}`))[1].length as number;
  await s.retention.runPass();
  t.equal(await runsOf(b), 2, "a departed agent's runs are kept while younger than the retention");
  await waitUntil("the departed agent's runs pruned", async () => {
    await s.retention.runPass();
    return (await runsOf(b)) === 0;
  });
  t.equal(await runsOf(a), 2, "a registered agent's runs stay, however old (the newest per contract are kept)");
  t.match((await call('GET', '/api/metrics'))[1].retention, { compliance_runs_pruned: 2 }, 'counted in the metrics');
});

t.test('the scheduler runs passes on its own and publishes compliance.violation', async (t) => {
  const s = await startTestServer(t, { complianceIntervalMs: 100 });
  const { call, register } = await setup(s.url);
  const ws = await subscribe(s.url, '?pattern=compliance.violation');
  t.teardown(() => ws.ws.close());
  const a = await register('a', 'web', true);
  await call('PUT', '/api/specs/web/bad', JSON.stringify(BAD));
  await ws.waitFor(2);
  t.same(ws.events[0]!.data, { instance_id: a, project: 'web', contract: 'bad', violations: ['DELETE /a', 'GET /b', 'POST /z'].map((ep) => ({ path: `endpoints.${ep}`, message: NO_SCHEMA })) });
  t.equal(ws.events[0]!.source, 'compliance-scheduler');
  t.ok(ws.events[1]!.id > ws.events[0]!.id, 'one event per pass');
  const [, hist] = await call('GET', '/api/compliance/history');
  t.ok(hist.length >= 2, 'passes recorded without any POST /run');
});

t.test('single flight: a run during a pass waits for it, then one pass serves every waiting caller', async (t) => {
  // The service with hand-held parts: the pool's check resolves only when the test says so.
  const gates: Array<() => void> = [];
  let active = 0;
  let maxActive = 0;
  let nextId = 1;
  const pool = {
    run: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => gates.push(resolve));
      active--;
      return { contracts: [{ name: 'api', violations: [] }] };
    },
  } as unknown as PoolClient;
  const writer = {
    call: async (_m: string, req: { runs: Array<Record<string, unknown>> }) => ({ runs: req.runs.map((r) => ({ ...r, id: nextId++, run_at: '2026-01-01 00:00:00' })), pruned: 0 }),
  } as unknown as WriterClient;
  const reader: ComplianceReader = { history: () => [] };
  const svc = new ComplianceService(
    reader,
    writer,
    pool,
    { list: () => [{ id: 'i1', workspace: 'web', status: 'active' }] },
    { list: () => ({ specs: [{ name: 'api' }] }), get: () => ({ data: Buffer.from('{}'), hash: 'h' }) },
    async () => undefined,
    { intervalMs: 60_000, keep: 0, log: silentLogger() },
  );
  const first = svc.run();
  await waitUntil('the first pass to reach the pool', () => gates.length === 1);
  const second = svc.run();
  const third = svc.run();
  t.equal(second, third, 'callers during a pass share the next one');
  // Let the first pass finish; the queued one starts only then.
  gates.shift()!();
  t.same((await first).map((r) => r.id), [1]);
  await waitUntil('the queued pass to reach the pool', () => gates.length === 1);
  gates.shift()!();
  t.same((await second).map((r) => r.id), [2]);
  t.equal(maxActive, 1, 'passes never overlapped');
  await svc.stop();
  t.same(await svc.run(), [], 'no pass after stop');
  // Started again on the same node (a regained lead, a live restore in cluster mode): passes record again.
  svc.start();
  const again = svc.run();
  await waitUntil('the pass after start to reach the pool', () => gates.length === 1);
  gates.shift()!();
  t.same((await again).map((r) => r.id), [3], 'a pass after stop() and start() records its runs');
  await svc.stop();
});

t.test('settings: --compliance-interval and --compliance-keep by flag, env and file', async (t) => {
  const dir = tempDir(t);
  const def = loadConfig([], {}, dir);
  t.same([def.complianceIntervalMs, def.complianceKeep], [300_000, 100], 'defaults: 5m, 100');
  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify({ compliance_interval: '90s', compliance_keep: 7 }));
  t.same([loadConfig([], {}, dir).complianceIntervalMs, loadConfig([], {}, dir).complianceKeep], [90_000, 7], 'file');
  const env = { KOOR_COMPLIANCE_INTERVAL: '2m', KOOR_COMPLIANCE_KEEP: '0' };
  t.same([loadConfig([], env, dir).complianceIntervalMs, loadConfig([], env, dir).complianceKeep], [120_000, 0], 'env over file; 0 = keep all');
  const flags = loadConfig(['--compliance-interval', '1h', '--compliance-keep=5'], env, dir);
  t.same([flags.complianceIntervalMs, flags.complianceKeep], [3_600_000, 5], 'flags over env');
  t.throws(() => loadConfig(['--compliance-interval', '0s'], {}, dir), /invalid --compliance-interval "0s": must be positive/);
  t.throws(() => loadConfig(['--compliance-keep', '-1'], {}, dir), /invalid --compliance-keep "-1"/);
});
