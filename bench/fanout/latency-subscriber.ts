/**
 * A subscriber process of bench/suites/inbox.ts:  node dist/bench/fanout/latency-subscriber.js
 *
 * Holds WebSocket streams (the `ws` package, with per-socket headers: an agent identity for
 * /api/inbox/subscribe) and records when each frame arrives: its leading `{"id":N` and the
 * monotonic clock (process.hrtime, CLOCK_MONOTONIC: the same clock in every process of the
 * machine, so the bench process can subtract its own send times). Controlled over a loopback HTTP
 * port; logs `{"api":"127.0.0.1:<port>"}` on stderr once listening (what bench/lib/processes.ts's spawnNode
 * waits for).
 *
 *   POST /open   {url, label, headers: [{…}, …]}  one stream per header set → {opened, failed, errors}
 *   GET  /take                                    arrivals since the last take, by label:
 *                                                 {label: {ids: [..], us: [..]}} (µs, monotonic)
 *   POST /close                                   closes every stream
 */
import http from 'node:http';
import type net from 'node:net';
import WebSocket from 'ws';

interface Arrivals {
  ids: number[];
  us: number[];
}

const sockets: WebSocket[] = [];
let arrivals = new Map<string, Arrivals>();
let closedEarly = 0;

/** `{"id":123,…` → 123 (0 when the frame does not start so). */
function leadingId(b: Buffer): number {
  if (b.length < 7 || b[0] !== 0x7b || b[1] !== 0x22 || b[2] !== 0x69 || b[3] !== 0x64 || b[4] !== 0x22 || b[5] !== 0x3a) return 0;
  let id = 0;
  for (let i = 6; i < b.length; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x39) break;
    id = id * 10 + (c - 0x30);
  }
  return id;
}

function openOne(url: string, label: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1' || u.protocol !== 'ws:') return Promise.reject(new Error('loopback ws:// URLs only'));
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    ws.on('message', (data: Buffer) => {
      const t = Number(process.hrtime.bigint() / 1000n);
      // The list of this take (a take swaps the map: look it up again).
      let a = arrivals.get(label);
      if (!a) arrivals.set(label, (a = { ids: [], us: [] }));
      a.ids.push(leadingId(data));
      a.us.push(t);
    });
    ws.once('open', () => {
      sockets.push(ws);
      resolve();
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    ws.on('error', (err) => reject(err));
    ws.on('close', () => {
      if (sockets.includes(ws)) closedEarly++;
    });
  });
}

async function open(req: { url: string; label: string; headers: Array<Record<string, string>>; timeoutMs?: number }) {
  const t0 = Date.now();
  const errors: string[] = [];
  let opened = 0;
  let failed = 0;
  const all = req.headers.slice(0, 2000);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(20, all.length) }, async () => {
      while (next < all.length) {
        const h = all[next++]!;
        try {
          await openOne(req.url, req.label, h, req.timeoutMs ?? 10_000);
          opened++;
        } catch (e) {
          failed++;
          if (errors.length < 5) errors.push((e as Error).message);
        }
      }
    }),
  );
  return { opened, failed, errors, ms: Date.now() - t0 };
}

function take(): { closed_early: number; arrivals: Record<string, Arrivals> } {
  const out = Object.fromEntries(arrivals);
  arrivals = new Map();
  return { closed_early: closedEarly, arrivals: out };
}

async function closeAll(): Promise<number> {
  const all = sockets.splice(0);
  for (const ws of all) ws.close(1000);
  const t0 = Date.now();
  while (Date.now() - t0 < 2000 && all.some((ws) => ws.readyState !== WebSocket.CLOSED)) await new Promise((r) => setTimeout(r, 20));
  for (const ws of all) ws.terminate();
  return all.length;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      s += d;
      if (s.length > 4e6) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

const server = http.createServer((req, res) => {
  const reply = (status: number, v: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(v));
  };
  (async () => {
    const body = await readBody(req);
    const route = `${req.method} ${req.url}`;
    if (route === 'POST /open') return reply(200, await open(JSON.parse(body) as Parameters<typeof open>[0]));
    if (route === 'GET /take') return reply(200, take());
    if (route === 'POST /close') return reply(200, { closed: await closeAll() });
    reply(404, { error: 'not found' });
  })().catch((e: unknown) => reply(500, { error: (e as Error).message }));
});

server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.stderr.write(`${JSON.stringify({ msg: 'latency subscriber ready', api: `127.0.0.1:${addr.port}`, pid: process.pid })}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  });
}
