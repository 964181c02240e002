import t from 'tap';
import { globsOverlap } from '../../src/shared/path-glob.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Tasks that know their files, and checkpoints. A claim hands out the best ready task
 * whose paths overlap no other agent's live lease nor another claimed task's paths, and takes an
 * exclusive lease on them in the same write; the lease ends with the claim. The claimer records
 * checkpoints; the next claimant gets the last one in its claim reply and its digest. Both backends.
 */

type Headers = Record<string, string>;

function client(base: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Headers = {}) => {
    const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : (Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) as unknown as BodyInit) });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text) };
  };
  const register = async (name: string) => (await call('POST', '/api/instances/register', { name, workspace: '/repos/web' })).body as { id: string; name: string };
  const as = (id: string): Headers => ({ 'x-koor-instance': id });
  return { call, register, as };
}

t.test('paths: stored, checked, leased by the claim in the same write, freed with it', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann');
  const ben = await register('ben');

  for (const [body, error] of [
    [{ project: 'web', title: 'x', paths: ['src/**', 'a['] }, 'paths[1]: invalid pattern: a['],
    [{ project: 'web', title: 'x', paths: ['ok', ''] }, 'paths[1]: resource must not be empty'],
    [{ project: 'web', title: 'x', paths: ['ok', 'src/api/'] }, "paths[1]: src/api/: a trailing / matches no file; a directory's files are src/api/**"],
    [{ project: 'web', title: 'x', paths: 'src/**' }, 'paths: expected array or null'],
    [{ project: 'web', title: 'x', paths: Array.from({ length: 101 }, (_, i) => `f${i}`) }, 'too many paths: 101 (max 100)'],
  ] as const) {
    const r = await call('POST', '/api/tasks', body);
    t.same([r.status, r.body.error], [400, error], error);
  }
  t.same((await call('GET', '/api/tasks?project=web')).body, [], 'nothing stored by a refused create');

  const shared = (await call('POST', '/api/tasks', { project: 'web', title: 'shared', priority: 9, max_attempts: 10, paths: ['src/shared/**', 'package.json'] })).body;
  t.same(shared.paths, ['src/shared/**', 'package.json']);
  const docs = (await call('POST', '/api/tasks', { project: 'web', title: 'docs', priority: 5, paths: ['docs/**'] })).body;
  const plain = (await call('POST', '/api/tasks', { project: 'web', title: 'plain' })).body;
  t.same(plain.paths, [], 'a task without paths');

  // Ben holds package.json: the best task overlaps it and is passed over, the next one is taken.
  const held = (await call('POST', '/api/leases', { resources: ['package.json'] }, as(ben.id))).body;
  const c1 = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id))).body;
  t.equal(c1.id, docs.id, 'the task whose paths are free');
  t.match(c1.lease, { holder: ann.id, resources: ['docs/**'], exclusive: true, reason: `task ${docs.id}`, expires_at: '', fence: c1.fence });
  t.equal(c1.checkpoint, null);
  const claimed = ((await call('GET', '/api/events/history?topic=task.claimed&last=10')).body as any[]).at(-1);
  t.match(claimed.data, { id: docs.id, paths: ['docs/**'], lease_id: c1.lease.id }, 'task.claimed carries the lease');
  t.same((await call('GET', `/api/leases?holder=${ann.id}`)).body.map((l: any) => l.id), [c1.lease.id]);
  // The claim's lease guards the files like any lease.
  t.equal((await call('POST', '/api/leases', { resources: ['docs/a.md'] }, as(ben.id))).status, 409);

  const c2 = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id))).body;
  t.same([c2.id, c2.lease], [plain.id, null], 'a task without paths: no lease (a client tells an old server by the missing member)');
  t.same(
    (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id))).body,
    { error: 'no task ready in web: 1 ready task, all blocked: package.json held by ben', code: 404 },
    'the overlapping task stays ready, and the refusal says what blocks it',
  );
  await call('DELETE', `/api/leases/${held.id}`, undefined, as(ben.id));
  const c3 = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ben.id))).body;
  t.same([c3.id, c3.lease.resources], [shared.id, ['src/shared/**', 'package.json']], 'free once the lease is gone');

  // The task's lease ends with the claim: complete, fail, release, and the holder's end.
  const gone = async (id: string) => (await call('GET', `/api/leases/${id}`)).status === 404;
  await call('POST', `/api/tasks/${c1.id}/complete`, {}, as(ann.id));
  t.ok(await gone(c1.lease.id), 'completed: lease gone');
  await call('POST', `/api/tasks/${c3.id}/release`, {}, as(ben.id));
  t.ok(await gone(c3.lease.id), 'released: lease gone');
  const again = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id))).body;
  t.equal(again.id, shared.id);
  await call('POST', `/api/tasks/${again.id}/fail`, { reason: 'broke', retry: true }, as(ann.id));
  t.ok(await gone(again.lease.id), 'failed: lease gone');
  const last = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ben.id))).body;
  t.equal(last.id, shared.id);
  await call('DELETE', `/api/instances/${ben.id}`);
  t.ok(await gone(last.lease.id), 'holder deregistered: lease gone');
  t.match((await call('GET', `/api/tasks/${shared.id}`)).body, { status: 'ready', claimed_by: '' });
});

