import t from 'tap';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

type Headers = Record<string, string>;
const TASK_KEYS = ['attempts', 'capabilities', 'claimed_by', 'claimed_by_name', 'created_at', 'data', 'deps', 'fence', 'id', 'max_attempts', 'paths', 'priority', 'project', 'reason', 'status', 'title', 'updated_at'];

function client(base: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Headers = {}) => {
    const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : (Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) as unknown as BodyInit) });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text), text };
  };
  const register = async (name: string, capabilities: string[] = []) => (await call('POST', '/api/instances/register', { name, capabilities })).body as { id: string; name: string };
  return { call, register, as: (id: string): Headers => ({ 'x-koor-instance': id }) };
}

t.test('tasks: shapes, claim, complete, fail with retries, release, events', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann');
  const ben = await register('ben');

  const created = await call('POST', '/api/tasks', '{"project":"web","title":"login page","data":{"spec":"v2","budget":1.50},"priority":2}');
  t.equal(created.status, 200);
  const t1 = created.body;
  t.same(Object.keys(t1).sort(), TASK_KEYS);
  t.match(t1, { project: 'web', title: 'login page', priority: 2, deps: [], capabilities: [], status: 'ready', claimed_by: '', attempts: 0, max_attempts: 3, reason: '' });
  t.match(created.text, /"data":\{"spec":"v2","budget":1\.50\}/, 'data kept as sent (number text included)');
  for (const [body, error] of [
    [{ title: 'x' }, 'project is required'],
    [{ project: 'web' }, 'title is required'],
    [{ project: 'web', title: 'x', priority: 1.5 }, 'priority: expected integer'],
    [{ project: 'web', title: 'x', deps: [999] }, 'unknown task in deps: 999'],
    [{ project: 'web', title: 'x', deps: ['1'] }, 'deps[0]: expected integer'],
    [{ project: 'web', title: 'x', max_attempts: 0 }, 'max_attempts: must be >= 1'],
  ] as const) {
    const r = await call('POST', '/api/tasks', body);
    t.same([r.status, r.body.error], [400, error], error);
  }

  // Claim: identity required; the caller gets it, exactly as the Task shape says.
  t.same((await call('POST', '/api/tasks/claim', { project: 'web' })).body, { error: 'task claim requires an agent identity', code: 400 });
  t.same((await call('POST', '/api/tasks/claim', {}, as(ann.id))).body, { error: 'project is required', code: 400 });
  const c1 = (await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id))).body;
  t.match(c1, { id: t1.id, status: 'claimed', claimed_by: ann.id, claimed_by_name: 'ann', attempts: 1 });
  t.same(await call('POST', '/api/tasks/claim', { project: 'web' }, as(ben.id)).then((r) => [r.status, r.body]), [404, { error: 'no task ready in web', code: 404 }]);

  // Only the claimer settles it.
  t.same((await call('POST', `/api/tasks/${t1.id}/complete`, undefined, as(ben.id))).body, { error: `task ${t1.id} is claimed by ann`, code: 403 });
  t.same((await call('POST', `/api/tasks/${t1.id}/complete`)).body, { error: 'task complete requires an agent identity', code: 400 });
  const done = await call('POST', `/api/tasks/${t1.id}/complete`, undefined, as(ann.id));
  t.match(done.body, { status: 'done', claimed_by: ann.id });
  t.same((await call('POST', `/api/tasks/${t1.id}/complete`, undefined, as(ann.id))).body, { error: `task ${t1.id} is not claimed (status: done)`, code: 409 });
  t.same((await call('POST', '/api/tasks/99/fail', {}, as(ann.id))).body, { error: 'task not found: 99', code: 404 });
  t.same((await call('GET', '/api/tasks/abc')).body, { error: 'task not found: abc', code: 404 });

  // fail: back to ready while attempts remain, failed after; retry:false fails for good.
  const t2 = (await call('POST', '/api/tasks', { project: 'web', title: 'flaky', max_attempts: 2 })).body;
  await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id));
  t.match((await call('POST', `/api/tasks/${t2.id}/fail`, { reason: 'tests red' }, as(ann.id))).body, { status: 'ready', attempts: 1, reason: 'tests red', claimed_by: '' });
  t.match((await call('POST', '/api/tasks/claim', { project: 'web' }, as(ben.id))).body, { id: t2.id, attempts: 2, claimed_by_name: 'ben' });
  t.match((await call('POST', `/api/tasks/${t2.id}/fail`, { reason: 'still red' }, as(ben.id))).body, { status: 'failed', attempts: 2, reason: 'still red', claimed_by_name: 'ben' });
  const t3 = (await call('POST', '/api/tasks', { project: 'web', title: 'impossible' })).body;
  await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id));
  t.match((await call('POST', `/api/tasks/${t3.id}/fail`, { reason: 'out of scope', retry: false }, as(ann.id))).body, { status: 'failed', attempts: 1 });

  // release: back to ready, unfinished, for someone else.
  const t4 = (await call('POST', '/api/tasks', { project: 'web', title: 'handover' })).body;
  await call('POST', '/api/tasks/claim', { project: 'web' }, as(ann.id));
  t.match((await call('POST', `/api/tasks/${t4.id}/release`, { reason: 'end of shift' }, as(ann.id))).body, { status: 'ready', claimed_by: '', reason: 'end of shift' });
  t.match((await call('POST', '/api/tasks/claim', { project: 'web' }, as(ben.id))).body, { id: t4.id, claimed_by_name: 'ben' });

  // Lists and filters.
  t.same((await call('GET', '/api/tasks?project=web&status=failed')).body.map((x: any) => x.id), [t2.id, t3.id]);
  t.same((await call('GET', '/api/tasks?status=done,claimed')).body.map((x: any) => x.id), [t1.id, t4.id]);
  t.same((await call('GET', `/api/tasks?claimed_by=${ben.id}`)).body.map((x: any) => x.id), [t2.id, t4.id]);
  t.same((await call('GET', `/api/tasks?limit=2&after=${t1.id}`)).body.map((x: any) => x.id), [t2.id, t3.id]);
  t.same((await call('GET', '/api/tasks?status=open')).body, { error: 'status must be one of ready, blocked, claimed, done, failed (comma-separated): open', code: 400 });
  t.same((await call('GET', '/api/tasks?project=elsewhere')).body, []);
  t.same((await call('GET', `/api/tasks/${t4.id}`)).body.title, 'handover');

  const topics = (await call('GET', '/api/events/history?since=0&topic=task.*')).body.map((e: any) => `${e.topic}:${e.data.id}`);
  t.same(topics, [
    `task.created:${t1.id}`, `task.claimed:${t1.id}`, `task.completed:${t1.id}`,
    `task.created:${t2.id}`, `task.claimed:${t2.id}`, `task.failed:${t2.id}`, `task.claimed:${t2.id}`, `task.failed:${t2.id}`,
    `task.created:${t3.id}`, `task.claimed:${t3.id}`, `task.failed:${t3.id}`,
    `task.created:${t4.id}`, `task.claimed:${t4.id}`, `task.released:${t4.id}`, `task.claimed:${t4.id}`,
  ]);
  const audit = (await call('GET', '/api/audit?action=task.claim')).body;
  t.equal(audit.length, 6, 'claims are audited');
  t.ok(audit.every((e: any) => ['ann', 'ben'].includes(e.actor)), 'with the claimer as actor');
});

