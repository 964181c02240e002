import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { WebSocketServer, type WebSocket } from 'ws';
import { tempDir } from '../helpers/server.js';
import { startCli, exitWithin } from './helpers.js';

/**
 * The reconnecting client (cli/socket.ts) against a scripted server, for the cases a real server
 * produces only by accident: duplicates across a reconnect, a 4008 close followed by an abrupt
 * drop, a refused upgrade (polling fallback), the pruned-history header; under `events subscribe`,
 * and under `wait`, whose inbox stream resumes and falls back through the same client.
 */

const ev = (id: number, topic = 'api.change') => JSON.stringify({ id, topic, data: { id }, source: '', created_at: '2026-01-01T00:00:00Z' });

interface Scripted {
  url: string;
  upgrades: Array<{ path: string; query: URLSearchParams; auth: string | undefined; instance: string | undefined }>;
  requests: string[];
}

async function scriptedServer(
  t: { teardown(fn: () => unknown): void },
  opts: {
    /** The reply body, or the body with headers. */
    history: (query: URLSearchParams) => string | { body: string; headers?: Record<string, string>; status?: number };
    /** GET /api/inbox (wait's polling fallback). */
    inbox?: (query: URLSearchParams) => string;
    onUpgrade: (n: number, ws: WebSocket, query: URLSearchParams) => void;
    refuse?: (n: number) => { status: number; body: string } | null;
    upgradeHeaders?: string[];
  },
): Promise<Scripted> {
  const upgrades: Scripted['upgrades'] = [];
  const requests: string[] = [];
  const wss = new WebSocketServer({ noServer: true });
  if (opts.upgradeHeaders) wss.on('headers', (headers) => headers.push(...opts.upgradeHeaders!));
  const server = http.createServer((req, res) => {
    requests.push(req.url!);
    const u = new URL(req.url!, 'http://x');
    if (u.pathname === '/api/events/history') {
      const h = opts.history(u.searchParams);
      const reply = typeof h === 'string' ? { body: h, headers: {}, status: 200 } : h;
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers }).end(reply.body + '\n');
    } else if (u.pathname === '/api/inbox' && opts.inbox) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(opts.inbox(u.searchParams) + '\n');
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found","code":404}\n');
    }
  });
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url!, 'http://x');
    const n = upgrades.length;
    upgrades.push({ path: u.pathname, query: u.searchParams, auth: req.headers.authorization, instance: req.headers['x-koor-instance'] as string | undefined });
    const refusal = opts.refuse?.(n) ?? null;
    if (refusal) {
      socket.end(`HTTP/1.1 ${refusal.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(refusal.body)}\r\nConnection: close\r\n\r\n${refusal.body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => opts.onUpgrade(n, ws, u.searchParams));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, upgrades, requests };
}

t.test('resume after 4008 and after an abrupt drop; duplicates skipped; auth on every upgrade', async (t) => {
  const srv = await scriptedServer(t, {
    history: () => `[${ev(10)}]`,
    onUpgrade(n, ws) {
      if (n === 0) {
        ws.send(ev(11));
        ws.send(ev(12));
        ws.close(4008, 'slow consumer: last delivered id 12');
      } else if (n === 1) {
        ws.send(ev(12)); // overlap with what was already printed
        ws.send(ev(13));
        setTimeout(() => ws.terminate(), 50); // no close frame
      } else {
        ws.send(ev(14, 'api.other'));
        ws.send(ev(14, 'api.other'));
        ws.send(ev(15));
      }
    },
  });
  const sub = startCli(['events', 'subscribe', 'api.*'], { cwd: tempDir(t), env: { KOOR_SERVER: srv.url, KOOR_TOKEN: 'tok' }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.lines().length >= 5, 'five events');
  t.same(sub.lines(), [ev(11), ev(12), ev(13), ev(14, 'api.other'), ev(15)], 'each id once, frames printed as sent');
  t.same(srv.upgrades.map((u) => [u.query.get('pattern'), u.query.get('since')]), [
    ['api.*', '10'],
    ['api.*', '12'],
    ['api.*', '13'],
  ], 'first since = newest id before the start, then the last printed id');
  t.ok(srv.upgrades.every((u) => u.auth === 'Bearer tok'), 'Authorization on every upgrade');
  t.same(srv.requests, ['/api/events/history?last=1'], 'one history call for the starting point');
  const err = sub.stderr();
  t.match(err, /disconnected \(code 4008: slow consumer: last delivered id 12\); reconnecting in \d+ ms \(since=12\)/);
  t.match(err, /disconnected \(code 1006\); reconnecting in \d+ ms \(since=13\)/);
  t.equal((await sub.stop()).code, 0);
  t.equal(sub.lines().length, 5);
});

t.test('pruned history: X-Koor-Oldest-Event on the upgrade → a warning on stderr', async (t) => {
  const srv = await scriptedServer(t, {
    history: () => `[${ev(10)}]`,
    upgradeHeaders: ['X-Koor-Oldest-Event: 15'],
    onUpgrade: (_n, ws) => ws.send(ev(15)),
  });
  const sub = startCli(['events', 'subscribe'], { cwd: tempDir(t), env: { KOOR_SERVER: srv.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.lines().length === 1, 'one event');
  // stderr is its own pipe: wait for the warning rather than assume it was read before the event.
  await sub.until(() => /warning: events 11\.\.14 were pruned before they could be delivered/.test(sub.stderr()), 'the warning');
  t.equal((await sub.stop()).code, 0);
});

t.test('upgrade refused (404): falls back to polling history after the last id', async (t) => {
  let polls = 0;
  const srv = await scriptedServer(t, {
    history(q) {
      if (q.get('last') === '1') return `[${ev(3)}]`;
      polls++;
      // Newest first and overlapping on purpose: the CLI sorts and skips what it printed.
      if (q.get('since') === '3') return `[${ev(5)},${ev(4)}]`;
      if (q.get('since') === '5') return `[${ev(6)},${ev(5)}]`;
      return '[]';
    },
    refuse: () => ({ status: 404, body: '{"error":"not found","code":404}' }),
    onUpgrade: () => undefined,
  });
  const sub = startCli(['events', 'subscribe', 'build.*'], { cwd: tempDir(t), env: { KOOR_SERVER: srv.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.lines().length >= 3, 'three polled events');
  t.same(sub.lines(), [ev(4), ev(5), ev(6)]);
  t.match(sub.stderr(), /websocket upgrade refused \(HTTP 404\); falling back to polling history every 2 seconds\.\.\./);
  t.ok(polls >= 2);
  t.ok(srv.requests.includes('/api/events/history?since=3&topic=build.*'), `polls carry since and the pattern: ${srv.requests.join(' ')}`);
  t.equal(srv.upgrades.length, 1, 'no WebSocket retries once polling');
  t.equal((await sub.stop()).code, 0);
});

t.test('polling follows X-Koor-Next: a window of ids with no match still moves the cursor on', async (t) => {
  const srv = await scriptedServer(t, {
    history(q) {
      if (q.get('last') === '1') return `[${ev(3)}]`;
      // The server examined ids 4..5003 and found nothing matching: it names where to go on.
      if (q.get('since') === '3') return { body: '[]', headers: { 'X-Koor-Truncated': 'scan', 'X-Koor-Next': 'since=5003' } };
      if (q.get('since') === '5003') return `[${ev(5004)}]`;
      return '[]';
    },
    refuse: () => ({ status: 404, body: '{"error":"not found","code":404}' }),
    onUpgrade: () => undefined,
  });
  const sub = startCli(['events', 'subscribe', 'build.*'], { cwd: tempDir(t), env: { KOOR_SERVER: srv.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.lines().length >= 1, 'the event past the empty window');
  t.same(sub.lines(), [ev(5004)]);
  t.ok(srv.requests.includes('/api/events/history?since=5003&topic=build.*'), `the next poll starts where the window ended: ${srv.requests.join(' ')}`);
  t.equal((await sub.stop()).code, 0);
});

t.test('polling whose first window matched nothing goes on from the newest event, never from 0', async (t) => {
  let probes = 0;
  const srv = await scriptedServer(t, {
    history(q) {
      // The start's probe fails (the server was busy); the first poll's window holds no match.
      if (q.get('last') === '1') return ++probes === 1 ? { status: 500, body: '{"error":"busy","code":500}' } : `[${ev(90)}]`;
      if (q.get('last') === '10') return { body: '[]', headers: { 'X-Koor-Truncated': 'scan', 'X-Koor-Next': 'before=40' } };
      if (q.get('since') === '90') return `[${ev(91)}]`;
      if (q.get('since') === '0') return `[${ev(1)},${ev(2)}]`;
      return '[]';
    },
    refuse: () => ({ status: 404, body: '{"error":"not found","code":404}' }),
    onUpgrade: () => undefined,
  });
  const sub = startCli(['events', 'subscribe', 'rare.*'], { cwd: tempDir(t), env: { KOOR_SERVER: srv.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.lines().length >= 1, 'the new event');
  t.same(sub.lines(), [ev(91)], 'no old match replayed');
  t.notOk(srv.requests.some((r) => r.includes('since=0')), `never since=0: ${srv.requests.join(' ')}`);
  t.equal((await sub.stop()).code, 0);
});

t.test('a 5xx on the upgrade is retried, not a reason to poll', async (t) => {
  const srv = await scriptedServer(t, {
    history: () => '[]',
    refuse: (n) => (n < 2 ? { status: 503, body: '{"error":"busy","code":503}' } : null),
    onUpgrade: (_n, ws) => ws.send(ev(1)),
  });
  const sub = startCli(['events', 'subscribe'], { cwd: tempDir(t), env: { KOOR_SERVER: srv.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.lines().length === 1, 'an event after two refusals');
  t.equal(srv.upgrades.length, 3);
  t.same(srv.upgrades.map((u) => u.query.get('since')), ['0', '0', '0'], 'an empty history starts from 0');
  t.equal((sub.stderr().match(/upgrade failed \(HTTP 503\); reconnecting in/g) ?? []).length, 2);
  t.equal((await sub.stop()).code, 0);
});

/** One unread inbox item as the server sends it (frame or GET /api/inbox element). */
const item = (id: number, body: string) =>
  JSON.stringify({ id, from: 'i-ann', from_name: 'ann', to: ['ben'], recipients: ['i-ben'], subject: '', body, importance: 'normal', ack_required: false, reply_to: null, thread_id: id, created_at: new Date().toISOString(), read_at: '', acked_at: '' });
const waitEnv = (url: string) => ({ KOOR_SERVER: url, KOOR_INSTANCE: 'i-ben', KOOR_TOKEN: 'tok' });

t.test('wait: a 5xx upgrade and a 4008 close are retried (said once per outage), every upgrade resuming from the cursor', async (t) => {
  const srv = await scriptedServer(t, {
    history: () => '[]',
    refuse: (n) => (n < 2 ? { status: 503, body: '{"error":"busy","code":503}' } : null),
    onUpgrade(n, ws) {
      if (n === 2) ws.close(4008, 'slow consumer');
      else ws.send(item(7, 'after the outage'));
    },
  });
  const w = startCli(['wait', '--for', 'messages', '--timeout', '20s'], { cwd: tempDir(t), env: waitEnv(srv.url), teardown: t.teardown.bind(t) });
  t.same(await exitWithin(w, 15_000), { code: 0, signal: null }, 'the item after the outage ends the wait');
  t.match(w.lines()[0], /^message #7 ann \(\ds ago\)$/);
  t.same(srv.upgrades.map((u) => [u.path, u.query.get('since'), u.query.get('unread')]), Array(4).fill(['/api/inbox/subscribe', '0', '1']), 'two refusals, the 4008 close, then the stream again');
  t.ok(srv.upgrades.every((u) => u.auth === 'Bearer tok' && u.instance === 'i-ben'), 'the token and the identity on every upgrade');
  t.equal(w.stderr(), 'koor: inbox: upgrade failed (HTTP 503); retrying\nkoor: inbox: disconnected (code 4008: slow consumer); retrying\n', 'one line per outage, not per retry');
});

t.test('wait: a refused upgrade (404) falls back to polling the inbox from the cursor; a refused token is fatal', async (t) => {
  let polls = 0;
  const srv = await scriptedServer(t, {
    history: () => '[]',
    inbox(q) {
      t.same([q.get('unread'), q.get('since')], ['1', '0'], 'unread items after the cursor');
      return ++polls < 2 ? '[]' : `[${item(9, 'polled')}]`;
    },
    refuse: () => ({ status: 404, body: '{"error":"not found","code":404}' }),
    onUpgrade: () => undefined,
  });
  const w = startCli(['wait', '--for', 'messages', '--timeout', '20s'], { cwd: tempDir(t), env: waitEnv(srv.url), teardown: t.teardown.bind(t) });
  t.same(await exitWithin(w, 15_000), { code: 0, signal: null });
  t.same(w.lines(), [w.lines()[0], '  polled', 'read it: koor-cli inbox']);
  t.match(w.lines()[0], /^message #9 ann \(\ds ago\)$/);
  t.equal(polls, 2, 'found on the second round, 2 s after the first');
  t.equal(srv.upgrades.length, 1, 'no WebSocket retries once polling');

  const denied = await scriptedServer(t, { history: () => '[]', refuse: () => ({ status: 401, body: '{"error":"invalid token","code":401}' }), onUpgrade: () => undefined });
  const d = startCli(['wait', '--for', 'messages', '--timeout', '20s'], { cwd: tempDir(t), env: waitEnv(denied.url), teardown: t.teardown.bind(t) });
  t.same(await exitWithin(d, 15_000), { code: 1, signal: null });
  t.same(d.lines(), ['{"error":"invalid token","code":401}'], "the server's reply on stdout");
  t.equal(d.stderr(), 'error: the inbox stream was refused (HTTP 401)\n');
  t.equal(denied.upgrades.length, 1, 'not retried');
});