t.test('checkpoints: the claimer only, bounded; the next claimant resumes from the last one', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann');
  const ben = await register('ben');
  const task = (await call('POST', '/api/tasks', { project: 'web', title: 'trucks api', paths: ['src/trucks/**'] })).body;
  const claim = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id))).body;
  const list = async () => (await call('GET', `/api/tasks/${task.id}/checkpoints`)).body as any[];

  const cp = await call('POST', `/api/tasks/${task.id}/checkpoint`, '{"done":"route and test","next":"wire the page","data":{"branch":"trucks","n":1.50}}', as(ann.id));
  t.equal(cp.status, 200);
  t.match(cp.body, { seq: 1, done: 'route and test', next: 'wire the page', data: { branch: 'trucks', n: 1.5 }, by: ann.id, by_name: 'ann' });
  for (const [body, headers, status, error] of [
    [{ done: 'x' }, as(ben.id), 403, `task ${task.id} is claimed by ann`],
    [{ done: 'x', fence: claim.fence - 1 }, as(ann.id), 409, null],
    [{ done: 'x'.repeat(2049) }, as(ann.id), 400, 'done too long: 2049 bytes (max 2048)'],
    [{ next: 'é'.repeat(1025) }, as(ann.id), 400, 'next too long: 2050 bytes (max 2048)'],
    [{ data: 'x'.repeat(16 * 1024) }, as(ann.id), 400, 'data too long: 16386 bytes (max 16384)'],
    [{ done: 'x' }, {}, 400, 'task checkpoint requires an agent identity'],
  ] as const) {
    const r = await call('POST', `/api/tasks/${task.id}/checkpoint`, body, headers);
    t.equal(r.status, status, `${status} ${error ?? 'outdated fence'}`);
    if (error !== null) t.equal(r.body.error, error);
  }
  t.equal((await list()).length, 1, 'nothing stored by a refused checkpoint');
  t.equal((await call('POST', '/api/tasks/999999/checkpoint', { done: 'x' }, as(ann.id))).status, 404);
  const bare = await call('POST', `/api/tasks/${task.id}/checkpoint`, {}, as(ann.id));
  t.same([bare.status, bare.body.seq, bare.body.done, bare.body.next, bare.body.data], [200, 2, '', '', null], 'a checkpoint with nothing sent: empty texts, data null');

  // A bounded history: the newest 20.
  for (let i = 3; i <= 25; i++) await call('POST', `/api/tasks/${task.id}/checkpoint`, { done: `step ${i}`, next: `step ${i + 1}` }, as(ann.id));
  const kept = await list();
  t.same([kept.length, kept[0].seq, kept.at(-1).seq], [20, 6, 25], 'the newest 20, oldest first');

  // Ann releases it (or dies): Ben's claim carries the last checkpoint, and so does his digest.
  await call('POST', `/api/tasks/${task.id}/release`, { reason: 'stopping' }, as(ann.id));
  const handed = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ben.id))).body;
  t.match(handed.checkpoint, { seq: 25, done: 'step 25', next: 'step 26', by: ann.id, by_name: 'ann' });
  const digest = (await call('GET', `/api/agents/${ben.id}/digest`)).body;
  t.ok(
    digest.lines.includes(`Resume task #${task.id} "trucks api" from its last checkpoint, next: "step 26". See: koor-cli task checkpoints ${task.id}`),
    `the digest says where to resume: ${JSON.stringify(digest.lines)}`,
  );
  t.equal((await call('POST', `/api/tasks/${task.id}/checkpoint`, { done: 'late' }, as(ann.id))).status, 403, 'the old claimer may not write on');
});