t.test('claim order: priority, then age; deps must be done; capabilities must match', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const plain = await register('plain');
  const gpu = await register('gpu-box', ['gpu', 'cuda']);
  const add = async (body: Record<string, unknown>) => (await call('POST', '/api/tasks', { project: 'ml', ...body })).body;
  const low = await add({ title: 'low' });
  const high = await add({ title: 'high', priority: 9 });
  const train = await add({ title: 'train', priority: 5, capabilities: ['gpu'] });
  const prep = await add({ title: 'prep' });
  const evaluate = await add({ title: 'evaluate', priority: 100, deps: [prep.id, high.id] });
  t.equal(evaluate.status, 'blocked');

  const claim = async (who: { id: string }) => {
    const r = await call('POST', '/api/tasks/claim', { project: 'ml' }, as(who.id));
    return r.status === 200 ? r.body.title : r.status;
  };
  t.equal(await claim(plain), 'high', 'highest priority first (evaluate is blocked)');
  t.equal(await claim(plain), 'low', 'train needs a capability plain lacks; then the oldest');
  t.equal(await claim(plain), 'prep');
  t.equal(await claim(plain), 404, 'only train is ready, and plain cannot take it');
  t.equal(await claim(gpu), 'train', 'the gpu agent can');
  await call('POST', `/api/tasks/${high.id}/complete`, undefined, as(plain.id));
  t.equal((await call('GET', `/api/tasks/${evaluate.id}`)).body.status, 'blocked', 'one dep is still open');
  await call('POST', `/api/tasks/${prep.id}/complete`, undefined, as(plain.id));
  t.equal((await call('GET', `/api/tasks/${evaluate.id}`)).body.status, 'ready', 'all deps done: ready');
  t.equal(await claim(gpu), 'evaluate');
  const later = await add({ title: 'after low', deps: [low.id] });
  t.equal(later.status, 'blocked');
  await call('POST', `/api/tasks/${low.id}/complete`, undefined, as(plain.id));
  const doneDep = await add({ title: 'deps already done', deps: [low.id] });
  t.equal(doneDep.status, 'ready', 'a task whose deps are all done is ready at once');
});

