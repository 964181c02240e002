/**
 * The dashboard in a real browser (Debian's chromium, playwright-core), against a real server
 * with a token: the token prompt (wrong, then right), the overview's figures against
 * /api/metrics, an agent registered by a koor-cli subprocess appearing in the roster and turning
 * stale without a reload, an event published over REST arriving in the live stream (filter,
 * pause, a page of rows then more), a narrow window; and no request leaving 127.0.0.1, the token in
 * no URL.
 * Screenshots go to test-output/dashboard/.
 */
import t from 'tap';
import { parseBind } from '../../src/config.js';
import { runCli } from '../cli/helpers.js';
import { launchBrowser, newContext, shot, unlabelled } from '../helpers/browser.js';
import { ensureDashboardBuilt } from '../helpers/dashboard.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { publish } from '../helpers/ws.js';

const TOKEN = 'live-dashboard-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

await ensureDashboardBuilt();
const browser = await launchBrowser(t);
if ('skip' in browser) t.plan(0, browser.skip);
else {
  const s = await startTestServer(t, {
    authToken: TOKEN,
    dashboardBind: parseBind('127.0.0.1:0', 'dashboard'),
    // An active agent not seen for 1.5 s turns stale (checked every 300 ms).
    livenessIntervalMs: 300,
    livenessTimeoutMs: 1500,
  });
  const dash = s.dashboardUrl!;
  const { page, rec } = await newContext(browser);
  const api = async (method: string, p: string, body?: string) => {
    const r = await fetch(`${s.url}${p}`, { method, headers: AUTH, ...(body === undefined ? {} : { body }) });
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
    return r.json() as Promise<any>;
  };
  const figure = (name: string) => page.locator(`[data-metric="${name}"]`).innerText();

  t.test('token prompt: a wrong token is refused with a clear message, the right one opens the dashboard', async (t) => {
    await page.goto(`${dash}/`);
    const input = page.getByLabel('Access token');
    await input.waitFor();
    await shot(page, 'token-prompt');
    await input.fill('not-the-token');
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    t.match(await alert.innerText(), /refused this token/, 'the refusal is said in words');
    t.equal(await page.getByRole('heading', { name: 'Overview' }).count(), 0, 'no broken page behind it');
    await shot(page, 'token-wrong');

    await input.fill(TOKEN);
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.locator('.live-badge.live').waitFor();
    t.pass('the overview opens and the live stream connects with the token');
    t.equal(await page.evaluate(() => sessionStorage.getItem('koor.token')), TOKEN, 'kept in sessionStorage (this tab only)');
    t.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
    await page.reload();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    t.equal(await page.getByLabel('Access token').count(), 0, 'asked once per browser session, not per page load');
  });

  t.test('overview: its figures are those of /api/metrics', async (t) => {
    for (let i = 0; i < 3; i++) await api('PUT', `/api/state/overview/k${i}`, JSON.stringify({ i }));
    await publish(s.url, 'seed.one', { a: 1 }, AUTH);
    await publish(s.url, 'seed.two', { a: 2 }, AUTH);
    await api('POST', '/api/instances/register', JSON.stringify({ name: 'seed-agent' }));
    await page.reload();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // Whatever the live stream did before the page's components subscribed is shown.
    await page.locator('.live-badge.live').waitFor();
    await page.locator('table.events tr[data-event]').first().waitFor();
    t.same(await page.locator('table.events code.topic').allInnerTexts(), ['seed.two', 'seed.one'], 'the recent history, newest first');
    // The first figures are read before the page's own subscription opens; wait for a poll after.
    await waitUntil('the page to count its own subscription', async () => (await figure('subscribers')) === '1', 15_000, 200);
    const m = await api('GET', '/api/metrics');
    const fmt = (n: number) => n.toLocaleString('en-US');
    t.equal(await figure('health'), 'ok');
    t.equal(await figure('state_keys'), fmt(m.state_keys), `state keys ${m.state_keys}`);
    t.equal(await figure('instances'), fmt(m.instances), `agents ${m.instances}`);
    t.equal(await figure('last_event_id'), fmt(m.last_event_id), `last event id ${m.last_event_id}`);
    t.equal(await figure('mcp_sessions'), fmt(m.mcp_sessions));
    t.equal(await figure('rest_calls'), fmt(m.token_tax.rest_calls), `REST calls ${m.token_tax.rest_calls} (the dashboard's own are not counted)`);
    t.equal(await figure('mcp_calls'), fmt(m.token_tax.mcp_calls));
    t.equal(await figure('rest_tokens_saved'), fmt(m.token_tax.rest_tokens_saved));
    t.equal(await figure('savings_percent'), `${m.token_tax.savings_percent.toFixed(1)} %`);
    t.equal(await figure('subscribers'), fmt(m.events.subscribers));
    t.equal(await figure('writer_restarts'), fmt(m.writer.restarts));
    t.equal(await figure('dropped'), fmt(m.events.dropped));
    t.same(await unlabelled(page), [], 'every control has a name');
    await shot(page, 'overview');
  });

  t.test('roster: an agent registered by koor-cli appears without a reload, then turns stale', async (t) => {
    const env = { KOOR_SERVER: s.url, KOOR_TOKEN: TOKEN };
    const reg = await runCli(['register', 'cli-agent', '--workspace', 'web', '--intent', 'write the browser tests', '--stack', 'ts'], { env });
    t.equal(reg.code, 0, reg.stderr);
    const id = JSON.parse(reg.stdout).id as string;
    const row = page.locator(`tr[data-instance="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    t.match(await row.innerText(), /cli-agent[\s\S]*write the browser tests/, 'name and intent shown');
    const act = await runCli(['activate', id], { env });
    t.equal(act.code, 0, act.stderr);
    await row.locator('[data-status="stale"]').waitFor({ timeout: 20_000 });
    t.match(await row.getAttribute('class'), /is-stale/, 'the stale agent is highlighted');
    t.match(await page.locator('#roster-h').innerText(), /stale/, 'and counted in the heading');
    await shot(page, 'roster-stale');
  });

  t.test('roster: a page of the agents seen last, however many there are; more on request', async (t) => {
    const before = (await api('GET', '/api/instances')).length as number;
    const added = 60 - before;
    for (let i = 0; i < added; i++) await api('POST', '/api/instances/register', JSON.stringify({ name: `crowd-${i}`, workspace: 'web' }));
    const heading = page.locator('#roster-h');
    await waitUntil('the heading to count 60 agents', async () => /^Agents 60, the 50 seen last shown/.test(await heading.innerText()), 15_000);
    await waitUntil('50 rows', async () => (await page.locator('table.roster tbody tr').count()) === 50, 10_000);
    t.pass('60 agents: the heading counts them all, the table shows the 50 seen last');
    const shownIds = async () => (await page.locator('table.roster tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-instance')))).sort().join();
    const pageIds = async () => ((await api('GET', '/api/instances?limit=50')) as Array<{ id: string }>).map((i) => i.id).sort().join();
    await waitUntil('the rows to be the page GET /api/instances?limit=50 gives', async () => (await shownIds()) === (await pageIds()), 10_000);
    t.pass('the agents GET /api/instances?limit=50 gives, seen last first');
    await page.getByRole('button', { name: 'Show 10 more' }).click();
    await waitUntil('60 rows', async () => (await page.locator('table.roster tbody tr').count()) === 60, 10_000);
    t.equal(await page.getByRole('button', { name: /^Show \d+ more$/ }).count(), 0, 'every agent shown: no more to ask for');
    t.match(await heading.innerText(), /^Agents 60(?!, the)/, 'and the heading says so');
  });

  t.test('live events: a REST publish arrives without a reload; filter and pause', async (t) => {
    const e1 = await publish(s.url, 'ui.hello', { from: 'rest' }, AUTH);
    const row = page.locator(`tr[data-event="${e1.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    t.match(await row.innerText(), /ui\.hello[\s\S]*"from":"rest"/, 'topic and data shown');

    const filter = page.getByLabel('Topic filter');
    await filter.fill('ui.*');
    await waitUntil('the filter to apply', async () => (await page.locator('table.events code.topic').allInnerTexts()).every((x) => x.startsWith('ui.')), 5000);
    t.pass('only matching topics are listed');
    await filter.fill('[');
    t.match(await page.locator('#event-filter-help').innerText(), /Not a valid pattern/, 'a malformed glob is said so');
    await filter.fill('ui.*');

    await page.getByRole('button', { name: 'Pause' }).click();
    const e2 = await publish(s.url, 'ui.while-paused', null, AUTH);
    await page.getByText('1 new event waiting').waitFor({ timeout: 10_000 });
    t.equal(await page.locator(`tr[data-event="${e2.id}"]`).count(), 0, 'paused: the list stands still');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator(`tr[data-event="${e2.id}"]`).waitFor();
    t.pass('resumed: the waiting event is shown');
    await shot(page, 'events');

    // A page of rows at first (a busy team's stream is drawn several times a second), more on request.
    for (let i = 0; i < 55; i++) await publish(s.url, 'ui.many', { i }, AUTH);
    const rows = page.locator('table.events tbody tr');
    const more = page.getByRole('button', { name: 'Show 50 more events' });
    await more.waitFor({ timeout: 10_000 });
    t.equal(await rows.count(), 50, '50 rows of the 57 matching');
    await more.click();
    await waitUntil('every matching row', async () => (await rows.count()) === 57, 5000);
    t.equal(await more.count(), 0, 'every matching event shown: no more to ask for');
  });

  t.test('narrow window: the layout stacks and nothing overflows', async (t) => {
    await page.setViewportSize({ width: 600, height: 900 });
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    t.ok(overflow <= 0, `no horizontal scrolling of the page (${overflow}px)`);
    await shot(page, 'overview-narrow');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  t.test('nothing leaves 127.0.0.1, and the token rides in no URL', async (t) => {
    t.same(rec.blocked, [], 'no request to another host');
    const hosts = new Set(rec.urls.map((u) => new URL(u).hostname));
    t.same([...hosts], ['127.0.0.1'], 'every request and WebSocket went to the server under test');
    t.ok(rec.urls.some((u) => u.startsWith('ws://127.0.0.1') && u.includes('/api/events/subscribe')), 'the live stream is a WebSocket');
    const forms = [TOKEN, encodeURIComponent(TOKEN), Buffer.from(TOKEN).toString('base64url')];
    t.same(rec.urls.filter((u) => forms.some((f) => u.includes(f))), [], 'the token is in no URL');
    t.same(rec.errors, [], 'no script error');
  });
}
