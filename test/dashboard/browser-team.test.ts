/**
 * The dashboard's team page in a real browser against a real server with a token: a
 * team's work made through the public API — claims completed, released, failed and retried, a
 * task failed for good after its last attempt, an edit refused by the hook guard — shows as one
 * timeline row per agent with its bars and marks, the backlog's counts and a failed task's
 * history; then a real `koor-cli wait --hook` wakes an agent and that agent claims a task, and
 * both appear without a reload, the open bar growing. A failed task's checkpoints show when the
 * server answers GET /api/tasks/{id}/checkpoints, and their absence (404) is said plainly.
 * Screenshots go to test-output/dashboard/.
 */
import t from 'tap';
import { parseBind } from '../../src/config.js';
import { runCli } from '../cli/helpers.js';
import { launchBrowser, newContext, shot, unlabelled } from '../helpers/browser.js';
import { ensureDashboardBuilt } from '../helpers/dashboard.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

const TOKEN = 'team-dashboard-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

await ensureDashboardBuilt();
const browser = await launchBrowser(t);
if ('skip' in browser) t.plan(0, browser.skip);
else {
  const s = await startTestServer(t, { authToken: TOKEN, dashboardBind: parseBind('127.0.0.1:0', 'dashboard') });
  const dash = s.dashboardUrl!;
  const { context, page, rec } = await newContext(browser);
  await context.addInitScript((token) => sessionStorage.setItem('koor.token', token), TOKEN);

  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${s.url}${p}`, { method, headers: { ...AUTH, ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return JSON.parse(text);
  };
  const register = (name: string, workspace: string) => call('POST', '/api/instances/register', { name, workspace }) as Promise<{ id: string }>;
  const as = (a: { id: string }) => ({ 'x-koor-instance': a.id });
  const claim = async (a: { id: string }, project = 'shop') => (await call('POST', '/api/tasks/claim', { project }, as(a))).id as number;
  const settle = (a: { id: string }, id: number, how: 'complete' | 'fail' | 'release', body: Record<string, unknown> = {}) => call('POST', `/api/tasks/${id}/${how}`, body, as(a));

  // The team's morning, through the public API.
  const [ann, ben, cat, eve] = await Promise.all([register('ann', '/home/ann/shop'), register('ben', '/home/ben/shop'), register('cat', '/home/cat/shop'), register('eve', '/home/eve/ops')]);
  const task = (title: string, extra: Record<string, unknown> = {}) => call('POST', '/api/tasks', { project: 'shop', title, ...extra }).then((r) => r.id as number);
  const schema = await task('Schema', { priority: 5 });
  const paginate = await task('Paginate /api/trucks', { priority: 4 });
  const flaky = await task('Flaky importer', { priority: 3, max_attempts: 2 });
  const deploy = await task('Deploy', { priority: 2, deps: [paginate] });
  const docs = await task('Docs');
  await call('POST', '/api/tasks', { project: 'ops', title: 'Rotate keys' });
  let dan = '';

  t.test('the work: claims done, released, retried, failed for good, an edit refused', async (t) => {
    t.equal(await claim(ann), schema);
    await settle(ann, schema, 'complete');
    t.equal(await claim(ben), paginate);
    await settle(ben, paginate, 'release', { reason: 'switching to review' });
    t.equal(await claim(ben), paginate, 'claimed again after the release');
    await settle(ben, paginate, 'complete');
    t.equal(await claim(cat), flaky);
    t.equal((await settle(cat, flaky, 'fail', { reason: 'tests red' })).status, 'ready', 'a first failure retries');
    t.equal(await claim(cat), flaky);
    t.equal((await settle(cat, flaky, 'fail', { reason: 'importer times out' })).status, 'failed', 'its last attempt fails it for good');
    t.equal(await claim(ann), deploy, 'ann holds the deploy (ready once paginate was done)');
    await claim(eve, 'ops');
    // dan's session edits the file ann leased: the hook guard refuses it.
    await call('POST', '/api/leases', { resources: ['src/app.ts'], reason: 'deploy' }, as(ann));
    const guard = await call('POST', '/api/hooks/claude-code', { session_id: 'dan-session-0001', hook_event_name: 'PreToolUse', cwd: '/home/dan/shop', tool_name: 'Edit', tool_input: { file_path: '/home/dan/shop/src/app.ts' } }, { 'x-koor-agent-name': 'dan', 'x-koor-repo-root': '/home/dan/shop' });
    t.equal(guard.hookSpecificOutput?.permissionDecision, 'deny', 'the edit was refused');
    dan = ((await call('GET', '/api/hooks/claude-code/sessions/dan-session-0001')) as { instance_id: string }).instance_id;
  });

  const row = (a: { id: string } | string) => page.locator(`svg[data-timeline] g.tl-row[data-agent="${typeof a === 'string' ? a : a.id}"]`);
  const bar = (a: { id: string }, id: number, outcome: string) => row(a).locator(`rect.bar[data-task="${id}"][data-outcome="${outcome}"]`);
  const count = (status: string) => page.locator(`dd[data-count="${status}"]`).innerText();
  const legend = (key: string) => page.locator(`li[data-legend="${key}"] strong`).innerText();

  t.test('the team page: a row per agent, bars by outcome, marks, the backlog counts', async (t) => {
    await page.goto(`${dash}/#/`);
    await page.getByRole('link', { name: 'Team' }).click();
    await page.getByRole('heading', { level: 1, name: 'Team' }).waitFor();
    await page.locator('#team-project option[value="shop"]').waitFor({ state: 'attached' });
    await page.getByLabel('Project').selectOption('shop');
    await page.waitForURL('**/#/team/shop');
    await page.getByRole('heading', { level: 1, name: /Team\s+shop/ }).waitFor();
    await bar(ann, deploy, 'open').waitFor();
    // dan claimed nothing: his row comes with the roster (his session's workspace is in shop).
    await row(dan).waitFor();

    t.same(
      await page.locator('svg[data-timeline] g.tl-row').evaluateAll((gs) => gs.map((g) => g.querySelector('text.label')?.textContent)),
      ['ann', 'ben', 'cat', 'dan'],
      'one row per agent of the project, by name (eve works on another project)',
    );
    for (const [who, id, outcome] of [
      [ann, schema, 'done'],
      [ann, deploy, 'open'],
      [ben, paginate, 'released'],
      [ben, paginate, 'done'],
      [cat, flaky, 'retried'],
      [cat, flaky, 'failed'],
    ] as const) {
      t.equal(await bar(who, id, outcome).count(), 1, `${outcome} bar of task ${id}`);
    }
    t.match(await bar(ben, paginate, 'released').locator('title').textContent(), /Paginate \/api\/trucks — ben, attempt 1: Released \(switching to review\)/, 'a bar says what it was');
    t.equal(await row(dan).locator('[data-mark="denial"]').count(), 1, "the refused edit marks dan's row");
    t.match(await row(dan).locator('[data-mark="denial"] title').textContent(), /edit of src\/app\.ts refused: leased by ann/);
    t.same([await legend('done'), await legend('released'), await legend('retried'), await legend('failed'), await legend('open'), await legend('denial'), await legend('wake')], ['2', '1', '1', '1', '1', '1', '0'], 'the legend counts the span');
    t.same([await count('ready'), await count('blocked'), await count('claimed'), await count('done'), await count('failed'), await count('total')], ['1', '0', '1', '2', '1', '5'], 'the backlog by status');
    t.equal(await page.locator('svg[data-progress] path.line.done').getAttribute('data-done'), '2', 'the done-over-time line counts the done tasks');
    t.same(await unlabelled(page), [], 'every control has a name');
    await shot(page, 'team');
  });

  t.test('a task failed for good shows its attempts, and its checkpoints when the server keeps them', async (t) => {
    const failed = page.locator(`li[data-failed-task="${flaky}"]`);
    await failed.locator('summary').click();
    t.match(await failed.innerText(), /Flaky importer[\s\S]*2 \/ 2 attempts[\s\S]*Reason: importer times out/, 'title, attempts, reason');
    const attempts = await failed.locator('li[data-attempt]').allInnerTexts();
    t.equal(attempts.length, 2, 'both attempts');
    t.match(attempts[0], /^attempt 1: cat, .+ → .+, Failed, retried \(tests red\)$/);
    t.match(attempts[1], /^attempt 2: cat, .+ → .+, Failed for good \(importer times out\)$/);
    await failed.locator('[data-checkpoints="none"]').waitFor();
    t.pass('no checkpoint endpoint (404): said plainly');

    // A server that keeps checkpoints (GET /api/tasks/{id}/checkpoints): they show under the attempts.
    await page.route(`**/api/tasks/${flaky}/checkpoints`, (route) =>
      route.fulfill({
        contentType: 'application/json',
        body: JSON.stringify([
          { seq: 1, done: 'parsed the feed', next: 'retry the upload', data: { rows: 120 }, by: cat.id, by_name: 'cat', at: '2025-11-02T09:00:00Z' },
          { seq: 2, done: 'upload timed out', next: 'split the batch', data: null, by: cat.id, by_name: 'cat', at: '2025-11-02T09:05:00Z' },
        ]),
      }),
    );
    await failed.locator('summary').click();
    await failed.locator('summary').click();
    await failed.locator('tr[data-checkpoint="2"]').waitFor();
    t.match(await failed.locator('table[data-checkpoints]').innerText(), /1\s+2025-11-02 09:00:00\s+cat\s+parsed the feed\s+retry the upload\s+\{"rows":120\}[\s\S]*2\s+2025-11-02 09:05:00\s+cat\s+upload timed out\s+split the batch/);
    await page.unroute(`**/api/tasks/${flaky}/checkpoints`);
  });

  t.test('live: a wake-up and a new claim appear without a reload; the open bar grows', async (t) => {
    const navigations: string[] = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(f.url()));
    // A real wake-up: `koor-cli wait --hook` as ben finds the docs task ready and wakes him (exit 2).
    const woke = await runCli(['wait', '--hook', '--timeout', '10s'], { env: { KOOR_SERVER: s.url, KOOR_TOKEN: TOKEN, KOOR_INSTANCE: ben.id } });
    t.equal(woke.code, 2, 'the wake-up hook woke its agent');
    t.match(woke.stderr, new RegExp(`^task #${docs} ready in shop: Docs`));
    const wake = row(ben).locator('[data-mark="wake"]');
    await wake.waitFor({ timeout: 5000 });
    t.match(await wake.locator('title').textContent(), new RegExp(`woken: task #${docs} ready in shop`), 'the wake-up mark says why');

    t.equal(await claim(ben), docs);
    const open = bar(ben, docs, 'open');
    await open.waitFor({ timeout: 5000 });
    t.pass('the new claim is drawn live');
    await waitUntil('the counts follow', async () => (await count('claimed')) === '2' && (await count('ready')) === '0', 5000);
    t.equal(await legend('open'), '2');
    const width = async () => Number(await open.getAttribute('width'));
    const before = await width();
    await waitUntil('the open bar grows', async () => (await width()) > before + 1, 5000);
    t.pass('the open bar grows with time');
    await settle(ben, docs, 'complete');
    await bar(ben, docs, 'done').waitFor({ timeout: 5000 });
    t.pass('and turns done when completed');
    t.same(navigations, [], 'no reload');
    await shot(page, 'team-live');
  });

  t.test('projects, not paths: a refused edit shows on its own project page', async (t) => {
    // Two repositories with the same file: alice (an older agent, a path as workspace) leases alpha's
    // package.json, bert (registered with his project's name) beta's.
    const [alice, bert] = await Promise.all([register('alice', '/srv/alice/alpha'), register('bert', 'beta')]);
    for (const a of [alice, bert]) await call('POST', '/api/leases', { resources: ['package.json'] }, as(a));
    // A Claude Code session in each, in folders named alike: X-Koor-Project names the project.
    const edit = (session: string, project: string, name: string) =>
      call('POST', '/api/hooks/claude-code', { session_id: session, hook_event_name: 'PreToolUse', cwd: '/work/app', tool_name: 'Edit', tool_input: { file_path: '/work/app/package.json' } }, { 'x-koor-agent-name': name, 'x-koor-repo-root': '/work/app', 'x-koor-project': project });
    t.equal((await edit('carl-session-0001', 'alpha', 'carl')).hookSpecificOutput?.permissionDecision, 'deny', "carl's edit in alpha refused (alice's lease)");
    t.equal((await edit('dora-session-0001', 'beta', 'dora')).hookSpecificOutput?.permissionDecision, 'deny', "dora's edit in beta refused (bert's lease)");
    const carl = ((await call('GET', '/api/hooks/claude-code/sessions/carl-session-0001')) as { instance_id: string }).instance_id;
    const dora = ((await call('GET', '/api/hooks/claude-code/sessions/dora-session-0001')) as { instance_id: string }).instance_id;
    // carl's session ends (his agent deregistered): his refusal stays in alpha, by the lease that refused it.
    await call('POST', '/api/hooks/claude-code', { session_id: 'carl-session-0001', hook_event_name: 'SessionEnd' });

    await page.goto(`${dash}/#/team/alpha`);
    await page.getByRole('heading', { level: 1, name: /Team\s+alpha/ }).waitFor();
    await page.locator('#team-project option[value="beta"]').waitFor({ state: 'attached' });
    const options = await page.locator('#team-project option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    t.same(options, ['', 'alpha', 'beta', 'ops', 'shop'], 'the picker offers project names (of agents, leases and tasks), never a path');

    const denial = (who: string) => row(who).locator('[data-mark="denial"]');
    await denial(carl).waitFor();
    t.match(await denial(carl).locator('title').textContent(), /edit of package\.json refused: leased by alice/, "alpha: carl's refused edit");
    t.equal(await row(dora).count(), 0, "alpha: not dora's (beta)");
    t.equal(await legend('denial'), '1', 'alpha: one edit refused');
    t.match(await page.locator('[data-mark-row="denial"]').allInnerTexts(), [/carl: edit of package\.json refused: leased by alice/]);

    await page.getByLabel('Project').selectOption('beta');
    await page.waitForURL('**/#/team/beta');
    await denial(dora).waitFor();
    t.match(await denial(dora).locator('title').textContent(), /edit of package\.json refused: leased by bert/, "beta: dora's refused edit");
    t.equal(await row(carl).count(), 0, "beta: not carl's (alpha)");
    t.equal(await legend('denial'), '1', 'beta: one edit refused');

    await page.getByLabel('Project').selectOption('shop');
    await page.waitForURL('**/#/team/shop');
    await row(dan).locator('[data-mark="denial"]').waitFor();
    t.equal(await legend('denial'), '1', "shop: dan's refusal only");
    await shot(page, 'team-projects');
  });

  t.test('all projects: every agent with work', async (t) => {
    await page.getByLabel('Project').selectOption('');
    await page.waitForURL('**/#/team/');
    await row(eve).waitFor();
    t.equal(await row(eve).locator('rect.bar[data-outcome="open"]').count(), 1, "eve's claim in ops");
    await waitUntil('the counts of every project', async () => (await count('total')) === '6', 5000);
    t.pass('the backlog counts every project');
    t.same(rec.errors, [], 'no script error');
    t.same(rec.blocked, [], 'nothing leaves 127.0.0.1');
  });
}