t.test('claim race: 50 concurrent claimers over 500 tasks, each task claimed exactly once', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const TASKS = 500;
  const CLAIMERS = 50;
  const ids = new Set<number>();
  for (let b = 0; b < TASKS; b += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, (_, i) => call('POST', '/api/tasks', { project: 'race', title: `task ${b + i}` })));
    for (const r of batch) ids.add(r.body.id);
  }
  t.equal(ids.size, TASKS);
  const agents = await Promise.all(Array.from({ length: CLAIMERS }, (_, i) => register(`claimer-${i}`)));
  const got = new Map<number, string[]>();
  const statuses: number[] = [];
  // Each claimer claims until the queue says none is ready (bounded: never more than TASKS + 1 tries).
  await Promise.all(
    agents.map(async (a) => {
      for (let n = 0; n <= TASKS; n++) {
        const r = await call('POST', '/api/tasks/claim', { project: 'race' }, as(a.id));
        statuses.push(r.status);
        if (r.status !== 200) break;
        t.equal(r.body.claimed_by, a.id);
        got.set(r.body.id, [...(got.get(r.body.id) ?? []), a.id]);
      }
    }),
  );
  const twice = [...got].filter(([, who]) => who.length > 1);
  t.same(twice, [], 'no task was handed out twice');
  t.same([...got.keys()].sort((x, y) => x - y), [...ids].sort((x, y) => x - y), 'every task was handed out');
  t.same(statuses.filter((x) => x !== 200 && x !== 404), [], 'only 200s and, at the end, 404s');
  const claimed = (await call('GET', '/api/tasks?project=race&status=claimed')).body;
  t.equal(claimed.length, TASKS, 'the store agrees: all claimed');
  t.ok(claimed.every((x: any) => got.get(x.id)?.[0] === x.claimed_by), 'by the agent each reply named');
  t.ok(new Set(claimed.map((x: any) => x.claimed_by)).size > 1, 'the work was spread over several claimers');
});

t.test("a stale claimer's task returns to ready and another agent claims it", async (t) => {
  const s = await startTestServer(t, { livenessTimeoutMs: 1000, livenessIntervalMs: 3_600_000 });
  const { call, register, as } = client(s.url);
  const sleepy = await register('sleepy');
  const awake = await register('awake');
  const quitter = await register('quitter');
  const job = (await call('POST', '/api/tasks', { project: 'ops', title: 'rotate keys' })).body;
  const job2 = (await call('POST', '/api/tasks', { project: 'ops', title: 'renew certs' })).body;
  t.equal((await call('POST', '/api/tasks/claim', { project: 'ops' }, as(sleepy.id))).body.id, job.id);
  t.equal((await call('POST', '/api/tasks/claim', { project: 'ops' }, as(quitter.id))).body.id, job2.id);

  await call('DELETE', `/api/instances/${quitter.id}`);
  t.match((await call('GET', `/api/tasks/${job2.id}`)).body, { status: 'ready', claimed_by: '', reason: 'deregistered' }, 'deregistered: its task is back');

  await waitUntil('sleepy to go stale', async () => {
    await call('POST', `/api/instances/${awake.id}/heartbeat`);
    return (await call('POST', '/api/liveness/check')).body.newly_stale.some((i: any) => i.id === sleepy.id);
  });
  t.match((await call('GET', `/api/tasks/${job.id}`)).body, { status: 'ready', claimed_by: '', reason: 'stale', attempts: 1 });
  const released = (await call('GET', '/api/events/history?topic=task.released')).body.map((e: any) => [e.data.id, e.data.reason]);
  t.same(released, [[job.id, 'stale'], [job2.id, 'deregistered']]);
  const again = (await call('POST', '/api/tasks/claim', { project: 'ops' }, as(awake.id))).body;
  t.match(again, { id: job.id, claimed_by: awake.id, attempts: 2 });
  t.same((await call('POST', `/api/tasks/${job.id}/complete`, undefined, as(sleepy.id))).body, { error: `task ${job.id} is claimed by awake`, code: 403 }, 'the stale agent lost it');
});

