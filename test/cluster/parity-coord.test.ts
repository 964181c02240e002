import t from 'tap';
import type { ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import { filePostgres } from '../helpers/postgres.js';
import { checkParity, type Call, type Scenario } from '../helpers/parity.js';

/** Cluster mode: the instance, lease and task writer methods answer and store alike on both backends. */

const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`writer parity (instances, leases, tasks): ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const agent = { actor: 'agent-1' };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Just past the next second boundary: the steps that follow share one storage second (last_seen) on both backends. */
  const nextSecond = () => sleep(1020 - (Date.now() % 1000));

  const check = (t: Tap.Test, name: string, scenario: Scenario) => checkParity(t, pg, name, scenario);
  /** The failure statuses of a transcript, in order (what the scenario exercised). */
  const errors = (transcript: unknown[]) => transcript.flatMap((r) => ((r as ReplyEnvelope).ok ? [] : [(r as { err: { status: string } }).err.status]));
  /** The claims that found no task (a result: how many ready tasks the claimer could do, all blocked). */
  const noTask = (transcript: unknown[]) => transcript.flatMap((r) => ((r as { res?: { none?: { ready: number } } }).res?.none ? [(r as { res: { none: { ready: number } } }).res.none.ready] : []));
  const res = <T>(r: ReplyEnvelope): T => {
    if (!r.ok) throw new Error(`unexpected failure: ${r.err.status} ${r.err.message}`);
    return r.res as T;
  };

  const register = async (call: Call, name: string, capabilities: string[] = []) =>
    res<{ id: string }>(await call('instances.register', { name, workspace: `/w/${name}`, intent: 'work', stack: 'ts', capabilities }, { audit: agent })).id;
  const acquire = (call: Call, holder: string, resources: string[], exclusive = true, ttl_ms = 0, reason = '') =>
    call('leases.acquire', { holder, project: '', resources, exclusive, ttl_ms, reason }, { audit: agent });
  const leaseId = (r: ReplyEnvelope) => res<{ lease: { id: string } }>(r).lease.id;
  const task = (project: string, title: string, extra: { priority?: number; deps?: number[]; capabilities?: string[]; max_attempts?: number } = {}) => ({
    project,
    title,
    data: `{"title":${JSON.stringify(title)}}`,
    priority: 0,
    deps: [],
    capabilities: [],
    max_attempts: 3,
    paths: [],
    ...extra,
  });
  const taskId = (r: ReplyEnvelope) => res<{ task: { id: number } }>(r).task.id;
  const settle = (call: Call, how: 'complete' | 'fail' | 'release', id: number, holder: string, reason = '', retry = true) =>
    call(`tasks.${how}`, { id, holder, reason, retry }, { audit: agent });

  t.test('instances: register, touch, update, deregister, mark_stale', async (t) => {
    const run = await check(t, 'instances', async (call) => {
      const a = await register(call, 'alice', ['go', 'ts']);
      const b = await register(call, 'bob');
      const c = await register(call, 'carol');
      const d = await register(call, 'dave');
      // Activated in reverse order: seen in one second, they go stale in registration order.
      await nextSecond();
      await call('instances.touch', { id: d, op: 'activate' });
      await call('instances.touch', { id: c, op: 'activate' });
      await call('instances.touch', { id: a, op: 'activate' }, { audit: agent });
      await call('instances.touch', { id: b, op: 'heartbeat' });
      await call('instances.touch', { id: b, op: 'touch' });
      await call('instances.touch', { id: 'nobody', op: 'activate' });
      await call('instances.update', { id: a, capabilities: ['rust'] }, { audit: agent });
      await call('instances.update', { id: a, intent: 'refactor' });
      await call('instances.update', { id: b, capabilities: ['x', 'y'], intent: 'both' }, { audit: agent });
      await call('instances.update', { id: b });
      await call('instances.update', { id: 'nobody', intent: 'x' });
      // Nothing seen before 2000; then every active one.
      await call('instances.mark_stale', { cutoff: '2000-01-01 00:00:00' });
      await call('instances.mark_stale', { cutoff: '9999-01-01 00:00:00' });
      await call('instances.mark_stale', { cutoff: '9999-01-01 00:00:00' });
      await call('instances.touch', { id: a, op: 'touch' });
      await call('instances.touch', { id: a, op: 'heartbeat' });
      await call('instances.touch', { id: c, op: 'activate' });
      await call('instances.deregister', { id: b }, { audit: agent });
      await call('instances.deregister', { id: b });
      await call('instances.mark_stale', { cutoff: '9999-01-01 00:00:00' });
    });
    t.same(errors(run.transcript), ['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'], 'the failures exercised');
    t.equal(run.tables.events!.length, 5, 'agent.stale for alice, carol and dave, then alice and carol again');
  });

  /** [held by alice (shared), requested by bob (exclusive), conflict?] */
  const OVERLAP: Array<[string, string, boolean]> = [
    ['src/**/*.ts', 'src/api/x.*', true],
    ['docs/*', 'src/*', false],
    ['src/*', 'src/a/b.ts', false],
    ['src/**', 'src/a/b.ts', true],
    ['src/**', 'src/a.ts', true],
    ['*.ts', 'src/a.ts', false],
    ['**/*.ts', 'src/a.ts', true],
    ['src/**/*.ts', 'src/a.js', false],
    ['src/a*', 'src/*b', true],
    ['src/[ab].ts', 'src/[bc].ts', true],
    ['src/[a].ts', 'src/[b].ts', false],
    ['src/x', 'src/x', true],
    ['src/x', 'src/xy', false],
    ['src/xy', 'src/x', false],
    ['**', 'any/thing', true],
    ['a*b*c', 'a*c*b', false],
    ['src/api/**', 'src/**/*.go', true],
    ['dö**', 'dön/ü.ts', true],
    ['dö*', 'dön/ü.ts', false],
    ['dön/ü*', 'dön/u.ts', false],
    ['日本/**', '日本/語.md', true],
  ];

  t.test('leases: the overlap table through the prefix index', async (t) => {
    let refused: boolean[] = [];
    await check(t, 'overlap', async (call) => {
      refused = [];
      const alice = await register(call, 'alice');
      const bob = await register(call, 'bob');
      const carol = await register(call, 'carol');
      // Unrelated leases around, so the index has neighbours to skip.
      for (const r of ['a', 'src', 'sr/c', 'src/ab/c.ts', 'srcx/**', 'src/api/zz', 'z/**', 'dönx', 'd']) await acquire(call, carol, [r], false);
      for (const [held, asked] of OVERLAP) {
        const h = leaseId(await acquire(call, alice, [held], false));
        const r = await acquire(call, bob, [asked]);
        refused.push(r.ok && 'conflict' in (r.res as object));
        await call('leases.release', { id: h, holder: alice }, { audit: agent });
        if (r.ok && 'lease' in (r.res as object)) await call('leases.release', { id: leaseId(r), holder: bob });
      }
    });
    t.same(refused, OVERLAP.map(([, , c]) => c), 'every overlapping pair refused, no other');
  });

  t.test('leases: exclusive and shared, conflicts, renew, release, errors', async (t) => {
    const run = await check(t, 'leases', async (call) => {
      const alice = await register(call, 'alice');
      const bob = await register(call, 'bob');
      const carol = await register(call, 'carol');
      const l1 = leaseId(await acquire(call, carol, ['src/**'], false, 0, 'shared read'));
      const l2 = leaseId(await acquire(call, alice, ['docs/*'], true, 3_600_000, 'docs'));
      const l3 = leaseId(await acquire(call, alice, ['src/a.ts', 'src/a.ts', 'lib/**'], false));
      // Bob's first refused resource is docs/x: its lease first, then the rest by acquisition.
      await acquire(call, bob, ['docs/x', 'src/a.ts', 'free/**']);
      await acquire(call, bob, ['src/b.ts', 'lib/c.ts'], false);
      await acquire(call, bob, ['src/a.ts']);
      await acquire(call, alice, ['docs/**', 'lib/z'], true, 0, 'own leases never conflict');
      await acquire(call, bob, ['**']);
      await acquire(call, bob, ['*.md']);
      await acquire(call, bob, ['src/[']);
      await acquire(call, 'nobody', ['x']);
      // Renew: the holder only, a TTL set, kept, dropped.
      await call('leases.renew', { id: l2, holder: bob });
      await call('leases.renew', { id: l2, holder: alice });
      await call('leases.renew', { id: l1, holder: carol, ttl_ms: 60_000 });
      await call('leases.renew', { id: l1, holder: carol });
      await call('leases.renew', { id: l1, holder: carol, ttl_ms: 0 });
      await call('leases.renew', { id: 'no-such-lease', holder: carol });
      // Release: the holder only, once.
      await call('leases.release', { id: l3, holder: bob });
      await call('leases.release', { id: l3, holder: alice }, { audit: agent });
      await call('leases.release', { id: l3, holder: alice });
      await acquire(call, bob, ['lib/c.ts']);
      await call('leases.expire', { limit: 10 });
    });
    t.same(errors(run.transcript), ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'PERMISSION_DENIED', 'NOT_FOUND', 'PERMISSION_DENIED', 'NOT_FOUND'], 'the failures exercised');
  });

  t.test('leases: TTL expiry, heartbeats renew only live leases', async (t) => {
    const run = await check(t, 'expiry', async (call, batch) => {
      const alice = await register(call, 'alice');
      const bob = await register(call, 'bob');
      const short = leaseId(await acquire(call, alice, ['tmp/**'], true, 10));
      const long = leaseId(await acquire(call, alice, ['keep/**'], true, 3_600_000));
      await acquire(call, alice, ['forever/**']);
      // Several due after the first, at the same instant (Date.now held still): ties in acquisition order.
      const now = Date.now;
      const at = now();
      Date.now = () => at;
      try {
        await batch(['x', 'y', 'z'].map((r, i) => ({ method: 'leases.acquire', req: { holder: i === 1 ? bob : alice, project: '', resources: [`${r}/**`], exclusive: true, ttl_ms: 60, reason: r } })));
      } finally {
        Date.now = now;
      }
      await sleep(150);
      await call('leases.renew', { id: short, holder: alice });
      await call('leases.release', { id: short, holder: alice });
      await acquire(call, bob, ['tmp/a']);
      await call('instances.touch', { id: alice, op: 'heartbeat' });
      await call('leases.renew', { id: long, holder: alice, ttl_ms: 5 });
      await sleep(50);
      await call('leases.expire', { limit: 2 });
      await call('leases.expire', { limit: 2 });
      await call('leases.expire', { limit: 2 });
      await call('leases.expire', { limit: 2 });
      await acquire(call, bob, ['keep/x']);
    });
    t.same(errors(run.transcript), ['NOT_FOUND', 'NOT_FOUND'], 'the expired lease is gone for renew and release');
    t.equal(run.tables.leases!.length, 3, 'forever/**, tmp/a and keep/x remain');
  });

  t.test('tasks: deps, priorities, capabilities, claim, complete, fail, release', async (t) => {
    const run = await check(t, 'tasks', async (call) => {
      const alice = await register(call, 'alice', ['go', 'ts']);
      const bob = await register(call, 'bob', ['ts']);
      const t1 = taskId(await call('tasks.create', task('p', 'low', { priority: -1 }), { audit: agent }));
      const t2 = taskId(await call('tasks.create', task('p', 'high', { priority: 5, capabilities: ['go', 'go'] })));
      const t3 = taskId(await call('tasks.create', task('p', 'after both', { priority: 9, deps: [t1, t2, t1] })));
      const t4 = taskId(await call('tasks.create', task('p', 'mid', { priority: 1, max_attempts: 2 })));
      await call('tasks.create', task('p', 'bad deps', { deps: [t1, 999] }));
      await call('tasks.create', task('p', 'absurd dep', { deps: [1e20] }));
      await call('tasks.create', task('q', 'other project', { capabilities: ['rust'] }));
      await call('tasks.claim', { project: 'p', holder: 'nobody' });
      await call('tasks.claim', { project: 'q', holder: alice });
      await call('tasks.claim', { project: 'empty', holder: alice });
      // bob lacks go: mid (priority 1) before low (-1); alice gets high.
      await call('tasks.claim', { project: 'p', holder: bob }, { audit: agent });
      await call('tasks.claim', { project: 'p', holder: alice });
      await call('tasks.claim', { project: 'p', holder: bob });
      await call('tasks.claim', { project: 'p', holder: bob });
      // Settling: not claimed, someone else's, unknown.
      await settle(call, 'complete', t3, alice);
      await settle(call, 'complete', t2, bob);
      await settle(call, 'complete', 424242, bob);
      await settle(call, 'complete', 1e20, bob);
      await settle(call, 'complete', t2, alice, 'shipped');
      await call('tasks.claim', { project: 'p', holder: alice });
      // mid: retried while attempts remain, then failed for good.
      await settle(call, 'fail', t4, bob, 'flaky');
      await call('tasks.claim', { project: 'p', holder: bob });
      await settle(call, 'fail', t4, bob, 'flaky again');
      await settle(call, 'release', t1, bob, 'later');
      await call('tasks.claim', { project: 'p', holder: bob });
      await settle(call, 'fail', t1, bob, 'broken', false);
      // t3 waits on t1 (failed): still blocked. A task on a done dep starts ready.
      await call('tasks.create', task('p', 'on done', { deps: [t2] }));
      await call('tasks.claim', { project: 'p', holder: alice });
      await settle(call, 'release', 999, alice);
    });
    t.same(
      errors(run.transcript),
      ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'],
      'the failures exercised',
    );
    t.same(noTask(run.transcript), [0, 0, 0, 0], 'the claims that found no task it could do');
    t.ok(run.tables.tasks!.some((r) => (r as { status: string }).status === 'failed') && run.tables.task_deps!.length === 3, 'the scenario did something');
  });

  t.test('tasks: completing deps unblocks their dependents', async (t) => {
    const run = await check(t, 'unblock', async (call) => {
      const a = await register(call, 'a');
      const d1 = taskId(await call('tasks.create', task('p', 'd1')));
      const d2 = taskId(await call('tasks.create', task('p', 'd2')));
      await call('tasks.create', task('p', 'needs d1', { deps: [d1] }));
      await call('tasks.create', task('p', 'needs both', { deps: [d2, d1], priority: 3 }));
      for (let i = 0; i < 2; i++) {
        const id = taskId(await call('tasks.claim', { project: 'p', holder: a }));
        await settle(call, 'complete', id, a, 'done');
      }
      for (let i = 0; i < 3; i++) await call('tasks.claim', { project: 'p', holder: a });
    });
    t.same([errors(run.transcript), noTask(run.transcript)], [[], [0]], 'both dependents became ready and were claimed');
  });

  t.test('liveness: deregister and mark_stale let go of leases and claimed tasks', async (t) => {
    const run = await check(t, 'liveness', async (call) => {
      await nextSecond();
      const ghost = await register(call, 'ghost');
      const gone = await register(call, 'gone');
      const other = await register(call, 'other');
      const ghost2 = await register(call, 'ghost2');
      for (const [who, r] of [[ghost, 'app/**'], [gone, 'lib/x.ts'], [gone, 'lib/y.ts'], [ghost2, 'g2/**'], [ghost, 'more/**']] as const) await acquire(call, who, [r], true, 3_600_000);
      for (let i = 0; i < 4; i++) await call('tasks.create', task('p', `t${i}`));
      for (const who of [ghost, gone, ghost2, ghost]) await call('tasks.claim', { project: 'p', holder: who });
      await acquire(call, other, ['app/main.ts']);
      await call('instances.deregister', { id: gone }, { audit: agent });
      await acquire(call, other, ['lib/x.ts']);
      // ghost and ghost2 (active since their leases, one second) go stale; other, seen a second later, does not.
      await nextSecond();
      const seen = res<{ last_seen: string }>(await call('instances.touch', { id: other, op: 'touch' })).last_seen;
      await call('instances.mark_stale', { cutoff: seen });
      await acquire(call, other, ['app/main.ts']);
      await call('tasks.claim', { project: 'p', holder: other });
      await call('instances.touch', { id: ghost, op: 'heartbeat' });
      await call('instances.mark_stale', { cutoff: '2000-01-01 00:00:00' });
    });
    const topics = run.transcript.flatMap((r) => ((r as { res?: { events?: Array<{ topic: string }> } }).res?.events ?? []).map((e) => e.topic));
    t.ok(topics.includes('agent.stale') && topics.filter((x) => x === 'task.released').length === 4, 'stale and deregistered agents released their tasks');
  });

  t.test('a batch: failing methods roll back alone, the others commit (ids included)', async (t) => {
    await check(t, 'batch', async (call, batch) => {
      const alice = await register(call, 'alice', ['ts']);
      const bob = await register(call, 'bob');
      const held = leaseId(await acquire(call, alice, ['src/**']));
      await batch([
        { method: 'tasks.create', req: task('p', 'one') },
        { method: 'leases.acquire', req: { holder: bob, project: '', resources: ['docs/**'], exclusive: true, ttl_ms: 0, reason: '' } },
        { method: 'leases.acquire', req: { holder: bob, project: '', resources: ['src/x.ts'], exclusive: true, ttl_ms: 0, reason: '' } },
        { method: 'tasks.claim', req: { project: 'p', holder: 'nobody' } },
        { method: 'tasks.create', req: task('p', 'two', { deps: [1] }) },
        { method: 'leases.release', req: { id: held, holder: bob } },
        { method: 'instances.touch', req: { id: 'nobody', op: 'heartbeat' } },
        { method: 'tasks.claim', req: { project: 'p', holder: alice } },
        { method: 'tasks.nuke', req: {} },
        { method: 'tasks.create', req: task('p', 'three') },
      ]);
      await batch([
        { method: 'tasks.complete', req: { id: 1, holder: alice, reason: '', retry: false } },
        { method: 'tasks.complete', req: { id: 1, holder: alice, reason: '', retry: false } },
        { method: 'tasks.create', req: task('p', 'four') },
      ]);
      await batch([
        { method: 'tasks.create', req: task('p', 'five') },
        { method: 'leases.release', req: { id: held, holder: alice } },
      ]);
    });
  });
}

declare namespace Tap {
  type Test = import('tap').Test;
}