t.test('a task released after its last attempt parks as failed, with its checkpoints', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann');
  const task = (await call('POST', '/api/tasks', { project: 'park', title: 'flaky', max_attempts: 2 })).body;
  await call('POST', '/api/tasks/claim', { project: 'park' }, as(ann.id));
  await call('POST', `/api/tasks/${task.id}/checkpoint`, { done: 'tried once', next: 'try again' }, as(ann.id));
  t.match((await call('POST', `/api/tasks/${task.id}/release`, {}, as(ann.id))).body, { status: 'ready', attempts: 1 }, 'attempts left: back to ready');
  await call('POST', '/api/tasks/claim', { project: 'park' }, as(ann.id));
  t.match((await call('POST', `/api/tasks/${task.id}/release`, { reason: 'gave up' }, as(ann.id))).body, { status: 'failed', attempts: 2, reason: 'gave up' }, 'the last attempt released: failed');
  t.same((await call('POST', '/api/tasks/claim', { project: 'park' }, as(ann.id))).status, 404, 'never handed out again');
  t.same(((await call('GET', `/api/tasks/${task.id}/checkpoints`)).body as any[]).map((c) => c.done), ['tried once'], 'its history kept');
  // A claimer dying on the last attempt parks it the same way.
  const last = (await call('POST', '/api/tasks', { project: 'park', title: 'once', max_attempts: 1 })).body;
  const bob = await register('bob');
  await call('POST', '/api/tasks/claim', { project: 'park' }, as(bob.id));
  await call('DELETE', `/api/instances/${bob.id}`);
  t.match((await call('GET', `/api/tasks/${last.id}`)).body, { status: 'failed', reason: 'deregistered' });
});

t.test('50 agents claiming tasks with overlapping paths at once: no two claimed tasks overlap, every lease is its task', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const agents = await Promise.all(Array.from({ length: 50 }, (_, i) => register(`a${i}`)));
  // 40 tasks over 12 files: each touches a private file and one of 4 shared ones, some a folder.
  const shared = ['package.json', 'src/index.ts', 'README.md', 'src/lib/**'];
  for (let i = 0; i < 40; i++) {
    const paths = [`src/mod${i}/**`, shared[i % shared.length]!];
    if (i % 7 === 0) paths.push('src/lib/util.ts');
    await call('POST', '/api/tasks', { project: 'race', title: `t${i}`, paths });
  }
  const replies = await Promise.all(agents.map((a) => call('POST', '/api/tasks/claim', { project: 'race' }, as(a.id))));
  const won = replies.filter((r) => r.status === 200).map((r) => r.body);
  t.same(replies.filter((r) => r.status !== 200 && r.status !== 404), [], 'every claim is a task or 404');
  t.ok(won.length >= 3 && won.length <= shared.length, `as many claims as there are disjoint shared files (${won.length})`);
  for (let i = 0; i < won.length; i++) {
    for (let j = i + 1; j < won.length; j++) {
      const overlap = won[i].paths.some((p: string) => won[j].paths.some((q: string) => globsOverlap(p, q)));
      t.notOk(overlap, `${won[i].title} and ${won[j].title} do not overlap`);
    }
  }
  const leases = (await call('GET', '/api/leases')).body as any[];
  t.equal(leases.length, won.length, 'one lease per claim');
  for (const w of won) t.ok(leases.some((l) => l.id === w.lease.id && l.holder === w.claimed_by && JSON.stringify(l.resources) === JSON.stringify(w.paths)), `${w.title}: its lease holds its paths`);
});

t.test('a task a lease refused is in the claim order again once the lease ends: past its TTL, or the claim it guarded settled', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann');
  const ben = await register('ben');
  const a = (await call('POST', '/api/tasks', { project: 'web', title: 'a', paths: ['a.ts'] })).body;
  await call('POST', '/api/leases', { resources: ['a.ts'], ttl: '1s' }, as(ben.id));
  t.match(await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id)), { status: 404, body: { error: /all blocked: a\.ts held by ben/ } }, 'refused while the lease lives');
  await new Promise((r) => setTimeout(r, 1100));
  t.match(await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id)), { status: 200, body: { id: a.id } }, 'claimed once it is past its TTL, swept or not');

  // A claimed task's paths refuse others even after its lease is let go; settled, they are free.
  const b = (await call('POST', '/api/tasks', { project: 'web', title: 'b', priority: 5, paths: ['src/**'] })).body;
  const c = (await call('POST', '/api/tasks', { project: 'web', title: 'c', paths: ['src/x.ts'] })).body;
  const cb = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ben.id))).body;
  t.equal(cb.id, b.id);
  t.equal((await call('DELETE', `/api/leases/${cb.lease.id}`, undefined, as(ben.id))).status, 200, 'its lease let go early');
  t.match(await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id)), { status: 404, body: { error: new RegExp(`src/x\\.ts held by ben \\(task #${b.id}\\)`) } }, 'still refused by the claimed task');
  await call('POST', `/api/tasks/${b.id}/complete`, {}, as(ben.id));
  t.match(await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id)), { status: 200, body: { id: c.id } }, 'claimed once that task is done');
});