t.test('tasks: ended ones older than --task-retention are pruned with their checkpoints; the rest stay', async (t) => {
  const s = await startTestServer(t, { taskRetentionMs: 1000 });
  const { call, register, as } = client(s.url);
  const ann = await register('ann');
  const task = async (title: string, deps: number[] = []) => (await call('POST', '/api/tasks', { project: 'old', title, deps })).body as { id: number };
  const done = await task('done long ago');
  const failed = await task('failed long ago');
  const waiting = await task('ready all along');
  const first = (await call('POST', '/api/tasks/claim', { project: 'old' }, as(ann.id))).body;
  t.equal(first.id, done.id);
  t.equal((await call('POST', `/api/tasks/${done.id}/checkpoint`, { done: 'half', next: 'rest' }, as(ann.id))).status, 200);
  t.equal((await call('POST', `/api/tasks/${done.id}/complete`, {}, as(ann.id))).status, 200);
  const dependent = await task('after the done one', [done.id]);
  t.equal((await call('POST', '/api/tasks/claim', { project: 'old' }, as(ann.id))).body.id, failed.id);
  t.equal((await call('POST', `/api/tasks/${failed.id}/fail`, { reason: 'no', retry: false }, as(ann.id))).status, 200);
  // Times are kept to the second: two seconds on, both are past a one-second retention.
  await new Promise((r) => setTimeout(r, 2100));
  const recent = (await call('POST', '/api/tasks/claim', { project: 'old' }, as(ann.id))).body;
  t.equal((await call('POST', `/api/tasks/${recent.id}/complete`, {}, as(ann.id))).status, 200, 'one that ended just now');
  await s.retention.runPass();
  t.equal((await call('GET', `/api/tasks/${done.id}`)).status, 404, 'the done one is gone');
  t.equal((await call('GET', `/api/tasks/${failed.id}`)).status, 404, 'the failed one is gone');
  t.equal((await call('GET', `/api/tasks/${done.id}/checkpoints`)).status, 404, 'with its checkpoints');
  t.equal((await call('GET', `/api/tasks/${recent.id}`)).body.status, 'done', 'one that ended within the retention stays');
  const left = [waiting.id, dependent.id].filter((id) => id !== recent.id);
  for (const id of left) t.equal((await call('GET', `/api/tasks/${id}`)).body.status, 'ready', `#${id}, not ended, stays`);
  t.equal(s.retention.stats.tasks_pruned, 2);
  t.match(await (await fetch(`${s.nodeUrls[0]}/metrics`)).text(), /koor_retention_pruned_total\{table="tasks"\} 2/);
});

t.test('tasks: one that fails for good fails the tasks waiting on it, and a new task cannot wait on it', async (t) => {
  const s = await startTestServer(t);
  const { call, register, as } = client(s.url);
  const ann = await register('ann');
  const add = async (title: string, deps: number[] = [], more: Record<string, unknown> = {}) => (await call('POST', '/api/tasks', { project: 'dag', title, deps, ...more })).body as { id: number; status: string };
  const schema = await add('schema', [], { max_attempts: 1 });
  const api = await add('api', [schema.id]);
  const ui = await add('ui', [api.id]);
  const docs = await add('docs');
  const both = await add('release', [docs.id, api.id]);
  t.same([api.status, ui.status, both.status], ['blocked', 'blocked', 'blocked']);
  t.equal((await call('POST', '/api/tasks/claim', { project: 'dag' }, as(ann.id))).body.id, schema.id);
  // Its last attempt released: it parks as failed, as a failure for good does.
  t.match((await call('POST', `/api/tasks/${schema.id}/release`, {}, as(ann.id))).body, { status: 'failed' });
  for (const [task, dep] of [[api, schema], [ui, api], [both, api]] as const) {
    t.match((await call('GET', `/api/tasks/${task.id}`)).body, { status: 'failed', reason: `dependency #${dep.id} failed` }, `#${task.id} failed: it waited on #${dep.id}`);
  }
  t.equal((await call('GET', `/api/tasks/${docs.id}`)).body.status, 'ready', 'a task not waiting on it is untouched');
  const failedEvents = (await call('GET', '/api/events/history?topic=task.failed')).body.map((e: { data: { id: number } }) => e.data.id).sort();
  t.same(failedEvents, [api.id, ui.id, both.id].sort(), 'each announced as task.failed');
  const refused = await call('POST', '/api/tasks', { project: 'dag', title: 'late', deps: [schema.id] });
  t.same([refused.status, refused.body.error], [400, `task ${schema.id} in deps failed: a task waiting on it would never run`]);
});
