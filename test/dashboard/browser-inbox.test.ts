/**
 * The dashboard's Inbox page in a real browser (Debian's chromium, playwright-core) against a real
 * server with a token: the operator writes to an agent from the page, the agent's GET /api/inbox
 * has it from "human", the thread view follows the recipient's read and ack state without a
 * reload, an agent's reply arrives live, a refused send shows the server's words; and the
 * overview's live events name agents instead of showing their ids (the id kept as a tooltip).
 * Screenshots go to test-output/dashboard/.
 */
import t from 'tap';
import { parseBind } from '../../src/config.js';
import { launchBrowser, newContext, shot, unlabelled } from '../helpers/browser.js';
import { ensureDashboardBuilt } from '../helpers/dashboard.js';
import { startTestServer } from '../helpers/server.js';

const TOKEN = 'inbox-dashboard-token';
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
    return { status: r.status, json: () => JSON.parse(text) };
  };
  const backend = (await call('POST', '/api/instances/register', { name: 'backend', workspace: '/home/dev/web' })).json() as { id: string };
  const asBackend = { 'x-koor-instance': backend.id };
  let messageId = 0;
  let threadId = 0;

  t.test('the operator writes to an agent from the page; the agent reads it from "human"', async (t) => {
    await page.goto(`${dash}/#/inbox`);
    await page.getByRole('heading', { level: 1, name: 'Inbox' }).waitFor();
    await page.getByText('No messages yet.').waitFor();
    const form = page.locator('form[data-compose="new"]');
    await form.getByLabel('To').fill('backend');
    await form.getByLabel('Subject').fill('users contract');
    await form.getByLabel('Message').fill('The /users contract changed:\nplease regenerate the client.');
    await form.getByLabel('Importance').selectOption('high');
    await form.getByLabel('Acknowledgement required').check();
    await form.getByRole('button', { name: 'Send message' }).click();
    const notice = form.getByRole('status');
    await notice.waitFor();
    const m = /Message (\d+) sent to 1 recipient\./.exec(await notice.innerText());
    t.ok(m, 'the page says it was sent, and to how many');
    messageId = Number(m![1]);
    threadId = messageId;
    await page.waitForURL(`**/#/inbox/${threadId}`);
    t.pass('the page opens the new thread');

    const inbox = (await call('GET', '/api/inbox', undefined, asBackend)).json() as Array<Record<string, unknown>>;
    t.equal(inbox.length, 1, 'one item in the agent inbox');
    t.match(inbox[0], { id: messageId, from: 'human', from_name: 'human', to: ['backend'], recipients: [backend.id], subject: 'users contract', body: 'The /users contract changed:\nplease regenerate the client.', importance: 'high', ack_required: true, read_at: '', acked_at: '' }, 'as written, from "human"');
  });

  t.test('the thread view follows the read and ack state without a reload', async (t) => {
    const card = page.locator(`article[data-message="${messageId}"]`);
    await card.waitFor();
    t.match(await card.innerText(), /users contract[\s\S]*from\s+human\s+to\s+backend[\s\S]*high[\s\S]*ack required[\s\S]*The \/users contract changed:\nplease regenerate the client\./, 'subject, sender, recipient by name, flags, body');
    const receipt = card.locator(`tr[data-receipt="${backend.id}"]`);
    t.equal(await receipt.getAttribute('data-state'), 'unread', 'unread at first');
    t.match(await receipt.innerText(), /backend\s+unread/);
    await shot(page, 'inbox-unread');

    t.equal((await call('POST', '/api/inbox/read', { ids: [messageId] }, asBackend)).status, 200);
    await card.locator(`tr[data-receipt="${backend.id}"][data-state="read"]`).waitFor({ timeout: 15_000 });
    t.pass('read: shown without a reload');
    t.equal((await call('POST', `/api/inbox/${messageId}/ack`, undefined, asBackend)).status, 200);
    await card.locator(`tr[data-receipt="${backend.id}"][data-state="acked"]`).waitFor({ timeout: 15_000 });
    t.pass('acknowledged: shown without a reload');
    t.match(await receipt.innerText(), /backend\s+acked\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, 'with the times');
    await page.reload();
    await page.locator(`article[data-message="${messageId}"] tr[data-receipt="${backend.id}"][data-state="acked"]`).waitFor();
    t.pass('and after a reload');
  });

  t.test("an agent's reply arrives live; the thread list shows the subject", async (t) => {
    const reply = (await call('POST', '/api/messages', { to: ['human'], body: 'regenerated' }, asBackend)).json();
    t.same(reply, { error: 'unknown recipients: human', code: 400 }, 'human has no inbox (an agent answers in the thread instead)');
    const other = (await call('POST', '/api/instances/register', { name: 'frontend', workspace: '/home/dev/web' })).json() as { id: string };
    const r = await call('POST', '/api/messages', { to: [other.id], subject: 'Re: users contract', body: 'regenerated the client', reply_to: messageId }, asBackend);
    t.equal(r.status, 200);
    const answer = r.json();
    t.equal(answer.thread_id, threadId);
    const card = page.locator(`article[data-message="${answer.id}"]`);
    await card.waitFor({ timeout: 10_000 });
    t.match(await card.innerText(), /from\s+backend\s+to\s+frontend[\s\S]*reply to #\d+[\s\S]*regenerated the client/, 'the reply, in the open thread');
    const row = page.locator(`table.threads tr[data-thread="${threadId}"]`);
    await row.getByRole('link', { name: 'users contract' }).waitFor();
    t.match(await row.innerText(), /users contract[\s\S]*human, backend, frontend\s+2/, 'subject, who, how many');
    await shot(page, 'inbox-thread');

    // A reply from the page goes to everyone in the thread but the operator.
    const replyForm = page.locator('form[data-compose="reply"]');
    t.equal(await replyForm.getByLabel('To').inputValue(), 'backend, frontend', 'addressed to the thread');
    await replyForm.getByLabel('Message').fill('thanks both');
    await replyForm.getByRole('button', { name: 'Send reply' }).click();
    await replyForm.getByRole('status').waitFor();
    await page.locator('article[data-message]').nth(2).waitFor({ timeout: 10_000 });
    const items = (await call('GET', `/api/inbox?thread=${threadId}`, undefined, { 'x-koor-instance': other.id })).json() as Array<{ body: string; from: string; reply_to: number }>;
    t.match(items.at(-1), { body: 'thanks both', from: 'human', reply_to: answer.id }, 'in the thread, in reply to its last message');
  });

  t.test("a refused send shows the server's words, and nothing is sent", async (t) => {
    await page.goto(`${dash}/#/inbox`);
    const form = page.locator('form[data-compose="new"]');
    await form.getByLabel('To').fill('backend, nobody, project:nowhere');
    await form.getByLabel('Message').fill('x');
    await form.getByRole('button', { name: 'Send message' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    t.equal(await alert.innerText(), 'unknown recipients: nobody, project:nowhere (400)', "the server's JSON error");
    t.equal((await call('GET', '/api/inbox', undefined, asBackend)).json().length, 2, 'nothing more in the inbox');
    t.same(await unlabelled(page), [], 'every control has a name');
    await shot(page, 'inbox-refused');
  });

  t.test('live events: agent names instead of ids, the id as a tooltip', async (t) => {
    await page.goto(`${dash}/#/`);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.locator('.live-badge.live').waitFor();
    // A script that records the agent's id as the source, and the id in its data.
    const e = (await call('POST', '/api/events/publish', { topic: 'build.done', source: backend.id, data: { by: backend.id, ok: true } })).json() as { id: number };
    const row = page.locator(`tr[data-event="${e.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    const text = await row.innerText();
    t.notOk(text.includes(backend.id), 'no raw id in the row');
    t.match(text, /build\.done\s+backend\s+\{"by":"backend","ok":true\}/, 'the source and the data name the agent');
    t.equal(await row.locator(`.agent[title="${backend.id}"]`).count(), 2, 'each name keeps the id as its tooltip');

    const sent = page.locator('table.events tr', { hasText: 'message.sent' }).first();
    await sent.waitFor();
    const sentText = await sent.innerText();
    t.notOk(sentText.includes(backend.id), 'message.sent: no raw id');
    t.match(sentText, /"from":"(human|backend)"/, 'message.sent: the sender by name');
    await shot(page, 'events-names');
  });

  t.test('nothing leaves 127.0.0.1', async (t) => {
    t.same(rec.blocked, [], 'no request to another host');
    t.same([...new Set(rec.urls.map((u) => new URL(u).hostname))], ['127.0.0.1']);
    t.same(rec.urls.filter((u) => u.includes(TOKEN)), [], 'the token is in no URL');
    t.same(rec.errors, [], 'no script error');
  });
}
